"""RuleFile → CheckedRuleset: every name resolved, every type fitting, or RuleError.

Like cel-go's checker, it collects every problem of a file and raises once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import PurePath
from typing import Literal as Lit
from typing import assert_never

from engine.checker.bands import (
    PERCENT_RANGE,
    PERCENT_RANGE_TEXT,
    band_interval,
    check_bands,
    domain_of,
    fixed_by_range,
)
from engine.checker.intervals import Interval
from engine.checker.literals import literal_value
from engine.checker.model import (
    NUMERIC,
    Band,
    CheckedRuleset,
    Example,
    Input,
    Let,
    Level,
    Rule,
    Value,
    names_in,
)
from engine.checker.types import ExprTyper, describe_type
from engine.language import ast, codes
from engine.language.diagnostics import Diagnostic, RuleError, Severity, did_you_mean
from engine.language.source import Source, Span

T = ast.TypeName


def check(
    source: Source,
    rule_file: ast.RuleFile,
    *,
    name: str | None = None,
    maybe_declared: frozenset[str] | None = None,
) -> CheckedRuleset:
    """Check a parsed file. `maybe_declared`: when some statements failed to parse,
    the words in them; such a name is not reported as unknown."""
    checker = _Checker(source, name, maybe_declared or frozenset(), maybe_declared is not None)
    checked = checker.run(rule_file)
    errors = [d for d in checker.diagnostics if d.severity is Severity.ERROR]
    if errors or maybe_declared is not None:
        raise RuleError(source, checker.diagnostics)
    return checked


class _Checker:
    def __init__(
        self, source: Source, name: str | None, maybe_declared: frozenset[str], partial: bool
    ):
        self.partial = partial  # some statements did not parse: what they held is unknown
        self.source = source
        self.name = name
        self.maybe_declared = maybe_declared
        self.diagnostics: list[Diagnostic] = []
        self.typer = ExprTyper(self.report, maybe_declared)

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    # ------------------------------------------------------------- file level

    def run(self, rule_file: ast.RuleFile) -> CheckedRuleset:
        header = self._header(rule_file.statements)
        inputs = self._inputs(rule_file.statements)
        derived = self._derived(rule_file.statements, inputs)
        tiers, labels = self._rules(rule_file.statements)
        self._bounds_in_range(inputs)
        examples = self._examples(rule_file.statements, inputs, tiers, labels)
        tiered = any(r.kind == "tier" or (r.kind == "otherwise" and r.tier) for r in tiers)
        if not tiered and not self.partial:
            self._no_tiers(rule_file)
        name = str(header["ruleset"] or self.name or PurePath(self.source.path).stem)
        policy: Lit["first", "unique"] = "unique" if header["policy"] == "unique" else "first"
        return CheckedRuleset(
            source=self.source,
            name=name,
            version=str(header["version"] or ""),
            title=str(header["title"] or ""),
            policy=policy,
            inputs=inputs,
            derived=derived,
            tiers=tiers,
            labels=labels,
            examples=examples,
            types=self.typer.types,
            warnings=tuple(d for d in self.diagnostics if d.severity is Severity.WARNING),
        )

    def _no_tiers(self, rule_file: ast.RuleFile) -> None:
        """An empty save, or one cut off before the tiers: refused, never served."""
        end = len(self.source.text.rstrip())
        self.report(codes.NO_TIERS.at(self.source.span(end, end), "" if end else "empty"))

    def _header(self, statements: Iterable[ast.Statement]) -> dict[str, str | None]:
        found: dict[str, tuple[str, Span] | None] = dict.fromkeys(
            ("ruleset", "version", "title", "policy")
        )
        for stmt in statements:
            match stmt:
                case ast.RulesetDecl(name=name):
                    entry = ("ruleset", name.name)
                case ast.VersionDecl(version=text):
                    entry = ("version", text.value)
                case ast.TitleDecl(title=text):
                    entry = ("title", text.value)
                case ast.PolicyDecl(policy=policy):
                    entry = ("policy", policy)
                case (
                    ast.InputDecl()
                    | ast.LevelDecl()
                    | ast.LetDecl()
                    | ast.TierRule()
                    | ast.LabelRule()
                    | ast.OtherwiseRule()
                    | ast.Example()
                ):
                    continue
                case _:
                    assert_never(stmt)
            key, value = entry
            earlier = found[key]
            if earlier is not None:
                self.report(codes.DUPLICATE_HEADER.at(stmt.span, key=key, line=earlier[1].line))
                continue
            found[key] = (value, stmt.span)
        return {k: (v[0] if v else None) for k, v in found.items()}

    def _declare(self, seen: dict[str, Span], name: ast.Name, what: str) -> bool:
        if name.name in seen:
            self.report(
                codes.DUPLICATE_NAME.at(
                    name.span, name=name.name, line=seen[name.name].line, what=what
                )
            )
            return False
        seen[name.name] = name.span
        return True

    def _inputs(self, statements: Iterable[ast.Statement]) -> dict[str, Input]:
        inputs: dict[str, Input] = {}
        seen: dict[str, Span] = {}
        for stmt in statements:
            if not isinstance(stmt, ast.InputDecl) or not self._declare(seen, stmt.name, "input"):
                continue
            default = None
            if stmt.default is not None:
                default = self.literal_value(stmt.default, stmt.type, stmt.name.name)
            elif stmt.optional and stmt.type is T.TEXT_SET:
                default = frozenset()
            elif stmt.optional:
                self.report(
                    codes.MISSING_DEFAULT.at(
                        stmt.span, name=stmt.name.name, type=describe_type(stmt.type)
                    )
                )
            allowed, allowed_text = self._input_range(stmt)
            if (
                allowed is not None
                and isinstance(default, int | float)
                and not isinstance(default, bool)
                and not allowed.contains(default)
            ):
                assert stmt.default is not None
                self.report(
                    codes.DEFAULT_OUT_OF_RANGE.at(
                        stmt.default.span,
                        hint=_range_hint(stmt.name.name, allowed_text),
                        name=stmt.name.name,
                        allowed=allowed_text,
                    )
                )
            inputs[stmt.name.name] = Input(
                stmt.name.name,
                stmt.type,
                stmt.optional,
                default,
                stmt.name.span,
                allowed,
                allowed_text,
            )
        return inputs

    def _input_range(self, stmt: ast.InputDecl) -> tuple[Interval | None, str]:
        """The values an input allows beyond its type's own check: its declared range
        (within the type's), else None. A percent always has one: 0% to 100% unless its
        declaration widens it, so that 4.2 meant as 4.2% (420%) or a column of counts read
        as percentages is refused instead of becoming a tier; a side the declaration does
        not state keeps that default (`percent at most 1000%` is 0% to 1000%)."""
        if stmt.type not in NUMERIC:
            if stmt.range is not None:
                self.report(
                    codes.RANGE_ON_NON_NUMBER.at(
                        stmt.range.span, name=stmt.name.name, type=describe_type(stmt.type)
                    )
                )
            return None, ""
        domain = domain_of(stmt.type)
        natural = (PERCENT_RANGE, PERCENT_RANGE_TEXT) if stmt.type is T.PERCENT else (None, "")
        bound = stmt.range
        if bound is None:
            return natural
        if bound.op in ("==", "!="):
            self.report(codes.RANGE_OP.at(bound.span, spelling=bound.spelling))
            return natural
        low = self._band_bound(bound.low, stmt.type, stmt.name.name)
        high = self._band_bound(bound.high, stmt.type, stmt.name.name)
        interval = band_interval(bound.op, low, high)
        if interval is None:
            return natural
        text = self.source.text_of(bound.span)
        if stmt.type is T.PERCENT:  # the sides the range leaves open keep the default
            if math.isinf(interval.lo):
                text += " (and 0% or more)"
                interval = interval.intersect(domain)
            if math.isinf(interval.hi):
                text += " (and at most 100%)"
                interval = interval.intersect(Interval(-math.inf, 1.0, False, True))
        else:
            interval = interval.intersect(domain)
        if interval.empty:
            self.report(codes.EMPTY_RANGE.at(bound.span, "input", text=text))
            return natural
        return interval, text

    # ------------------------------------------------------ lets and levels

    def _derived(
        self, statements: Iterable[ast.Statement], inputs: dict[str, Input]
    ) -> tuple[Let | Level, ...]:
        decls: dict[str, ast.LetDecl | ast.LevelDecl] = {}
        seen = {name: i.span for name, i in inputs.items()}
        for stmt in statements:
            if isinstance(stmt, ast.LetDecl | ast.LevelDecl):
                what = "let" if isinstance(stmt, ast.LetDecl) else "level"
                if self._declare(seen, stmt.name, what):
                    decls[stmt.name.name] = stmt
        self.typer.bind(inputs, decls)
        order = self._dependency_order(decls)
        derived: list[Let | Level] = []
        for name in order:
            decl = decls[name]
            if isinstance(decl, ast.LetDecl):
                derived.append(self._let(decl))
            else:
                level = self._level(decl)
                if level is not None:
                    derived.append(level)
        return tuple(derived)

    def _dependency_order(self, decls: dict[str, ast.LetDecl | ast.LevelDecl]) -> list[str]:
        """Lets and levels, each after what it reads; a cycle is reported once."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1: visiting, 2: done

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                decl = decls[name]
                self.report(codes.CYCLIC_LET.at(decl.name.span, cycle=" → ".join(cycle)))
                return
            state[name] = 1
            for dep in sorted(_reads(decls[name])):
                if dep in decls:
                    visit(dep, [*path, name])
            state[name] = 2
            order.append(name)

        for name in decls:
            visit(name, [])
        return order

    def _let(self, decl: ast.LetDecl) -> Let:
        found = self.typer.type_of(decl.expr)
        declared = decl.type
        type_ = declared or found or T.NUMBER
        if declared and found and declared != found:
            fits = declared in NUMERIC and found in NUMERIC
            if not fits:
                self.report(
                    codes.TYPE_MISMATCH.at(
                        decl.expr.span,
                        "declared",
                        name=decl.name.name,
                        declared=describe_type(declared),
                        found=describe_type(found),
                    )
                )
        self.typer.set_let_type(decl.name.name, type_)
        return Let(decl.name.name, type_, decl.expr, decl.name.span)

    def _level(self, decl: ast.LevelDecl) -> Level | None:
        source_type = self.typer.name_type(decl.source, allow_level=False)
        if source_type is None:
            return None
        if source_type not in NUMERIC:
            self.report(
                codes.LEVEL_SOURCE_TYPE.at(
                    decl.source.span, name=decl.source.name, type=describe_type(source_type)
                )
            )
            return None
        bands: list[Band] = []
        seen: dict[str, Span] = {}
        for band in decl.bands:
            if not self._declare(seen, band.name, "band"):
                continue
            low = self._band_bound(band.bound.low, source_type, decl.source.name)
            high = self._band_bound(band.bound.high, source_type, decl.source.name)
            text = self.source.text_of(band.bound.span)
            bands.append(Band(band.name.name, band.bound.op, low, high, text, band.span))
        level = Level(decl.name.name, decl.source.name, tuple(bands), decl.name.span, id=decl.id)
        source_input = self.typer.inputs.get(decl.source.name)
        if source_input is not None and source_input.type is T.PERCENT:
            assert source_input.range is not None  # a percent input always has one
            check_bands(
                level,
                source_type,
                source_input.range,
                self.report,
                source_input.range_text,
                _range_hint(source_input.name, source_input.range_text),
            )
        else:
            check_bands(level, source_type, domain_of(source_type), self.report)
        return level

    def _bounds_in_range(self, inputs: dict[str, Input]) -> None:
        """A rule comparing a percent input with a number outside the values it allows
        is true for every account or for none: most often a unit mistake
        (`engagement_rate at least 150%` where 1.5% was meant) or a range left narrower
        than the data (a percent allows 0% to 100% unless its declaration widens it).
        Never true is an error (the rule cannot hold), always true a warning. Counts and
        numbers have no implicit range: the analysis's unreachable-rule covers theirs."""
        for bound in self.typer.bounds:
            decl = inputs[bound.input]
            written = [bound.low] if bound.high is None else [bound.low, bound.high]
            if (
                decl.type is not T.PERCENT
                or decl.range is None
                or any(not n.is_percent and n.value != 0 for n in written)
            ):
                continue  # `engagement_rate above 4`: percent-without-sign says it better
            high = bound.high.value if bound.high is not None else None
            fixed = fixed_by_range(bound.op, bound.low.value, high, decl.range)
            if fixed is None:
                continue
            outside = next(n for n in written if not decl.range.contains(n.value))
            self.report(
                codes.OUT_OF_RANGE.at(
                    bound.span,
                    hint=_range_hint(decl.name, decl.range_text),
                    severity=Severity.ERROR if fixed == "never" else Severity.WARNING,
                    name=decl.name,
                    allowed=decl.range_text,
                    value=outside.text,
                    fixed=fixed,
                )
            )

    def _band_bound(self, expr: ast.Expr | None, source_type: T, source: str) -> float | None:
        if expr is None:
            return None
        if not isinstance(expr, ast.Number):
            self.report(codes.BAND_NOT_NUMBER.at(expr.span))
            return None
        self.typer.check_literal_unit(expr, source_type, source)
        return expr.value

    # ------------------------------------------------------------------ rules

    def _rules(self, statements: Iterable[ast.Statement]) -> tuple[tuple[Rule, ...], ...]:
        tiers: list[Rule] = []
        labels: list[Rule] = []
        seen_tiers: dict[str, Span] = {}
        seen_labels: dict[str, Span] = {}
        otherwise: Rule | None = None
        path = self.source.path
        for stmt in statements:
            match stmt:
                case ast.TierRule(name=name, when=when):
                    if otherwise is not None:
                        self.report(
                            codes.UNREACHABLE_RULE.at(
                                stmt.span, "after-otherwise", tier=name.name, line=otherwise.line
                            )
                        )
                    if self._declare(seen_tiers, name, "tier"):
                        self.typer.condition(when)
                        tiers.append(Rule("tier", name.name, when, stmt.span, path, id=stmt.id))
                case ast.LabelRule(name=name, when=when):
                    if name.name == "none":
                        self.report(codes.RESERVED_NAME.at(name.span))
                    elif self._declare(seen_labels, name, "label"):
                        self.typer.condition(when)
                        labels.append(Rule("label", name.name, when, stmt.span, path, id=stmt.id))
                case ast.OtherwiseRule(name=name):
                    if otherwise is not None:
                        self.report(codes.DUPLICATE_OTHERWISE.at(stmt.span, line=otherwise.line))
                        continue
                    if name.name != "none":
                        self._declare(seen_tiers, name, "tier")
                    otherwise = Rule("otherwise", name.name, None, stmt.span, path, id=stmt.id)
                case (
                    ast.RulesetDecl()
                    | ast.VersionDecl()
                    | ast.TitleDecl()
                    | ast.PolicyDecl()
                    | ast.InputDecl()
                    | ast.LevelDecl()
                    | ast.LetDecl()
                    | ast.Example()
                ):
                    pass  # not rules: `_header`, `_inputs`, `_derived`, `_examples` read them
                case _:
                    assert_never(stmt)
        if otherwise is not None:
            tiers.append(otherwise)
        return tuple(tiers), tuple(labels)

    # --------------------------------------------------------------- examples

    def _examples(
        self,
        statements: Iterable[ast.Statement],
        inputs: dict[str, Input],
        tiers: tuple[Rule, ...],
        labels: tuple[Rule, ...],
    ) -> tuple[Example, ...]:
        tier_names = {r.name for r in tiers} | {"none"}
        label_names = {r.name for r in labels}
        examples = []
        for stmt in statements:
            if not isinstance(stmt, ast.Example):
                continue
            given: dict[str, Value] = {}
            seen: set[str] = set()
            for item in stmt.given:
                key = item.name.name
                if key in seen:
                    self.report(codes.DUPLICATE_NAME.at(item.name.span, "given", name=key))
                elif key not in inputs:
                    self._unknown_input(item.name, inputs)
                else:
                    value = self.literal_value(item.value, inputs[key].type, key)
                    if value is not None and not _allowed(inputs[key], value):
                        self.report(
                            codes.OUT_OF_RANGE.at(
                                item.value.span,
                                "example",
                                hint=_range_hint(key, inputs[key].range_text),
                                name=key,
                                allowed=inputs[key].range_text,
                                value=self.source.text_of(item.value.span),
                            )
                        )
                    elif value is not None:
                        given[key] = value
                seen.add(key)
            missing = [n for n, i in inputs.items() if not i.optional and n not in seen]
            if missing:
                self.report(
                    codes.EXAMPLE_MISSING_INPUT.at(
                        stmt.description.span,
                        description=stmt.description.value,
                        missing=", ".join(f"'{m}'" for m in missing),
                    )
                )
            self._known(stmt.expect, tier_names, "tier")
            for label in stmt.labels or ():
                self._known(label, label_names, "label")
            examples.append(
                Example(
                    stmt.description.value,
                    given,
                    None if stmt.expect.name == "none" else stmt.expect.name,
                    None if stmt.labels is None else tuple(n.name for n in stmt.labels),
                    stmt.span,
                )
            )
        return tuple(examples)

    def _unknown_input(self, name: ast.Name, inputs: dict[str, Input]) -> None:
        if name.name in self.maybe_declared:
            return
        hint = did_you_mean(name.name, inputs)
        if name.name in self.typer.derived_names():
            hint = codes.UNKNOWN_INPUT.hint("derived", name=name.name)
        self.report(codes.UNKNOWN_INPUT.at(name.span, hint=hint, name=name.name))

    def _known(self, name: ast.Name, names: set[str], what: Lit["tier", "label"]) -> None:
        if name.name not in names and name.name not in self.maybe_declared:
            code = codes.UNKNOWN_TIER if what == "tier" else codes.UNKNOWN_LABEL
            hint = did_you_mean(name.name, names) or (
                code.hint("known", names=", ".join(sorted(names)))
                if names
                else code.hint("none", name=name.name)
            )
            self.report(code.at(name.span, hint=hint, name=name.name))

    def literal_value(self, literal: ast.Literal, type_: T, name: str) -> Value | None:
        """A literal as the value of an input of `type_`, or None after a diagnostic."""
        value, problem = literal_value(literal, type_, name, self.source)
        if problem is not None:
            self.diagnostics.append(problem)
        return value


def _allowed(decl: Input, value: Value) -> bool:
    """A value inside its input's range, if the input has one and the value is a number."""
    if decl.range is None or isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return decl.range.contains(value)


def _range_hint(name: str, range_text: str) -> str:
    if range_text == PERCENT_RANGE_TEXT:
        return codes.OUT_OF_RANGE.hint("percent", name=name)
    if range_text.endswith("(and at most 100%)"):
        return codes.OUT_OF_RANGE.hint("percent-above", name=name)
    return codes.OUT_OF_RANGE.hint("declared", name=name)


def _reads(decl: ast.LetDecl | ast.LevelDecl) -> set[str]:
    if isinstance(decl, ast.LevelDecl):
        return {decl.source.name}
    return names_in(decl.expr)
