"""Rules as formulas for z3: every type of the language, so that the analysis can
prove what no account can do and show an account for what one can.

- a count is an integer from 0 to 2^63 - 1; a number or percent a real within
  its declared range (a percent 0% to 100% unless the input says otherwise);
- a text is one of the texts the rules compare it with, or one they never
  name ("another text"): an integer that indexes those texts, so equality
  and `in` are integer tests;
- a set of text is, for each text the rules test it for, whether it holds it;
- a flag is a boolean; a level is the index of the first band its source
  falls in (-1 in none); a let is its arithmetic over reals, with a division
  by zero taken as 0, as the evaluator does;
- an optional input is any value of its type (its default is one of them).

Several rulesets share one `Inputs`, so an input of one name is one variable
in all of them (`tierline diff` asks whether two versions can disagree).
Reals are exact where Python's floats round, so every witness is replayed
through the evaluator by the caller before it is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, assert_never

import z3

from engine.checker.bands import domain_of
from engine.checker.model import CheckedRuleset, Input, Let, Level, Rule
from engine.language import ast

T = ast.TypeName
OTHER_TEXT = "another text"


class Unsupported(Exception):
    """A condition the encoding cannot express (none today: every construct is)."""


@dataclass
class Inputs:
    """The z3 variable of each input that any of the rulesets declares."""

    declared: dict[str, Input]
    texts: dict[str, list[str]] = field(default_factory=dict)  # text input -> named texts
    vars: dict[str, Any] = field(default_factory=dict)
    # the position of each text in `texts[name]` (a list search made `platform in` a set
    # of 100,000 texts quadratic)
    text_at: dict[str, dict[str, int]] = field(default_factory=dict)
    # set input -> the sets of texts its `has` tests name
    tested: dict[str, dict[frozenset[str], None]] = field(default_factory=dict)
    # set input -> its tested texts in groups: texts that every test names together (no
    # rule tells them apart), so `has any of` a set of 100,000 texts is one group, not
    # 100,000 variables; `group_of[name][text]` is the group's number
    groups: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    group_of: dict[str, dict[str, int]] = field(default_factory=dict)
    # (set input, group): the account holds some text of the group / every text of it
    some: dict[tuple[str, int], z3.BoolRef] = field(default_factory=dict)
    every: dict[tuple[str, int], z3.BoolRef] = field(default_factory=dict)

    @classmethod
    def of(cls, rulesets: Iterable[CheckedRuleset]) -> Inputs:
        rulesets = list(rulesets)
        declared: dict[str, Input] = {}
        for checked in rulesets:
            for name, decl in checked.inputs.items():
                declared.setdefault(name, decl)
        inputs = cls(declared)
        for checked in rulesets:
            for rule in (*checked.tiers, *checked.labels):
                if rule.when is not None:
                    inputs._collect(rule.when, checked)
        for name, decl in declared.items():
            inputs._declare(name, decl)
        return inputs

    def _collect(self, expr: ast.Expr, checked: CheckedRuleset) -> None:
        """The texts each text input is compared with, and each set input tested for."""
        for node in ast.walk(expr):
            match node:
                case ast.InSet(value=ast.Name(name=name), items=items):
                    self._named(name, items.values)
                case ast.TextIs(value=ast.Name(name=name), text=text):
                    self._named(name, [text.value])
                case ast.Compare(value=ast.Name(name=name), bound=ast.Text(value=text)):
                    self._named(name, [text])
                case ast.Has(value=ast.Name(name=name), items=items):
                    self.tested.setdefault(name, {})[frozenset(items.values)] = None

    def _named(self, name: str, values: Iterable[str]) -> None:
        _add_sorted(self.texts, self.text_at, name, values)

    def _declare(self, name: str, decl: Input) -> None:
        if decl.type is T.COUNT:
            self.vars[name] = z3.Int(name)
        elif decl.type in (T.NUMBER, T.PERCENT):
            self.vars[name] = z3.Real(name)
        elif decl.type is T.FLAG:
            self.vars[name] = z3.Bool(name)
        elif decl.type is T.TEXT:
            self.vars[name] = z3.Int(name)
            self.texts.setdefault(name, [])
            self.text_at.setdefault(name, {})
        else:
            self._group(name)

    def _group(self, name: str) -> None:
        """Group a set input's tested texts by the tests that name them."""
        named_by: dict[str, list[int]] = {}
        for test, items in enumerate(self.tested.get(name, {})):
            for text in items:
                named_by.setdefault(text, []).append(test)
        groups: dict[tuple[int, ...], list[str]] = {}
        for text in sorted(named_by):
            groups.setdefault(tuple(named_by[text]), []).append(text)
        self.groups[name] = [tuple(texts) for texts in groups.values()]
        self.group_of[name] = {}
        for number, texts in enumerate(self.groups[name]):
            self.group_of[name].update(dict.fromkeys(texts, number))
            some = z3.Bool(f"{name} has {texts[0]!r}" + (" or its group" if texts[1:] else ""))
            self.some[(name, number)] = some
            many = len(texts) > 1
            self.every[(name, number)] = (
                z3.Bool(f"{name} has all of {texts[0]!r}'s group") if many else some
            )

    def domain(self) -> list[z3.BoolRef]:
        """What every account satisfies: counts whole and in range, declared ranges."""
        out: list[z3.BoolRef] = []
        for name, decl in self.declared.items():
            if decl.type is T.TEXT_SET:  # holding every text of a group is holding some
                for number in range(len(self.groups[name])):
                    some, every = self.some[(name, number)], self.every[(name, number)]
                    if every is not some:
                        out.append(z3.Implies(every, some))
                continue
            if decl.type is T.FLAG:
                continue
            var = self.vars[name]
            if decl.type is T.TEXT:
                out += [var >= 0, var <= len(self.texts[name])]
            elif decl.type in (T.COUNT, T.NUMBER, T.PERCENT):
                interval = decl.range or domain_of(decl.type)
                if decl.type is T.COUNT:
                    interval = interval.intersect(domain_of(T.COUNT))
                if not math.isinf(interval.lo):
                    low = _real(interval.lo)
                    out.append(var >= low if interval.lo_closed else var > low)
                if not math.isinf(interval.hi):
                    high = _real(interval.hi)
                    out.append(var <= high if interval.hi_closed else var < high)
        return out

    def account(self, model: z3.ModelRef) -> dict[str, Any]:
        """The model as an account the Python API takes (every input given)."""
        out: dict[str, Any] = {}
        for name, decl in self.declared.items():
            if decl.type is T.TEXT_SET:
                out[name] = self._held(name, model)
                continue
            value = model.eval(self.vars[name], model_completion=True)
            if decl.type is T.FLAG:
                out[name] = z3.is_true(value)
            elif decl.type is T.TEXT:
                index = value.as_long()
                named = self.texts[name]
                out[name] = named[index] if index < len(named) else _other(named)
            elif decl.type is T.COUNT:
                out[name] = value.as_long()
            else:
                out[name] = float(_fraction(value))
        return out

    def _held(self, name: str, model: z3.ModelRef) -> list[str]:
        """The texts of a set input in a model: every text of a group it holds all of,
        the first text of one it holds some of."""
        out: list[str] = []
        for number, texts in enumerate(self.groups[name]):
            if z3.is_true(model.eval(self.every[(name, number)], True)):
                out += texts
            elif z3.is_true(model.eval(self.some[(name, number)], True)):
                out.append(texts[0])
        return out

    def holds(self, name: str, value: Iterable[str]) -> list[z3.BoolRef]:
        """A set input's value as facts about its groups (to ask for a different one)."""
        counts = [0] * len(self.groups[name])
        for text in set(value):
            number = self.group_of[name].get(text)
            if number is not None:
                counts[number] += 1
        out: list[z3.BoolRef] = []
        for number, texts in enumerate(self.groups[name]):
            some, every = self.some[(name, number)], self.every[(name, number)]
            out.append(some == (counts[number] > 0))
            if every is not some:
                out.append(every == (counts[number] == len(texts)))
        return out


