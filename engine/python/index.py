"""An index from one input's value to the tiers that can match it.

Under `policy first` a decision tries the tiers in order until one matches:
at 10,000 tiers that is thousands of tests for an account that matches near
the end. Generated rulesets mostly cut one input into ranges (a band of
followers per platform and category), and a tier whose range excludes the
account's value cannot match it. So the bounds of every tier's range on that
input cut the number line into regions (each bound alone, and the open
stretches between them), and each region lists, in file order, the tiers
whose range covers it; a decision finds its region by binary search and
tries only those. Trying them in order gives exactly the first match: the
tiers left out could not have matched.

A tier's range is the hull of what the analysis reads from its condition
(`engine.analysis.analyze.tier_reaches`); a tier it cannot read, or that
leaves the input free, is listed in every region. The index is built only
where it pays: enough tiers, and few tiers listed per region.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from engine.analysis.analyze import tier_reaches
from engine.analysis.pairs import Reach
from engine.checker.model import CheckedRuleset
from engine.language.ast import TypeName

MIN_TIERS = 64  # below this, trying every tier is as fast
MAX_LISTED = 8  # tiers listed per region, on average, beyond which the index is not built
_NUMERIC = (TypeName.COUNT, TypeName.NUMBER, TypeName.PERCENT)


EXACT = 2.0**53  # below it, every whole number is a float and one apart from the next


@dataclass(frozen=True)
class RangeIndex:
    """Region of a value v: 2i+1 if v is bounds[i], else 2i where i = bisect(bounds, v)."""

    input: str
    bounds: tuple[float, ...]
    regions: tuple[tuple[int, ...], ...]  # positions among the tiers with a condition

    whole: bool = False  # the input is a count: every value is an int

    @cached_property
    def cuts(self) -> tuple[float, ...] | None:
        """Each bound and the value just above it: `bisect_right(cuts, v)` is v's region
        in one search (a value equal to a bound lies between the two). For a count,
        whole bounds and the next whole number, so that ints compare with ints (a
        comparison with a float costs twice as much); else each bound and the float
        just above it. None where that would misplace a value: a fractional bound of a
        count, or a bound at or past 2^53, where a whole number can fall between a
        bound and the float above it."""
        if self.whole:
            if not all(float(b).is_integer() for b in self.bounds):
                return None
            return tuple(c for b in self.bounds for c in (int(b), int(b) + 1))
        if not all(float(b) == b and abs(b) < EXACT for b in self.bounds):
            return None
        return tuple(c for b in self.bounds for c in (float(b), math.nextafter(b, math.inf)))


def range_index(checked: CheckedRuleset) -> RangeIndex | None:
    """The index of `checked`'s tiers, or None where it would not pay."""
    if checked.policy != "first":
        return None
    reaches = tier_reaches(checked)
    if len(reaches) < max(MIN_TIERS, 1):
        return None
    name = _best_input(checked, reaches)
    if name is None:
        return None
    hulls = [_hull(reach, name) for reach in reaches]
    bounds = sorted({b for h in hulls if h for b in (h[0], h[2]) if math.isfinite(b)})
    if not bounds:
        return None
    regions: list[list[int]] = [[] for _ in range(2 * len(bounds) + 1)]
    budget = MAX_LISTED * len(regions)
    for position, hull in enumerate(hulls):
        first, last = _covered(bounds, hull) if hull else (0, len(regions) - 1)
        budget -= max(0, last - first + 1)
        if budget < 0:
            return None
        for region in range(first, last + 1):
            regions[region].append(position)
    whole = checked.inputs[name].type is TypeName.COUNT
    return RangeIndex(name, tuple(bounds), tuple(tuple(r) for r in regions), whole)


def _best_input(checked: CheckedRuleset, reaches: Sequence[Reach | None]) -> str | None:
    """The numeric input that the most tiers bound by a range."""
    counts: dict[str, int] = {}
    for reach in reaches:
        for name, hull in (reach or {}).items():
            if isinstance(hull, tuple) and checked.inputs[name].type in _NUMERIC:
                counts[name] = counts.get(name, 0) + 1
    return max(counts, key=lambda n: counts[n]) if counts else None


def _hull(reach: Reach | None, name: str) -> tuple[float, bool, float, bool] | None:
    hull = (reach or {}).get(name)
    return hull if isinstance(hull, tuple) else None


def _covered(bounds: list[float], hull: tuple[float, bool, float, bool]) -> tuple[int, int]:
    """The first and last region inside the range `hull` (whose ends are bounds or infinite)."""
    lo, lo_closed, hi, hi_closed = hull
    if math.isinf(lo):
        first = 0
    else:
        i = bisect.bisect_left(bounds, lo)
        first = 2 * i + 1 if lo_closed else 2 * i + 2
    if math.isinf(hi):
        last = 2 * len(bounds)
    else:
        i = bisect.bisect_left(bounds, hi)
        last = 2 * i + 1 if hi_closed else 2 * i
    return first, last
