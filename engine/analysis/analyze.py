"""Rule analysis with witnesses: tiers that overlap under `policy unique`, and
tiers that can never match under `policy first` because a rule above already
takes every account they would.

Conditions are read as boxes: a conjunction of tests that each bound one
input (numbers by intervals, texts by sets, flags by a value); `or` gives
several boxes. A rule with anything else (sets, arithmetic, lets) is not
analysed statically; `policy unique` still refuses an overlap at run time.
Rules are compared only with those the pair index (`pairs.py`) groups with
them, which finds the same pairs as comparing all of them, in linear time for
the rulesets teams generate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from engine.analysis.memo import AnalysisMemo, Recall, remembered
from engine.analysis.pairs import Reach, pair_index
from engine.analysis.prove import Prover, Replay, prove
from engine.checker.bands import band_interval, domain_of
from engine.checker.intervals import Interval, Union
from engine.checker.model import CheckedRuleset, Level, Rule
from engine.checker.types import show_value
from engine.language import ast, codes
from engine.language.diagnostics import MAX_PER_CODE, Diagnostic

T = ast.TypeName
MAX_BOXES = 64


@dataclass(frozen=True)
class TextSet:
    """Allowed texts: `values`, or everything except `values` when `exclude`."""

    values: frozenset[str]
    exclude: bool

    def meet(self, other: TextSet) -> TextSet:
        if self.exclude and other.exclude:
            return TextSet(self.values | other.values, True)
        if self.exclude:
            return TextSet(other.values - self.values, False)
        if other.exclude:
            return TextSet(self.values - other.values, False)
        return TextSet(self.values & other.values, False)

    @property
    def empty(self) -> bool:
        return not self.exclude and not self.values

    def within(self, other: TextSet) -> bool:
        if other.exclude:
            return (not self.exclude and not (self.values & other.values)) or (
                self.exclude and other.values <= self.values
            )
        return not self.exclude and self.values <= other.values


Constraint = tuple[Interval, ...] | TextSet | bool  # a union of intervals, a text set, a flag
Box = dict[str, Constraint]


def analyze(
    checked: CheckedRuleset,
    replay: Replay | None = None,
    budget_ms: int = 1_000,
    memo: AnalysisMemo | None = None,
    generation: int | None = None,
) -> list[Diagnostic]:
    """The findings of the intervals, and with `replay` (which confirms witnesses in the
    evaluator) those of the solver for what the intervals cannot read. `memo` keeps the
    results of the steps for the next version of the same file (memo.py): the findings
    are the same with it or without it; `generation` is the memo's when the checked
    text was parsed (memo.py: what keeps an overtaken run from keeping anything)."""
    recall = Recall(memo, checked, budget_ms, generation) if memo is not None else None
    found = _analyze(checked, replay, budget_ms, recall)
    if recall is not None:
        recall.commit()
    return found


def _analyze(
    checked: CheckedRuleset, replay: Replay | None, budget_ms: int, recall: Recall | None
) -> list[Diagnostic]:
    rules = [r for r in checked.tiers if r.when is not None]
    boxes = [_boxes(rule, checked, recall) for rule in rules]
    paired = _interval_findings(checked, rules, boxes, recall)
    if replay is None:
        return [d for d, _ in paired]
    prover = Prover(
        checked, replay, budget_ms, lambda parts: _boxes_hold(parts, checked), recall=recall
    )
    spans = {d.span for d, _ in paired}
    reported = {i for i, r in enumerate(rules) if r.span in spans}
    found: list[Diagnostic] = []
    asked = 0  # a witness for the overlaps `bounded` will list (the first, by position)
    for finding, pair in paired:
        if pair is not None and asked < MAX_PER_CODE:
            finding = _witnessed(prover, finding, pair, recall)
            asked += 1
        found.append(finding)
    boxable = [b is not None for b in boxes]
    return found + prove(prover, boxable, reported, lambda: approximate_reaches(checked, recall))


def _boxes_hold(parts: tuple[ast.Expr, ...], checked: CheckedRuleset) -> bool | None:
    """Whether the boxes of `and`-joined tests hold an account; None: not boxes."""
    try:
        boxes = [b for b in _expr_boxes(ast.AllOf(parts), checked) if not _empty(b, checked)]
    except _NotBoxable:
        return None
    return bool(boxes)


def _witnessed(
    p: Prover, finding: Diagnostic, pair: tuple[Rule, Rule] | None, recall: Recall | None
) -> Diagnostic:
    """An interval finding of an overlap, with the solver's account (confirmed). Only
    the first MAX_PER_CODE findings are asked for one: the rest are listed as a count."""
    if pair is None:
        return finding
    earlier, later = pair

    def ask() -> tuple[str, dict[str, Any] | None]:
        keys = [("tier", earlier.name), ("tier", later.name)]
        both = [p.enc.condition(earlier), p.enc.condition(later)]
        return p.witness(both, lambda held: all(held[k] for k in keys))

    status, account = p.remember(
        lambda r: ("witness", r.context, r.rule(earlier), r.rule(later)), ask
    )
    return replace(finding, witness=account) if status == "sat" else finding


def _interval_findings(
    checked: CheckedRuleset,
    rules: list[Rule],
    boxes: list[list[Box] | None],
    recall: Recall | None = None,
) -> list[tuple[Diagnostic, tuple[Rule, Rule] | None]]:
    """Each finding, with the two tiers of an overlap (None for other findings). A tier
    is reported once, with the first tier above it that it overlaps: every pair of 400
    overlapping tiers was 79,800 errors, and finding each pair is quadratic."""
    reaches: list[Reach | None] = []
    for rule, rule_boxes in zip(rules, boxes, strict=True):
        if not rule_boxes:
            reaches.append(None)
        elif recall is None:
            reaches.append(_reach(rule_boxes))
        else:
            key = ("reach", recall.condition(rule))
            reaches.append(recall.remember(key, partial(_reach, rule_boxes)))
    index = pair_index(reaches)
    found: list[tuple[Diagnostic, tuple[Rule, Rule] | None]] = []
    for later_index, later in enumerate(rules):
        mine = boxes[later_index]
        if mine is None:
            continue
        if not mine:
            found.append(
                (
                    codes.UNREACHABLE_RULE.at(later.span, "no-account", tier=later.name),
                    None,
                )
            )
            continue
        for earlier_index in index.earlier(later_index):
            earlier, theirs = rules[earlier_index], boxes[earlier_index]
            assert theirs  # the index holds only rules with boxes
            pair = (recall.condition(earlier), recall.condition(later)) if recall else ()
            if checked.policy == "unique":
                witness = remembered(
                    recall,
                    ("overlap", *pair),
                    partial(_overlap, theirs, mine, checked),
                )
                if witness is not None:
                    found.append((_overlap_error(earlier, later, witness), (earlier, later)))
                    break
            elif remembered(
                recall,
                ("contains", *pair),
                partial(_taken, theirs, mine, checked),
            ):
                found.append(
                    (
                        codes.UNREACHABLE_RULE.at(
                            later.span,
                            "taken",
                            tier=later.name,
                            earlier=earlier.name,
                            line=earlier.line,
                        ),
                        None,
                    )
                )
                break
    return found


def _taken(theirs: list[Box], mine: list[Box], checked: CheckedRuleset) -> bool:
    """Every box of the later rule is inside one box of the earlier."""
    return all(any(_contains(t, m, checked) for t in theirs) for m in mine)


def _reach(boxes: list[Box]) -> Reach:
    """What a rule allows on each input that all its boxes bound, for the pair index:
    the hull of its ranges, the texts or flag values it accepts."""
    reach: Reach = {}
    for name in set.intersection(*(set(box) for box in boxes)):
        constraints = [box[name] for box in boxes]
        flags = [c for c in constraints if isinstance(c, bool)]
        texts = [c for c in constraints if isinstance(c, TextSet) and not c.exclude]
        ranges = [i for c in constraints if isinstance(c, tuple) for i in c if not i.empty]
        if len(flags) == len(constraints):
            reach[name] = frozenset(flags)
        elif len(texts) == len(constraints):
            reach[name] = frozenset(v for t in texts for v in t.values)
        elif ranges and all(isinstance(c, tuple) for c in constraints):
            low = min(ranges, key=lambda i: (i.lo, not i.lo_closed))
            high = max(ranges, key=lambda i: (i.hi, i.hi_closed))
            reach[name] = (low.lo, low.lo_closed, high.hi, high.hi_closed)
    return reach


def _overlap_error(earlier: Rule, later: Rule, witness: dict[str, str]) -> Diagnostic:
    example = ", ".join(f"{k} {v}" for k, v in witness.items()) or "any account"
    return codes.OVERLAPPING_TIERS.at(
        later.span,
        hint=codes.OVERLAPPING_TIERS.hint("ranges"),
        earlier=earlier.name,
        line=earlier.line,
        later=later.name,
        example=f": for example {example}",
    )


# -------------------------------------------------------------------- boxes


def tier_reaches(checked: CheckedRuleset) -> list[Reach | None]:
    """For each tier with a condition, in file order, what it allows of each input it
    bounds (None: a condition the boxes cannot read, or one no account satisfies)."""
    reaches: list[Reach | None] = []
    for rule in checked.tiers:
        if rule.when is not None:
            boxes = _boxes(rule, checked)
            reaches.append(_reach(boxes) if boxes else None)
    return reaches


def boxable(rule: Rule, checked: CheckedRuleset) -> bool:
    """Whether the analysis can read this rule's condition."""
    return rule.when is not None and _boxes(rule, checked) is not None


