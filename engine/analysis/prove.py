"""Findings the intervals cannot make, proved with z3 (`smt.py`), each with an account.

The interval analysis (`analyze.py`) decides overlaps and shadowing for rules
whose conditions are boxes; this module takes the rest: rules with sets,
arithmetic, lets and negations, labels that never or always hold, accounts no
tier covers when there is no `otherwise`, and a test that always holds where
the rest of its rule does. Each query has a time budget; one the solver
cannot decide is reported as undecided, never as proven.

A witness (an account that shows a finding) is replayed through the
evaluator (`replay`, given by the caller: the analysis runs before any
evaluator exists) before it is reported; a model that floating point does
not bear out is set aside and another asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import z3

from engine.analysis.memo import Recall
from engine.analysis.pairs import Reach, pair_index
from engine.analysis.smt import Encoding, Inputs, Solver
from engine.checker.model import CheckedRuleset, Level, Rule, names_in
from engine.checker.types import show_value
from engine.language import ast, codes
from engine.language.diagnostics import MAX_PER_CODE, Diagnostic

T = ast.TypeName
# account -> whether each rule's condition holds, by (kind, name); None: refused
Replay = Callable[[dict[str, Any]], Mapping[tuple[str, str], bool] | None]
TRIES = 3  # models asked for before a finding's witness is given up as unconfirmed
MAX_LINT_RULES = 500  # above this, tests inside rules are not checked one by one
MAX_COVER_TIERS = 5_000  # above this, coverage is not asked of the solver
MAX_PARTS = 32  # a condition of more parts is not checked part by part (a query each)


@dataclass
class Prover:
    checked: CheckedRuleset
    replay: Replay
    budget_ms: int
    # whether the boxes of these `and`-joined tests hold an account (None: not boxes)
    boxes_hold: Callable[[tuple[ast.Expr, ...]], bool | None] | None = None
    # the results of earlier versions' questions (memo.py); None: everything is asked
    recall: Recall | None = None

    def __post_init__(self) -> None:
        self.found: list[Diagnostic] = []
        self.unsettled = 0  # questions the solver left undecided (their answers are not kept)
        self.overlaps = 0  # overlapping-tiers found so far
        # for each group of tests: whether no account meets them, and whether the solver said
        self.never: dict[tuple[ast.Expr, ...], tuple[bool | None, bool]] = {}
        self.reads: dict[str, frozenset[str]] = {n: frozenset([n]) for n in self.checked.inputs}
        for item in self.checked.derived:  # the inputs each let and level is made of
            names = {item.source} if isinstance(item, Level) else names_in(item.expr)
            self.reads[item.name] = frozenset().union(*(self.reads[n] for n in names))

    # The solver and the encoding are made when a question is first put to them: with
    # a memo that answers every question, an edit needs neither (building them reads
    # every rule).

    @cached_property
    def inputs(self) -> Inputs:
        return Inputs.of([self.checked])

    @cached_property
    def enc(self) -> Encoding:
        return Encoding(self.checked, self.inputs)

    @cached_property
    def solver(self) -> Solver:
        return Solver(self.inputs, self.budget_ms)

    def remember(self, key: Callable[[Recall], tuple[Any, ...]], compute: Callable[[], Any]) -> Any:
        """`compute()`, or its result for an earlier version (the key made by `key`); a
        result that an undecided question went into is not kept."""
        recall = self.recall
        if recall is None:
            return compute()
        before = self.unsettled
        return recall.remember(key(recall), compute, lambda: self.unsettled == before)

    def satisfiable(self, rule: Rule) -> bool | None:
        """Whether some account meets the rule's condition (None: undecided). The
        `and`-joined tests are split into groups that read no input in common, each
        decided on its own, by the boxes where they can, and once for every rule
        that has the same group (generated tiers share all but their band).

        With a memo, an answer the boxes gave alone is kept by the condition only, and
        one the solver helped with also by the file's context: editing a text
        literal somewhere (which changes the solver's encoding) leaves the first kind
        standing."""
        recall = self.recall
        if recall is None:
            return self._satisfiable(rule)[0]
        by_boxes = ("satisfiable", recall.condition(rule))
        found, known = recall.get(by_boxes)
        if found:
            return known  # type: ignore[no-any-return]

        def decide() -> bool | None:
            answer, solved = self._satisfiable(rule)
            if not solved:
                recall.put(by_boxes, answer)
            return answer

        return self.remember(  # type: ignore[no-any-return]
            lambda r: ("satisfiable-solved", r.declarations, r.condition(rule)), decide
        )

    def _satisfiable(self, rule: Rule) -> tuple[bool | None, bool]:
        """The answer, and whether the solver (not the boxes alone) gave part of it."""
        when = rule.when
        assert when is not None
        parts = when.parts if isinstance(when, ast.AllOf) else (when,)
        solved = False
        for group in self._groups(parts):
            if group not in self.never:
                self.never[group] = self._never(group)
            never, by_solver = self.never[group]
            solved = solved or by_solver
            if never is not False:
                return (None if never is None else False), solved
        return True, solved

    def _never(self, group: tuple[ast.Expr, ...]) -> tuple[bool | None, bool]:
        """Whether no account meets these tests: by the boxes where they can tell, else
        by the solver; and whether it was the solver."""
        hold = self.boxes_hold
        recall = self.recall
        if hold is not None:
            if recall is None:
                held = hold(group)
            else:
                held = recall.remember(("boxes-hold", recall.exprs(group)), partial(hold, group))
            if held is not None:
                return not held, False

        def ask() -> bool | None:
            return self.proves(*[self.enc.test(x) for x in group])

        return self.remember(lambda r: ("never", r.declarations, r.exprs(group)), ask), True

    def _groups(self, parts: tuple[ast.Expr, ...]) -> list[tuple[ast.Expr, ...]]:
        groups: list[tuple[set[str], list[ast.Expr]]] = []
        for part in parts:
            reads = set().union(*(self.reads.get(n, {n}) for n in names_in(part)))
            joined = [g for g in groups if g[0] & reads]
            merged = (reads.union(*(g[0] for g in joined)), [x for g in joined for x in g[1]])
            merged[1].append(part)
            groups = [g for g in groups if not (g[0] & reads)] + [merged]
        return [tuple(tests) for _, tests in groups]

    # ------------------------------------------------------------ witnesses

    def witness(
        self, facts: list[z3.BoolRef], shows: Callable[[Mapping[tuple[str, str], bool]], bool]
    ) -> tuple[str, dict[str, Any] | None]:
        """`Solver.confirmed`, with `shows` asked of the rules' conditions on the account."""

        def confirmed(account: dict[str, Any]) -> bool:
            held = self.replay(account)
            return held is not None and shows(held)

        found = self.solver.confirmed(facts, confirmed, TRIES)
        if found[0] == "undecided":
            self.unsettled += 1
        return found

    def proves(self, *facts: z3.BoolRef) -> bool | None:
        """The facts hold for no account (True), for some (False), or undecided (None)."""
        model = self.solver.check(*facts)
        if model is None:
            self.unsettled += 1
            return None
        return model is False

    def undecided(self, what: str, rule: Rule) -> None:
        self.found.append(codes.ANALYSIS_UNDECIDED.at(rule.span, budget=self.budget_ms, what=what))


def prove(
    p: Prover,
    boxable: list[bool],
    reported: set[int],
    reaches: Callable[[], list[Reach]],
) -> list[Diagnostic]:
    """The findings for what the intervals left: `boxable[i]` says whether tier i (of
    those with a condition) is read by the intervals; `reported` holds the tiers they
    already reported; `reaches` over-approximates each tier, for the pair index (only
    built when some tier needs the solver: 100,000 banded tiers need none)."""
    checked = p.checked
    tiers = [r for r in checked.tiers if r.when is not None]
    small = len(tiers) + len(checked.labels) <= MAX_LINT_RULES
    todo = [j for j in range(len(tiers)) if j not in reported
            and (not boxable[j] or (small and checked.policy == "first"))]  # fmt: skip
    index = pair_index(reaches()) if todo or not all(boxable) else None
    for j in todo:
        later = tiers[j]
        assert index is not None
        if not _tier_can_match(p, later):
            continue
        earlier = [i for i in index.earlier(j)]
        if checked.policy == "unique":
            for i in earlier:
                if _overlap(p, tiers[i], later):
                    break  # a tier is reported once, with the first tier it overlaps
        else:
            _shadowed(p, [tiers[i] for i in earlier], later, tiers)
    if checked.policy == "unique" and index is not None:  # a boxable tier, an earlier not
        for j, later in enumerate(tiers):
            if boxable[j] and j not in reported:
                for i in index.earlier(j):
                    if not boxable[i] and _overlap(p, tiers[i], later):
                        break
    for label in checked.labels:
        _label(p, label)
    if not any(r.when is None for r in checked.tiers):
        _uncovered(p, tiers)
    if small:
        for rule in (*tiers, *checked.labels):
            _inner_tests(p, rule)
    return p.found


def _tier_can_match(p: Prover, rule: Rule) -> bool:
    can = p.satisfiable(rule)
    never = None if can is None else not can
    if never is None:
        p.undecided(f"tier '{rule.name}' can match", rule)
        return False
    if never:
        p.found.append(codes.UNREACHABLE_RULE.at(rule.span, "contradiction", tier=rule.name))
        return False
    return True


def _overlap(p: Prover, earlier: Rule, later: Rule) -> bool:
    """Report the two tiers if they share an account; whether they do. Past the first
    MAX_PER_CODE overlaps (which carry a confirmed witness) the solver is only asked
    whether they do: the rest are listed as a count (`bounded`)."""
    counted = p.overlaps >= MAX_PER_CODE

    def ask() -> tuple[str, dict[str, Any] | None]:
        both = [p.enc.condition(earlier), p.enc.condition(later)]
        keys = [("tier", earlier.name), ("tier", later.name)]
        if counted:
            never = p.proves(*both)
            return ("undecided" if never is None else "unsat" if never else "sat"), None
        return p.witness(both, lambda held: all(held[k] for k in keys))

    status, account = p.remember(
        lambda r: (
            ("overlap-counted", r.declarations, r.condition(earlier), r.condition(later))
            if counted
            else ("overlap", r.context, r.rule(earlier), r.rule(later))
        ),
        ask,
    )
    if status == "undecided":
        p.undecided(f"tiers '{earlier.name}' and '{later.name}' can match one account", later)
    elif status == "sat":
        p.overlaps += 1
        example = f": for example {shown(p.checked, account)}" if account is not None else ""
        p.found.append(
            codes.OVERLAPPING_TIERS.at(
                later.span,
                witness=account,
                earlier=earlier.name,
                line=earlier.line,
                later=later.name,
                example=example,
            )
        )
        return True
    return False


def _shadowed(p: Prover, earlier: list[Rule], later: Rule, tiers: list[Rule]) -> None:
    """Under `policy first`: every account of `later` is taken by the tiers above."""
    if not earlier:
        return

    def ask() -> tuple[bool | None, list[int], dict[str, Any] | None]:
        """Whether no account of `later` is left, which tiers above share one with it,
        and an account of it that a tier above takes."""
        free = [p.enc.condition(later), *[z3.Not(p.enc.condition(r)) for r in earlier]]
        never = p.proves(*free)
        if not never:
            return never, [], None
        takers = [
            i
            for i, r in enumerate(earlier)
            if p.proves(p.enc.condition(r), p.enc.condition(later)) is False
        ]
        above = [("tier", r.name) for r in earlier]
        _status, account = p.witness(
            [p.enc.condition(later)],
            lambda held: held[("tier", later.name)] and any(held[k] for k in above),
        )
        return never, takers, account

    never, taking, account = p.remember(
        lambda r: ("shadowed", r.context, r.rule(later), r.rules(earlier)), ask
    )
    if never is None:
        p.undecided(f"tier '{later.name}' is reached", later)
    elif never:
        takers = [earlier[i] for i in taking]
        named = codes.listed([codes.text("tier-at", tier=r.name, line=r.line) for r in takers[:5]])
        example = (
            codes.text("shadowed-example", example=shown(p.checked, account)) if account else ""
        )
        p.found.append(
            codes.UNREACHABLE_RULE.at(
                later.span,
                "shadowed",
                witness=account,
                tier=later.name,
                takers=named or "the tiers above",
                example=example,
            )
        )


def _label(p: Prover, label: Rule) -> None:
    def ask() -> tuple[bool | None, bool | None]:
        cond = p.enc.condition(label)
        never = p.proves(cond)
        return never, (None if never else p.proves(z3.Not(cond)))

    never, always = p.remember(lambda r: ("label", r.declarations, r.condition(label)), ask)
    if never is None:
        p.undecided(f"label '{label.name}' can hold", label)
    elif never:
        p.found.append(codes.UNREACHABLE_RULE.at(label.span, "label", label=label.name))
        return
    if always is None:
        p.undecided(f"label '{label.name}' always holds", label)
    elif always:
        p.found.append(codes.LABEL_ALWAYS.at(label.span, label=label.name))


def _uncovered(p: Prover, tiers: list[Rule]) -> None:
    last = p.checked.tiers[-1] if p.checked.tiers else None
    if last is None:
        return
    if len(tiers) > MAX_COVER_TIERS:
        p.undecided(f"every account gets one of the {len(tiers):,} tiers", last)
        return

    def ask() -> tuple[str, dict[str, Any] | None]:
        none = [z3.Not(p.enc.condition(r)) for r in tiers]
        keys = [("tier", r.name) for r in tiers]
        return p.witness(none, lambda held: not any(held[k] for k in keys))

    status, account = p.remember(lambda r: ("uncovered", r.context, r.rules(tiers)), ask)
    if status == "undecided":
        p.undecided("every account gets a tier", last)
    elif status == "sat":
        assert account is not None
        p.found.append(
            codes.UNCOVERED.at(last.span, witness=account, example=shown(p.checked, account))
        )


def _inner_tests(p: Prover, rule: Rule) -> None:
    """A test joined by `and` that always holds where the rest of its rule does, or an
    alternative joined by `or` that never holds."""
    when = rule.when
    kind = "tier" if rule.kind == "tier" else "label"
    if isinstance(when, ast.AllOf | ast.AnyOf) and len(when.parts) > MAX_PARTS:
        return
    if isinstance(when, ast.AllOf):
        parts = when.parts

        def always() -> list[int]:
            found = []
            for k, part in enumerate(parts):
                rest = [p.enc.test(q) for i, q in enumerate(parts) if i != k]
                if p.proves(*rest, z3.Not(p.enc.test(part))) is True and p.proves(*rest) is False:
                    found.append(k)
            return found

        for k in p.remember(lambda r: ("always", r.declarations, r.condition(rule)), always):
            part = parts[k]
            p.found.append(
                codes.ALWAYS_TRUE.at(
                    part.span, text=_text(p.checked, part), kind=kind, rule=rule.name
                )
            )
    elif isinstance(when, ast.AnyOf):
        alternatives = when.parts

        def never() -> list[int]:
            return [k for k, x in enumerate(alternatives) if p.proves(p.enc.test(x)) is True]

        for k in p.remember(lambda r: ("never-any", r.declarations, r.condition(rule)), never):
            part = alternatives[k]
            p.found.append(
                codes.NEVER_TRUE.at(
                    part.span, text=_text(p.checked, part), kind=kind, rule=rule.name
                )
            )


def _text(checked: CheckedRuleset, expr: ast.Expr) -> str:
    return " ".join(checked.source.text_of(expr.span).split())


def shown(checked: CheckedRuleset, account: dict[str, Any]) -> str:
    """An account as a rule author writes values: followers 10,000, topics {"fashion"}."""
    parts = []
    for name, value in account.items():
        type_ = checked.inputs[name].type if name in checked.inputs else None
        parts.append(f"{name} {show_account_value(value, type_)}")
    return ", ".join(parts) or "any account"


def show_account_value(value: Any, type_: T | None) -> str:
    if type_ is T.TEXT_SET:
        return "{" + ", ".join(f'"{v}"' for v in sorted(value)) + "}"
    if type_ is T.TEXT:
        return f'"{value}"'
    if type_ is T.FLAG:
        return "true" if value else "false"
    if type_ is T.COUNT and (isinstance(value, int) or float(value).is_integer()):
        # exactly: an account past 10^15 followers is still one number to write in an
        # example (show_value's six digits, 9.22337e+18, named no account)
        return f"{int(value):,}"
    return show_value(value, type_)
