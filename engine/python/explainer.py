"""Explanations by code generated per ruleset.

An explanation says why the tier was chosen, and for each tier tried before it
the first condition that failed and by how much. Rendered from a traced run it
cost about ten times a plain decision: the trace built a list of steps and a
dict of values, and the renderer looked each leaf up and formatted as it went.
So, as the decision log's lines are (`engine/python/log_encoder.py`), explanations are
made by one generated function per ruleset: it runs the rules once, each leaf
keeping its result in a local of its own (a `locals` function whose ending,
`_Explanation`, is written here), and joins text
made once per ruleset (headers, "needs …" heads, condition texts) with the
values read, each value formatted once and only if shown.

The traced renderer, `tests/traced_explain.py`, stays as the reference: tests check
that both give the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.checker.model import CheckedRuleset, Rule
from engine.language.ast import TypeName
from engine.python.codegen import Frame, Function, Module, division_notes
from engine.python.leaves import GapSpec, Leaf, usual_gap_bounds, value_formatters
from engine.python.terminal import printable

Explainer = Callable[[Mapping[str, Any]], str]  # account -> explanation


def compile_explainer(checked: CheckedRuleset) -> tuple[Explainer, str]:
    """The explainer of `checked`, and its generated source (for tests)."""
    module = Module(checked)
    code, (explain,) = module.build([Function("explain", "locals", _Explanation(module))])
    return explain, code


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


class _Explanation:
    """The ending of `explain`: the text, from the leaves' locals and the values read."""

    def __init__(self, module: Module):
        self.module = module
        self.checked = module.checked
        self.k = module.k
        self.formatters = value_formatters(module.checked)
        self.shown: dict[str, str] = {}  # name -> the local caching its formatted value

    def __call__(self, frame: Frame) -> list[str]:
        checked, k = self.checked, self.k
        first = checked.policy == "first"
        rules = [r for r in checked.tiers if r.when is not None]
        fallback = next((r for r in checked.tiers if r.when is None), None)
        lines = [f"out = [{k(header(checked, fallback))}]; tried = {k('tiers tried:')}"]
        lines.append("failed = []")
        tiers: list[str] = []
        for rule in rules:
            matched = [
                f"out = [{k(header(checked, rule))}]",
                f"tried = {k('tiers tried first:' if first else 'other tiers:')}",
                *self._held(frame, rule),
            ]
            failed = self._failed(frame, rule)
            tiers.append(f"if {frame.rule} is {k(rule)}:")
            if first:  # the tiers after the matched one never ran
                tiers += [*_indent(matched), "    break", *failed]
            else:
                tiers += _indent(matched)
                tiers += ["else:", *_indent(failed)] if failed else []
        lines += ["while True:", *_indent(tiers), "    break"] if first and rules else tiers
        lines += [
            "if failed:",
            "    out.append(tried); out += failed",
            f"out.append({k('labels: ')} + ({k(', ')}.join({frame.labels}) if {frame.labels}"
            f" else {k('none')}))",
        ]
        for rule in checked.labels:  # label names are unique: in L exactly when the rule held
            assert rule.when is not None
            lines += [
                f"if {frame.result(rule.when)}:",
                "    why = []",
                *_indent(self._why(frame, rule)),
                f"    out.append({k(f'  ✓ {rule.name}: ')} + {k('; ')}.join(why))",
            ]
        if self.module.divisions and self.module.leaves:
            divisions = self.module.divisions
            notes = k(lambda met: [f"  {printable(n)}" for n in division_notes(divisions, met)])
            met = frame.notes
            lines += [f"if {met}:", f"    out.append({k('notes:')}); out += {notes}({met})"]
        lines.append(f"return {k(chr(10))}.join(out)")
        cached = [" = ".join(self.shown.values()) + " = ''"] if self.shown else []
        return cached + lines

    def _held(self, frame: Frame, rule: Rule) -> list[str]:
        """The matched tier: each condition that ran, held or not, with what it read."""
        lines = []
        for leaf, guard in frame.ran(rule):
            held = self._text([leaf.held, *self._seen(frame, leaf), ")"])
            missed = self._text([leaf.missed, *self._seen(frame, leaf), ")"])
            add = f"out.append({held} if {frame.leaf(leaf)} else {missed})"
            lines.append(f"if {' and '.join(guard)}: {add}" if guard else add)
        return lines

    def _failed(self, frame: Frame, rule: Rule) -> list[str]:
        """A tier that did not match: its first condition that ran and failed, by how much."""
        lines: list[str] = []
        for leaf, guard in frame.ran(rule):
            line: list[str | Code] = [leaf.needs]
            if leaf.names:
                line += ["; has ", *self._seen(frame, leaf)]
            text = self._text(line)
            if leaf.gap is not None:
                miss = f"{self.k(leaf.short_of)}({frame.value(leaf.gap[0])})"
                text = f"{self._text([*line, ': ', Code('miss')])} if (miss := {miss}) else {text}"
                for test, gap in reversed(self._inline_gaps(frame, leaf.gap)):
                    text = f"{self._text([*line, ': ', *gap])} if {test} else ({text})"
            test = " and ".join((*guard, f"not {frame.leaf(leaf)}"))
            lines.append(f"    if {test}: failed.append({text}); break")
        # a loop to break out of, not an elif chain: that nests in the compiler
        return ["while True:", *lines, "    break"] if lines else []

    def _inline_gaps(self, frame: Frame, spec: GapSpec) -> list[tuple[str, list[str | Code]]]:
        """The usual gaps (`usual_gap_bounds`) of an input written into the code, each with
        its test. Other cases call `Leaf.short_of`, which gives the same text for these
        (tests check both against `_distance`)."""
        decl = self.checked.inputs.get(spec[0])
        bounds = usual_gap_bounds(spec)
        if decl is None or bounds is None:
            return []
        floor, top = bounds
        var, k = frame.var(spec[0]), self.k
        cases: list[tuple[str, list[str | Code]]] = []
        if decl.type is TypeName.COUNT:  # validated: an int, 0 or more
            if floor is not None:
                short = Code(f"{k(floor)} - {var}", ",")
                cases.append((f"{var} < {k(floor)}", [short, " short"]))
            if top is not None:
                test = f"{var} > {k(top)} and {var} - {k(top)} < {k(10**15)}"
                cases.append((test, [Code(f"{var} - {k(top)}", ","), " over"]))
        else:  # a percent, validated: a float or an int
            if floor is not None:
                test = f"type({var}) is float and {var} < {k(floor)}"
                cases.append((test, [Code(f"({k(floor)} - {var}) * 100", ".6g"), "% short"]))
            if top is not None:
                test = f"type({var}) is float and {var} > {k(top)}"
                cases.append((test, [Code(f"({var} - {k(top)}) * 100", ".6g"), "% over"]))
        return cases

    def _why(self, frame: Frame, rule: Rule) -> list[str]:
        """A label that held: each condition that ran and held, with what it read."""
        lines = []
        for leaf, guard in frame.ran(rule):
            add = f"why.append({self._text([leaf.shown, ' (', *self._seen(frame, leaf), ')'])})"
            lines.append(f"if {' and '.join((*guard, frame.leaf(leaf)))}: {add}")
        return lines

    def _seen(self, frame: Frame, leaf: Leaf) -> list[str | Code]:
        """ "name value, name value": each value formatted on first use only."""
        parts: list[str | Code] = []
        for n, name in enumerate(leaf.names):
            local = self.shown.setdefault(name, f"f{len(self.shown)}")
            decl = self.checked.inputs.get(name)
            var = frame.value(name)
            level = self.checked.levels.get(name)
            if level is not None:  # the band's name, or "no band" (index -1)
                value = f"{self.k((*level.band_names(), 'no band'))}[{frame.var(name)}]"
            elif decl is not None and decl.type is TypeName.COUNT:  # as the formatter does
                value = f"f'{{{var}:,}}'"
            elif decl is not None and decl.type is TypeName.PERCENT:  # an int may be huge
                fallback = f"{self.k(self.formatters[name])}({var})"
                value = f"f'{{{var} * 100:.6g}}%' if type({var}) is float else {fallback}"
            else:
                value = f"{self.k(self.formatters[name])}({var})"
            parts += [
                ("" if n == 0 else ", ") + name + " ",
                Code(f"{local} or ({local} := {value})"),
            ]
        return parts

    def _text(self, parts: list[str | Code]) -> str:
        """One f-string of `parts`: the rule's words go in as constants, never as code."""
        if not any(isinstance(part, Code) for part in parts):
            return self.k("".join(str(part) for part in parts))
        fields: list[str] = []
        fixed = ""
        for part in parts:
            if isinstance(part, Code):
                if fixed:
                    fields.append("{" + self.k(fixed) + "}")
                    fixed = ""
                fields.append("{" + part.code + (":" + part.spec if part.spec else "") + "}")
            else:
                fixed += part
        if fixed:
            fields.append("{" + self.k(fixed) + "}")
        return 'f"' + "".join(fields) + '"'


@dataclass(frozen=True)
class Code:
    """A piece of generated code among text pieces (which become constants)."""

    code: str
    spec: str = ""  # a format spec: "," or ".6g"


def header(checked: CheckedRuleset, rule: Rule | None) -> str:
    """The first line(s), the same for every decision by one rule. The file's name, the
    ruleset's name and the version are anyone's text (a name from a log under audit,
    `version "1\\n…"`): shown through `printable`, so that they cannot add a line."""
    tier = (rule.tier if rule is not None else None) or "none"
    version = f", version {printable(checked.version)}" if checked.version else ""
    ruleset = f"(ruleset {printable(checked.name)}{version})"
    if rule is not None and rule.kind == "tier":
        where = f"{printable(rule.file)}:{rule.line}"
        return f"tier {tier}: rule '{rule.name}' at {where} {ruleset}\nwhy {tier}:"
    if rule is not None:
        return (
            f"tier {tier}: no tier rule matched, so `otherwise {rule.name}` at "
            f"{printable(rule.file)}:{rule.line} applies {ruleset}"
        )
    return f"tier none: no tier rule matched {ruleset}"