def _boxes(rule: Rule, checked: CheckedRuleset, recall: Recall | None = None) -> list[Box] | None:
    """The boxes of a rule's condition (None: not boxes, or too many). Callers never
    change a box they are given (`_meet` copies), so the memo may hand out one list."""
    if recall is not None:
        return recall.remember(("boxes", recall.condition(rule)), lambda: _boxes(rule, checked))
    assert rule.when is not None
    try:
        boxes = [box for box in _expr_boxes(rule.when, checked) if not _empty(box, checked)]
    except _NotBoxable:
        return None
    return boxes if len(boxes) <= MAX_BOXES else None


def approximate_reaches(checked: CheckedRuleset, recall: Recall | None = None) -> list[Reach]:
    """For each tier with a condition, in file order, a reach that holds every account
    it matches: the boxes of its condition with each test they cannot read taken as
    true. Two tiers whose approximate reaches meet in no group of the pair index
    share no account, so the solver need not be asked about them."""
    out: list[Reach] = []
    for rule in checked.tiers:
        if rule.when is None:
            continue
        if recall is not None:
            key = ("approximate", recall.condition(rule))
            out.append(recall.remember(key, partial(_approximate_reach, rule, checked)))
        else:
            out.append(_approximate_reach(rule, checked))
    return out


