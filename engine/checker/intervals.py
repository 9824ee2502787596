"""Intervals on the real line, for band and rule analysis (gaps, overlaps, shadowing)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
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


class Units:
    """The real line cut at a set of points into units: each point, and each open
    stretch between two neighbours (and below the first, above the last). An interval
    whose finite ends are among the points is a run of consecutive units, and two such
    intervals share a value exactly when they share a unit: so questions about many
    intervals become questions about index ranges."""

    def __init__(self, points: Iterable[float]) -> None:
        self.points = sorted({p for p in points if math.isfinite(p)})
        self.count = 2 * len(self.points) + 1

    def run(self, interval: Interval) -> tuple[int, int] | None:
        """The first and last unit of an interval (its ends among the points), None if empty."""
        if math.isinf(interval.lo):
            first = 0
        else:
            k = bisect.bisect_left(self.points, interval.lo)
            first = 2 * k + 1 if interval.lo_closed else 2 * k + 2
        if math.isinf(interval.hi):
            last = self.count - 1
        else:
            k = bisect.bisect_left(self.points, interval.hi)
            last = 2 * k + 1 if interval.hi_closed else 2 * k
        return (first, last) if first <= last else None


def first_cover(units: Units, intervals: Sequence[Interval | None]) -> list[int]:
    """For each unit, the index of the first interval that covers it (`len(intervals)`
    for none). Each unit is painted once: a unit's pointer skips to the next one not
    yet painted, so the whole is near-linear however the intervals nest."""
    nobody = len(intervals)
    owner = [nobody] * units.count
    following = list(range(units.count + 1))  # next unpainted unit at or after each

    def unpainted(unit: int) -> int:
        while following[unit] != unit:
            following[unit] = following[following[unit]]
            unit = following[unit]
        return unit

    for index, interval in enumerate(intervals):
        run = None if interval is None else units.run(interval)
        if run is None:
            continue
        unit = unpainted(run[0])
        while unit <= run[1]:
            owner[unit] = index
            following[unit] = unit + 1
            unit = unpainted(unit + 1)
    return owner


class RangeQuery:
    """The least (or greatest) of a fixed list over any index range, in constant time
    after an n log n table (a sparse table)."""

    def __init__(self, values: list[int], pick: Callable[[int, int], int]) -> None:
        self.pick = pick
        self.levels = [values]
        width = 1
        while 2 * width <= len(values):
            below = self.levels[-1]
            self.levels.append([pick(a, b) for a, b in zip(below, below[width:], strict=False)])
            width *= 2

    def __call__(self, first: int, last: int) -> int:
        level = (last - first + 1).bit_length() - 1
        row = self.levels[level]
        return self.pick(row[first], row[last - (1 << level) + 1])


class Union:
    """A union of intervals kept as disjoint pieces sorted by position, so that taking
    an interval's part outside it, or adding one, costs the pieces it meets (which an
    addition merges into one) plus a binary search, not every piece."""

    def __init__(self, pieces: Iterable[Interval] = ()) -> None:
        self.pieces: list[Interval] = []
        for piece in pieces:
            self.add(piece)

    def _meeting(self, interval: Interval) -> tuple[int, int]:
        """The range of pieces that share a value with `interval`."""
        first = bisect.bisect_left(_Highs(self.pieces), interval.lo)
        while first < len(self.pieces) and self.pieces[first].intersect(interval).empty:
            piece = self.pieces[first]  # it only touches `interval`: on which side?
            if (piece.lo, not piece.lo_closed) > (interval.lo, not interval.lo_closed):
                return first, first
            first += 1
        last = first
        while last < len(self.pieces) and not self.pieces[last].intersect(interval).empty:
            last += 1
        return first, last

    def minus(self, interval: Interval) -> list[Interval]:
        """The parts of `interval` outside the union, left to right."""
        first, last = self._meeting(interval)
        out: list[Interval] = []
        rest = interval
        for cut in self.pieces[first:last]:
            left = rest.intersect(Interval(-INF, cut.lo, False, not cut.lo_closed))
            if not left.empty:
                out.append(left)
            rest = rest.intersect(Interval(cut.hi, INF, not cut.hi_closed, False))
        if not rest.empty:
            out.append(rest)
        return out

    def add(self, interval: Interval) -> None:
        if interval.empty:
            return
        first, last = self._meeting(interval)
        merged = [interval, *self.pieces[first:last]]
        low = min(merged, key=lambda p: (p.lo, not p.lo_closed))
        high = max(merged, key=lambda p: (p.hi, p.hi_closed))
        self.pieces[first:last] = [Interval(low.lo, high.hi, low.lo_closed, high.hi_closed)]


class _Highs:
    """The upper ends of sorted disjoint pieces, as a sequence `bisect` can search
    without copying them."""

    def __init__(self, pieces: list[Interval]) -> None:
        self.pieces = pieces

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, index: int) -> float:
        return self.pieces[index].hi
