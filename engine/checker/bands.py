"""A level's bands are tried top to bottom: find the ones that can never be chosen,
the ones that overlap, and the values that fall in no band."""

from __future__ import annotations

from typing import Literal as Lit

from engine.checker.intervals import (
    INF,
    Interval,
    RangeQuery,
    Units,
    covers,
    first_cover,
    uncovered,
)
from engine.checker.model import MAX_COUNT, Level
from engine.checker.types import ReportFn, show_value
from engine.language import ast, codes

T = ast.TypeName

# What a percent input accepts unless its declaration says otherwise (DESIGN, "Input
# units"): a fraction from 0 to 1, so that a value written in percent units (4.2 for
# 4.2%) or a count mapped to a percent input is refused, never silently a tier.
PERCENT_RANGE = Interval(0.0, 1.0, True, True)
PERCENT_RANGE_TEXT = "from 0% to 100%"


def domain_of(type_: T) -> Interval:
    """What a value of a type can be unless its input says otherwise: counts and
    percentages are never negative (`growth: percent at least -100%` allows it)."""
    if type_ is T.COUNT:
        return Interval(0, MAX_COUNT, True, True)
    if type_ is T.PERCENT:
        return Interval(0, INF, True, False)
    return Interval(-INF, INF, False, False)


def band_interval(op: str, low: float | None, high: float | None) -> Interval | None:
    if op and low is None:
        return None
    return Interval.for_op(op, low or 0.0, high)


def fixed_by_range(
    op: str, low: float, high: float | None, allowed: Interval
) -> Lit["never", "always"] | None:
    """Whether `x op low` (`x between low and high`) is the same for every value an
    input allows, because a bound lies outside them: `engagement_rate at least 150%`
    on a percent that allows 0% to 100% is never true, a sign of a unit mistake."""
    bounds = [low] if high is None else [low, high]
    if all(allowed.lo <= b <= allowed.hi for b in bounds):
        return None  # `above 100%` at the edge is the analysis's (unreachable-rule)
    holds = Interval.for_op(op, low, high)
    if holds is None:  # `!=`: true for every allowed value but the bound
        return "always" if not allowed.contains(low) else None
    if holds.intersect(allowed).empty:
        return "never"
    if covers([holds], allowed):
        return "always"
    return None


def check_bands(
    level: Level,
    source_type: T,
    domain: Interval,
    report: ReportFn,
    domain_text: str = "",
    range_hint: str | None = None,
) -> None:
    """Each band against the bands above it, in n log n: which units of the line
    (`Units`) each band is the first to cover, for all bands and for those with an
    upper end; a band is unreachable when every unit of it in the domain has an earlier
    first cover, and overlaps the earliest band above that covers one of its units.
    (Comparing each band with every band above took 19 s for 5,000 bands.)
    `domain_text`, when the source is an input with a range: that range as its
    messages say it ("from 0% to 100%"), for a band wholly outside it."""
    intervals = [band_interval(b.op, b.low, b.high) for b in level.bands]
    ends = [x for i in (*intervals, domain) if i is not None for x in (i.lo, i.hi)]
    units = Units(ends)
    nobody = len(intervals)
    taken = RangeQuery(first_cover(units, intervals), max)
    bounded = [i if i is not None and i.hi != INF else None for i in intervals]
    shared = RangeQuery(first_cover(units, bounded), min)
    for index, band in enumerate(level.bands):
        interval = intervals[index]
        if interval is None:
            continue
        if domain_text and band.op and interval.intersect(domain).empty:
            report(
                codes.OUT_OF_RANGE.at(
                    band.span,
                    "band",
                    hint=range_hint,
                    band=band.name,
                    source=level.source,
                    allowed=domain_text,
                )
            )
            continue
        if band.op == "" and index != len(level.bands) - 1:
            report(codes.OTHERWISE_NOT_LAST.at(band.span, band=band.name))
        run = units.run(interval)
        reachable = units.run(interval.intersect(domain))
        if band.op == "between" and interval.empty:
            report(codes.EMPTY_RANGE.at(band.span, "band", band=band.name))
        elif reachable is None or taken(*reachable) < index:
            report(codes.UNREACHABLE_BAND.at(band.span, band=band.name))
        elif band.op == "between" and run is not None and (first := shared(*run)) < index:
            other = intervals[first]
            assert other is not None and first != nobody
            both = other.intersect(interval)
            report(
                codes.OVERLAPPING_BANDS.at(
                    band.span,
                    first=level.bands[first].name,
                    band=band.name,
                    low=show_value(both.lo, source_type),
                    high=show_value(both.hi, source_type),
                )
            )
    gap = uncovered(domain, [i for i in intervals if i is not None])
    if gap is not None:
        report(
            codes.LEVEL_GAP.at(
                level.span,
                level=level.name,
                source=level.source,
                value=show_value(gap.witness(), source_type),
            )
        )