def _approximate_reach(rule: Rule, checked: CheckedRuleset) -> Reach:
    assert rule.when is not None
    try:
        boxes = [b for b in _expr_boxes(rule.when, checked, approximate=True)
                 if not _empty(b, checked)]  # fmt: skip
    except _NotBoxable:
        boxes = [{}]
    return _reach(boxes) if 0 < len(boxes) <= MAX_BOXES else {}


class _NotBoxable(Exception):
    pass


def _expr_boxes(
    expr: ast.Expr, checked: CheckedRuleset, approximate: bool = False
) -> Iterator[Box]:
    """The boxes of a condition; `approximate`: a test they cannot read is taken as
    true, so the boxes hold every account the condition does (and maybe more)."""
    match expr:
        case ast.AnyOf(parts=parts):
            for part in parts:
                yield from _expr_boxes(part, checked, approximate)
        case ast.AllOf(parts=parts):
            combined: list[Box] = [{}]
            for part in parts:
                combined = [
                    _meet(a, b, checked)
                    for a in combined
                    for b in _expr_boxes(part, checked, approximate)
                ]
                combined = [box for box in combined if not _empty(box, checked)]
                if len(combined) > MAX_BOXES:
                    raise _NotBoxable
            yield from combined
        case _:
            try:
                name, constraint = _leaf(expr, checked)
            except _NotBoxable:
                if not approximate:
                    raise
                yield {}
                return
            yield {name: constraint}