def _add_sorted(
    lists: dict[str, list[str]],
    positions: dict[str, dict[str, int]],
    name: str,
    values: Iterable[str],
) -> None:
    """Append the values not yet in `lists[name]`, sorted, keeping their positions."""
    known = lists.setdefault(name, [])
    at = positions.setdefault(name, {})
    for value in sorted({v for v in values if v not in at}):
        at[value] = len(known)
        known.append(value)


def _other(named: list[str]) -> str:
    """A text that none of the rules name."""
    text = "other"
    while text in named:
        text += "_"
    return text


def _fraction(value: z3.ExprRef) -> Fraction:
    if z3.is_algebraic_value(value):
        value = value.approx(20)
    assert isinstance(value, z3.RatNumRef)
    return Fraction(value.numerator_as_long(), value.denominator_as_long())


def _real(value: float) -> z3.ArithRef:
    return z3.RealVal(Fraction(value)) if isinstance(value, float) else z3.RealVal(value)


class Encoding:
    """One ruleset's conditions, levels and lets over shared `Inputs`."""

    def __init__(self, checked: CheckedRuleset, inputs: Inputs):
        self.checked = checked
        self.inputs = inputs
        self.values: dict[str, Any] = {}  # each let and level encoded, when first needed
        self._derived = {item.name: item for item in checked.derived}
        self._encoded = 0  # checked.derived[:_encoded] are in `values`
        self._band_index = {
            name: {band.name: i for i, band in reversed(list(enumerate(level.bands)))}
            for name, level in checked.levels.items()
        }
        self._conditions: dict[ast.NodeId, z3.BoolRef] = {}  # by `Rule.id`
        self._ambiguous: z3.BoolRef | None = None

    # -------------------------------------------------------------- decisions

    def condition(self, rule: Rule) -> z3.BoolRef:
        if rule.when is None:
            return z3.BoolVal(True)
        if rule.id not in self._conditions:
            self._conditions[rule.id] = self.test(rule.when)
        return self._conditions[rule.id]

    def tier_is(self, tier: str | None) -> z3.BoolRef:
        """The account's tier is `tier` (None: no tier) under the ruleset's policy,
        for an account the ruleset does not refuse as ambiguous (see `ambiguous`)."""
        taken: list[z3.BoolRef] = []
        ways: list[z3.BoolRef] = []
        for rule in self.checked.tiers:
            cond = self.condition(rule)
            if rule.tier == tier:
                ways.append(z3.And(cond, *[z3.Not(t) for t in taken]))
            taken.append(cond)
        if tier is None and not any(r.when is None for r in self.checked.tiers):
            ways.append(z3.And(*[z3.Not(t) for t in taken]) if taken else z3.BoolVal(True))
        return z3.Or(*ways) if ways else z3.BoolVal(False)

    def ambiguous(self) -> z3.BoolRef:
        """Under `policy unique`, two tiers match (the evaluator refuses the account).
        Built once: it names every pair of tiers."""
        if self._ambiguous is None:
            pairs: list[z3.BoolRef] = []
            if self.checked.policy == "unique":
                conds = [self.condition(r) for r in self.checked.tiers if r.when is not None]
                pairs = [z3.And(a, b) for i, a in enumerate(conds) for b in conds[i + 1 :]]
            self._ambiguous = z3.Or(*pairs) if pairs else z3.BoolVal(False)
        return self._ambiguous

    def _value(self, name: str) -> Any:
        """A let's or level's encoding. Encoded on first use (a ruleset whose rules the
        intervals decide needs none: a level of 5,000 bands is 5,000 nested `If`s), and
        in dependency order up to it, so a long chain of lets never recurses deeply."""
        derived = self.checked.derived
        while name not in self.values:
            item = derived[self._encoded]
            if isinstance(item, Let):
                self.values[item.name] = self._number(item.expr)
            else:
                self.values[item.name] = self._level(item)
            self._encoded += 1
        return self.values[name]

    # ----------------------------------------------------------- expressions

    def test(self, expr: ast.Expr) -> z3.BoolRef:
        match expr:
            case ast.AllOf(parts=parts):
                return z3.And(*[self.test(p) for p in parts])
            case ast.AnyOf(parts=parts):
                return z3.Or(*[self.test(p) for p in parts])
            case ast.Not(part=part):
                return z3.Not(self.test(part))
            case ast.Name(name=name):
                return self.inputs.vars[name]  # a flag
            case ast.Flag(value=value):
                return z3.BoolVal(value)
            case ast.Compare(value=value, op=op, bound=bound):
                return self._compare(value, op, bound)
            case ast.Between(value=value, low=low, high=high):
                v = self._number(value)
                return z3.And(self._number(low) <= v, v <= self._number(high))
            case ast.InSet(value=ast.Name(name=name), items=items, negated=negated):
                inside = self._text_in(name, items.values)
                return z3.Not(inside) if negated else inside
            case ast.TextIs(value=value, text=text, negated=negated):
                same = self._text_is(value, text.value)
                return z3.Not(same) if negated else same
            case ast.Has(value=ast.Name(name=name), mode=mode, items=items):
                numbers = sorted({self.inputs.group_of[name][t] for t in items.values})
                if mode == "any":  # a group is all in the set or all out of it
                    return z3.Or(*[self.inputs.some[(name, n)] for n in numbers])
                return z3.And(*[self.inputs.every[(name, n)] for n in numbers])
            case ast.LevelIs(value=ast.Name(name=name), band=band, negated=negated):
                index = self._band_index[name][band.name]
                same = self._value(name) == index
                return z3.Not(same) if negated else same
            case (
                ast.InSet()
                | ast.Has()
                | ast.LevelIs()  # of an expression: refused when checked
                | ast.Number()
                | ast.Text()
                | ast.TextSet()
                | ast.Arith()
                | ast.Neg()  # no tests
            ):
                raise Unsupported(f"cannot encode {type(expr).__name__}")
            case _:
                assert_never(expr)

    def _compare(self, value: ast.Expr, op: str, bound: ast.Expr) -> z3.BoolRef:
        if isinstance(bound, ast.Text):
            same = self._text_is(value, bound.value)
            return same if op == "==" else z3.Not(same)
        if isinstance(bound, ast.Flag):
            flag = self.test(value)
            return flag == bound.value if op == "==" else flag != bound.value
        a, b = self._number(value), self._number(bound)
        return _ops(op, a, b)

    def _text_is(self, value: ast.Expr, text: str) -> z3.BoolRef:
        assert isinstance(value, ast.Name)
        return self.inputs.vars[value.name] == self.inputs.text_at[value.name][text]

    def _text_in(self, name: str, texts: Iterable[str]) -> z3.BoolRef:
        """The text is one of `texts`: a range test for each run of neighbouring
        positions (a set's texts are usually one run: one test, not 100,000)."""
        var = self.inputs.vars[name]
        at = self.inputs.text_at[name]
        positions = sorted(at[t] for t in texts)
        tests: list[z3.BoolRef] = []
        start = 0
        for end in range(1, len(positions) + 1):
            if end < len(positions) and positions[end] == positions[end - 1] + 1:
                continue
            low, high = positions[start], positions[end - 1]
            tests.append(var == low if low == high else z3.And(var >= low, var <= high))
            start = end
        return z3.Or(*tests) if tests else z3.BoolVal(False)

    def _number(self, expr: ast.Expr) -> z3.ArithRef:
        match expr:
            case ast.Number(value=value):
                return _real(value)
            case ast.Name(name=name) if name in self._derived:
                return self._value(name)
            case ast.Name(name=name):
                var = self.inputs.vars[name]
                return z3.ToReal(var) if var.sort() == z3.IntSort() else var
            case ast.Neg(operand=operand):
                return -self._number(operand)
            case ast.Arith(op=op, left=left, right=right):
                a, b = self._number(left), self._number(right)
                if op == "/":
                    return z3.If(b == 0, z3.RealVal(0), a / b)
                return {"+": a + b, "-": a - b, "*": a * b}[op]
            case (
                ast.Text()
                | ast.Flag()
                | ast.TextSet()
                | ast.Compare()
                | ast.Between()
                | ast.InSet()
                | ast.Has()
                | ast.LevelIs()
                | ast.TextIs()
                | ast.AllOf()
                | ast.AnyOf()
                | ast.Not()
            ):  # not numbers: the checker refuses them in arithmetic and bounds
                raise Unsupported(f"cannot encode {type(expr).__name__} as a number")
            case _:
                assert_never(expr)

    def _level(self, level: Level) -> z3.ArithRef:
        source = self._number(ast.Name(level.source))
        chosen: Any = z3.IntVal(-1)
        for index in reversed(range(len(level.bands))):
            band = level.bands[index]
            if band.op == "":
                inside: z3.BoolRef = z3.BoolVal(True)
            elif band.op == "between":
                assert band.low is not None and band.high is not None
                inside = z3.And(_real(band.low) <= source, source <= _real(band.high))
            else:
                assert band.low is not None
                inside = _ops(band.op, source, _real(band.low))
            chosen = z3.If(inside, z3.IntVal(index), chosen)
        return chosen


