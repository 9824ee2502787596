"""Which rules can share an account, found without trying every pair.

The analysis compares rules two at a time: under `policy unique` every pair
that can match one account is an error, and under `policy first` a rule is
dead when one rule above takes all of its accounts, which needs them to share
one. Trying all pairs is quadratic (10,000 tiers are 50 million pairs), while
generated rulesets, one tier per platform, category and band, share an account
with only a handful of others.

So the rules are split into groups, one input at a time: by the text values a
rule allows (a rule with `platform == "tiktok"` goes with the other tiktok
rules), by true/false for flags, and by runs of overlapping ranges for
numbers (sorted by their lower bounds, a new run starts where no earlier range
reaches). A rule that does not constrain the input joins every group of that
split, unless that would copy more rules than the split saves. Two rules that
can share an account always end in a common group, so comparing the rules of
each group gives exactly the pairs the full comparison would find.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

# A rule's reach on one input: (lo, lo_closed, hi, hi_closed) for a number, the
# values allowed for a text or flag. An input missing from a rule's reach is
# one the rule leaves free.
Hull: TypeAlias = tuple[float, bool, float, bool]
Reach: TypeAlias = dict[str, Hull | frozenset[object]]

# Groups this small are compared pair by pair: splitting them saves nothing.
_SMALL = 8


@dataclass
class PairIndex:
    """For each rule, the rules before it that may share an account with it."""

    groups: list[list[int]]
    member_of: dict[int, list[int]]

    def earlier(self, later: int) -> Iterator[int]:
        """Indexes below `later` in a group with it, in ascending order."""
        groups = self.member_of.get(later, [])
        if len(groups) == 1:
            members = self.groups[groups[0]]
            yield from members[: bisect.bisect_left(members, later)]
            return
        seen: set[int] = set()
        for g in groups:
            members = self.groups[g]
            seen.update(members[: bisect.bisect_left(members, later)])
        yield from sorted(seen)


def pair_index(reaches: Sequence[Reach | None]) -> PairIndex:
    """Group the rules whose reach is known (None: not analysed, left out)."""
    everyone = [i for i, reach in enumerate(reaches) if reach is not None]
    known = {i: reach for i, reach in enumerate(reaches) if reach is not None}
    inputs = sorted({name for reach in known.values() for name in reach})
    groups = [everyone] if everyone else []
    for name in inputs:
        split: list[list[int]] = []
        for group in groups:
            split.extend(_split(group, name, known) if len(group) > _SMALL else [group])
        groups = split
    member_of: dict[int, list[int]] = {}
    for g, members in enumerate(groups):
        for i in members:
            member_of.setdefault(i, []).append(g)
    return PairIndex(groups, member_of)


def _split(group: list[int], name: str, known: dict[int, Reach]) -> list[list[int]]:
    bound = [i for i in group if name in known[i]]
    free = [i for i in group if name not in known[i]]
    if not bound:
        return [group]
    first = known[bound[0]][name]
    parts = _runs(bound, name, known) if isinstance(first, tuple) else _buckets(bound, name, known)
    if len(parts) <= 1 or len(free) * len(parts) > len(group):
        return [group]
    return [sorted(part + free) for part in parts]


def _buckets(bound: list[int], name: str, known: dict[int, Reach]) -> list[list[int]]:
    by_value: dict[object, list[int]] = {}
    for i in bound:
        values = known[i][name]
        assert isinstance(values, frozenset)
        for value in values:
            by_value.setdefault(value, []).append(i)
    return list(by_value.values())


def _runs(bound: list[int], name: str, known: dict[int, Reach]) -> list[list[int]]:
    hulls: list[tuple[Hull, int]] = []
    for i in bound:
        hull = known[i][name]
        assert isinstance(hull, tuple)
        hulls.append((hull, i))
    hulls.sort(key=lambda h: (h[0][0], not h[0][1]))
    runs: list[list[int]] = []
    reach_hi, reach_closed = -math.inf, False
    for (lo, lo_closed, hi, hi_closed), i in hulls:
        apart = lo > reach_hi or (lo == reach_hi and not (lo_closed and reach_closed))
        if not runs or apart:
            runs.append([])
            reach_hi, reach_closed = hi, hi_closed
        elif hi > reach_hi or (hi == reach_hi and hi_closed):
            reach_hi, reach_closed = hi, hi_closed
        runs[-1].append(i)
    return runs