def _leaf(expr: ast.Expr, checked: CheckedRuleset) -> tuple[str, Constraint]:
    inputs = checked.inputs
    match expr:
        case ast.Compare(value=ast.Name(name=name), op=op, bound=ast.Number(value=v)) if (
            name in inputs
        ):
            interval = Interval.for_op(op, v)
            if interval is None:  # != : two intervals
                below, above = (
                    Interval(-math.inf, v, False, False),
                    Interval(v, math.inf, False, False),
                )
                return name, (below, above)
            return name, (interval,)
        case ast.Between(
            value=ast.Name(name=name), low=ast.Number(value=lo), high=ast.Number(value=hi)
        ) if name in inputs:
            return name, (Interval(lo, hi),)
        case ast.LevelIs(value=ast.Name(name=name), band=band, negated=negated):
            level = checked.levels[name]
            if level.source not in inputs:
                raise _NotBoxable
            return level.source, _band_region(level, band.name, negated)
        case ast.Not(part=ast.LevelIs(value=ast.Name(name=name), band=band, negated=negated)):
            level = checked.levels[name]
            if level.source not in inputs:
                raise _NotBoxable
            return level.source, _band_region(level, band.name, not negated)
        case ast.InSet(value=ast.Name(name=name), items=items, negated=negated) if name in inputs:
            return name, TextSet(items.values, negated)
        case ast.TextIs(value=ast.Name(name=name), text=text, negated=negated) if name in inputs:
            return name, TextSet(frozenset([text.value]), negated)
        case ast.Compare(value=ast.Name(name=name), op=op, bound=ast.Text(value=text)) if (
            name in inputs
        ):
            return name, TextSet(frozenset([text]), op == "!=")
        case ast.Name(name=name) if name in inputs and inputs[name].type is T.FLAG:
            return name, True
        case ast.Not(part=ast.Name(name=name)) if name in inputs and inputs[name].type is T.FLAG:
            return name, False
    raise _NotBoxable


def _band_region(level: Level, band: str, negated: bool) -> tuple[Interval, ...]:
    """The values of the source that land in `band` (first band wins), or outside it."""
    regions = _band_regions(level)
    region = next((r for b, r in zip(level.bands, regions, strict=True) if b.name == band), ())
    if region is None:
        raise _NotBoxable
    if not negated:
        return region
    return tuple(Union(region).minus(Interval(-math.inf, math.inf, False, False)))


_REGIONS: dict[int, tuple[Level, list[tuple[Interval, ...] | None]]] = {}


def _band_regions(level: Level) -> list[tuple[Interval, ...] | None]:
    """For each band, the values that land in it: its range less the bands above (None
    from the first band the intervals cannot read, `!=`). One pass for the whole level,
    kept for the level's next test: a tier for each of 5,000 bands took each band's
    region apart again from all the bands above it."""
    key = level.id
    kept = _REGIONS.get(key)  # one lookup: another thread may clear the cache meanwhile
    if kept is not None and kept[0] is level:
        return kept[1]
    taken = Union()
    regions: list[tuple[Interval, ...] | None] = []
    for b in level.bands:
        interval = band_interval(b.op, b.low, b.high)
        if interval is None or (regions and regions[-1] is None):
            regions.append(None)
            continue
        regions.append(tuple(taken.minus(interval)))
        taken.add(interval)
    if len(_REGIONS) >= 64:
        _REGIONS.clear()
    _REGIONS[key] = (level, regions)
    return regions


