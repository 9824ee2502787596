"""Intervals on the real line, for band and rule analysis (gaps, overlaps, shadowing)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True, slots=True)
class Interval:
    lo: float
    hi: float
    lo_closed: bool = True
    hi_closed: bool = True

    @staticmethod
    def for_op(op: str, a: float, b: float | None = None) -> Interval | None:
        """The values `x` with `x op a` (or `between a and b`); None for `!=`."""
        match op:
            case ">=":
                return Interval(a, INF, True, False)
            case ">":
                return Interval(a, INF, False, False)
            case "<=":
                return Interval(-INF, a, False, True)
            case "<":
                return Interval(-INF, a, False, False)
            case "==":
                return Interval(a, a)
            case "between":
                assert b is not None
                return Interval(a, b)
            case "":
                return Interval(-INF, INF, False, False)
        return None

    @property
    def empty(self) -> bool:
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))

    def contains(self, x: float) -> bool:
        above = x > self.lo or (self.lo_closed and x == self.lo)
        below = x < self.hi or (self.hi_closed and x == self.hi)
        return above and below

    def intersect(self, other: Interval) -> Interval:
        if self.lo > other.lo or (self.lo == other.lo and not self.lo_closed):
            lo, lo_closed = self.lo, self.lo_closed
        else:
            lo, lo_closed = other.lo, other.lo_closed
        if self.hi < other.hi or (self.hi == other.hi and not self.hi_closed):
            hi, hi_closed = self.hi, self.hi_closed
        else:
            hi, hi_closed = other.hi, other.hi_closed
        return Interval(lo, hi, lo_closed, hi_closed)

    def witness(self) -> float:
        """Some value inside a non-empty interval, preferring zero and round ones."""
        if self.contains(0.0):
            return 0.0
        if self.lo_closed and math.isfinite(self.lo):
            return self.lo
        if self.hi_closed and math.isfinite(self.hi):
            return self.hi
        if math.isfinite(self.lo) and math.isfinite(self.hi):
            return (self.lo + self.hi) / 2
        if math.isfinite(self.lo):
            return self.lo + 1
        if math.isfinite(self.hi):
            return self.hi - 1
        return 0.0


def uncovered(domain: Interval, parts: Iterable[Interval]) -> Interval | None:
    """The first stretch of `domain` that no part covers, or None if covered."""
    pieces = sorted((p.intersect(domain) for p in parts), key=lambda p: (p.lo, not p.lo_closed))
    cursor, cursor_closed = domain.lo, domain.lo_closed  # first value not yet covered
    for piece in pieces:
        if piece.empty:
            continue
        gap = Interval(cursor, piece.lo, cursor_closed, not piece.lo_closed)
        if not gap.empty:
            return gap
        if piece.hi > cursor or (piece.hi == cursor and piece.hi_closed and cursor_closed):
            cursor, cursor_closed = piece.hi, not piece.hi_closed
    rest = Interval(cursor, domain.hi, cursor_closed, domain.hi_closed)
    return None if rest.empty else rest


def covers(parts: Iterable[Interval], target: Interval) -> bool:
    return target.empty or uncovered(target, parts) is None