def _ops(op: str, a: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
    """`a op b`, building only that comparison (z3 terms are not cheap)."""
    match op:
        case ">=":
            return a >= b
        case "<=":
            return a <= b
        case ">":
            return a > b
        case "<":
            return a < b
        case "==":
            return a == b
    assert op == "!="
    return a != b


@dataclass
class Solver:
    """z3 with a time budget per query. `check` says sat, unsat, or None: undecided.
    One z3 solver holds the inputs' domains; each query is pushed onto it and popped.
    A question whose model is shown (a witness: `confirmed`) is put in a z3 context of
    its own: the model z3 finds depends on what its solver was asked before and on
    the numbering of the terms in its context (which every term built before, for
    any question, moves), and a witness must depend on the question alone, not on
    which other questions were asked first (the language server asks only those an
    edit touched, engine/analysis/memo.py; a fresh `tierline check` asks them all).
    Copied into a new context, the question's terms are numbered in the order of its
    own structure."""

    inputs: Inputs
    budget_ms: int
    queries: int = 0

    def __post_init__(self) -> None:
        self._domain = self.inputs.domain()
        self._z3 = z3.Solver()
        self._z3.set("timeout", self.budget_ms)
        self._z3.add(*self._domain)

    def check(
        self, *facts: z3.BoolRef, avoid: list[dict[str, Any]] | None = None, alone: bool = False
    ) -> Any:
        """A model of the facts (within every input's domain), False when there is none,
        None when the solver could not decide within the budget. `alone`: on a solver
        that no other question went through."""
        if alone:
            return self._alone(facts, avoid or [])
        solver = self._z3
        solver.push()
        try:
            solver.add(*facts)
            for seen in avoid or []:
                solver.add(z3.Not(z3.And(*self._is(seen))))
            self.queries += 1
            result = solver.check()
            if result == z3.sat:
                return solver.model()
            return False if result == z3.unsat else None
        finally:
            solver.pop()

    def _alone(self, facts: tuple[z3.BoolRef, ...], avoid: list[dict[str, Any]]) -> Any:
        """`check` in a context of its own (see the class); the model comes back in the
        main context, where the inputs' variables are."""
        context = z3.Context()
        solver = z3.Solver(ctx=context)
        solver.set("timeout", self.budget_ms)
        asked = [*self._domain, *facts, *(z3.Not(z3.And(*self._is(seen))) for seen in avoid)]
        solver.add(*[fact.translate(context) for fact in asked])
        self.queries += 1
        result = solver.check()
        if result == z3.sat:
            return solver.model().translate(z3.main_ctx())
        return False if result == z3.unsat else None

    def confirmed(
        self, facts: list[z3.BoolRef], shows: Callable[[dict[str, Any]], bool], tries: int = 3
    ) -> tuple[str, dict[str, Any] | None]:
        """("sat", account) with an account of the facts that `shows` confirms (in the
        evaluator), ("unsat", None) when no account has the facts, or ("undecided",
        None): out of time, or `tries` models that floating point did not bear out."""
        seen: list[dict[str, Any]] = []
        for _ in range(tries):
            model = self.check(*facts, avoid=seen, alone=True)
            if model is False:
                return ("unsat", None) if not seen else ("undecided", None)
            if model is None:
                return "undecided", None
            account = self.inputs.account(model)
            if shows(account):
                return "sat", account
            seen.append(account)
        return "undecided", None

    def _is(self, account: dict[str, Any]) -> list[z3.BoolRef]:
        """The account's values as facts (to ask for a different one)."""
        out: list[z3.BoolRef] = []
        for name, value in account.items():
            decl = self.inputs.declared[name]
            if decl.type is T.TEXT_SET:
                out += self.inputs.holds(name, value)
            elif decl.type is T.TEXT:
                at = self.inputs.text_at[name]
                out.append(self.inputs.vars[name] == at.get(value, len(at)))
            elif decl.type is T.FLAG:
                out.append(self.inputs.vars[name] == value)
            else:
                out.append(self.inputs.vars[name] == _real(value) if decl.type is not T.COUNT
                           else self.inputs.vars[name] == value)  # fmt: skip
        return out