def _meet(a: Box, b: Box, checked: CheckedRuleset) -> Box:
    out = dict(a)
    for name, c in b.items():
        out[name] = _meet_one(out[name], c) if name in out else c
    return out


def _meet_one(a: Constraint, b: Constraint) -> Constraint:
    if isinstance(a, TextSet) and isinstance(b, TextSet):
        return a.meet(b)
    if isinstance(a, bool) and isinstance(b, bool):
        return a if a == b else _IMPOSSIBLE
    if isinstance(a, tuple) and isinstance(b, tuple):
        return tuple(x.intersect(y) for x in a for y in b if not x.intersect(y).empty)
    raise _NotBoxable


_IMPOSSIBLE: Constraint = ()


def _empty(box: Box, checked: CheckedRuleset) -> bool:
    return any(_witness(name, c, checked) is None for name, c in box.items())


def _witness(name: str, c: Constraint, checked: CheckedRuleset) -> str | None:
    type_ = checked.inputs[name].type
    if isinstance(c, bool):
        return "true" if c else "false"
    if isinstance(c, TextSet):
        if c.empty:
            return None
        return f'"{min(c.values)}"' if not c.exclude else "any other text"
    for interval in c:
        part = interval.intersect(_domain(name, checked))
        if type_ is T.COUNT:  # counts are whole: (10, 11) holds none
            if part.empty:
                continue
            lo = 0 if math.isinf(part.lo) else math.floor(part.lo) + (0 if part.lo_closed else 1)
            lo = max(
                lo, math.ceil(part.lo) if part.lo_closed and not math.isinf(part.lo) else lo, 0
            )
            if math.isinf(part.hi):
                return show_value(lo, type_)
            hi = math.ceil(part.hi) - 1 if not part.hi_closed else math.floor(part.hi)
            if lo <= hi:
                return show_value(lo, type_)
        elif not part.empty:
            return show_value(part.witness(), type_)
    return None


def _overlap(theirs: list[Box], mine: list[Box], checked: CheckedRuleset) -> dict[str, str] | None:
    for a in theirs:
        for b in mine:
            try:
                both = _meet(a, b, checked)
            except _NotBoxable:
                continue
            witness = {n: _witness(n, c, checked) for n, c in both.items()}
            if all(v is not None for v in witness.values()):
                return {k: v for k, v in witness.items() if v is not None}
    return None


def _contains(outer: Box, inner: Box, checked: CheckedRuleset) -> bool:
    """Every account in `inner` is in `outer` (so a rule above with `outer` takes it)."""
    for name, c in outer.items():
        if name not in inner:
            return False  # inner leaves it free, outer does not
        mine = inner[name]
        if isinstance(c, TextSet) and isinstance(mine, TextSet):
            if not mine.within(c):
                return False
        elif isinstance(c, bool) and isinstance(mine, bool):
            if c != mine:
                return False
        elif isinstance(c, tuple) and isinstance(mine, tuple):
            domain = _domain(name, checked)
            if not all(_covered(m.intersect(domain), c) for m in mine):
                return False
        else:
            return False
    return True


def _domain(name: str, checked: CheckedRuleset) -> Interval:
    """The values an input can take: its declared range (`percent at most 100%`)."""
    declared = checked.inputs[name]
    return declared.range or domain_of(declared.type)


def _covered(part: Interval, by: tuple[Interval, ...]) -> bool:
    """Every value of `part` is in one of `by`. One range (most tests) is compared by its
    ends: under `policy first` each tier is asked this of every tier above it that it
    shares accounts with (a run of nested tiers: all of them), and the general
    `covers` sorts and walks its pieces for each question."""
    if len(by) == 1:
        outer = by[0]
        return part.empty or (
            (outer.lo, not outer.lo_closed) <= (part.lo, not part.lo_closed)
            and (outer.hi, outer.hi_closed) >= (part.hi, part.hi_closed)
        )
    from engine.checker.intervals import covers

    return covers(list(by), part)
