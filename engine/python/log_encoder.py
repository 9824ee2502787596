"""A decision's reasons and input as JSON, by code generated per ruleset.

The decision log repeats, for every decision, each condition evaluated with
its text, the values it read and its result. Rendered from the traced run
that cost about 20 µs a decision in Python, twenty times the classification,
and the log could not keep up with the service. So, as `engine/python/codegen.py`
does for the evaluator, this module generates one function per ruleset: it
runs the rules once, each leaf keeping its result in a local of its own (a
`locals` function whose ending, `_LogParts`, is written here), then joins
pre-serialised pieces (rule, kind, text, value names)
with the values read. Its output parses to what `Decision.to_dict()` says,
less each reason's `gap`.

The log keeps facts: what each condition read and what it gave. How far a
failed test missed ("55,000 short") follows from those, `tierline audit`
shows it, and formatting it was most of the line's cost (3 of 5 µs for a
typical account); it would also give a masked value away.

Masking is the caller's: `masks` maps a name to what is logged instead, and
should name every value made from a masked one (`CheckedRuleset.depending_on`).
A condition that reads a masked value is logged with `"result": null`: its
text and its result together would tell the value (`email == "ceo@x.example"`
true says what the email is).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.checker.model import CheckedRuleset, Rule
from engine.language.ast import TypeName
from engine.python.codegen import Frame, Function, Module

Dumps = Callable[[Any], bytes]  # a value to JSON (orjson.dumps, or a slower safe one)
LogParts = tuple[Rule | None, tuple[str, ...], list[bytes], list[int]]  # rule, labels,
# pieces of `,"reasons":[...],"input":{...}`, divisions by zero met (indexes)

_TRUE = b'},"result":true}'
_FALSE = b'},"result":false}'
_HIDDEN = b'},"result":null}'
_REASONS = b',"reasons":['


@dataclass(frozen=True)
class LogEncoder:
    parts: Callable[[Any], LogParts]  # account -> LogParts; raises InputError like classify
    source_code: str  # the generated Python, for tests


def compile_log_encoder(
    checked: CheckedRuleset, dumps: Dumps, masks: Mapping[str, Callable[[Any], Any]]
) -> LogEncoder:
    module = Module(checked)
    code, (parts,) = module.build([Function("log", "locals", _LogParts(module, dumps, masks))])
    return LogEncoder(parts, code)


def _fixed(value: Any) -> bytes:
    """JSON for what the rule file fixes (names, texts), made once per ruleset."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class _LogParts:
    """The ending of `log`: the pieces of the line's reasons and input (`LogParts`)."""

    def __init__(self, module: Module, dumps: Dumps, masks: Mapping[str, Callable[[Any], Any]]):
        self.checked = module.checked
        self.k = module.k
        self.dumps = dumps
        self.masks = masks

    def _value_code(self, frame: Frame, name: str, is_set: bool) -> str:
        """Code giving the JSON of `name` as the rules saw it (masked if asked)."""
        dumps, mask = self.dumps, self.masks.get(name)
        var = frame.var(name)
        level = self.checked.levels.get(name)
        if level is not None:  # the band's name, or null: JSON made once per band
            names = (*level.band_names(), None)
            shown = tuple(dumps(mask(n) if mask else n) for n in names)
            return f"{self.k(shown)}[{var}]"
        if is_set:  # as json_value shows a set: sorted, once each
            if mask is None:
                return f"{self.k(lambda v: dumps(sorted(set(v))))}({var})"
            return f"{self.k(lambda v: dumps(mask(sorted(set(v)))))}({var})"
        if mask is None:
            return f"{self.k(dumps)}({var})"
        return f"{self.k(lambda v: dumps(mask(v)))}({var})"

    def __call__(self, frame: Frame) -> list[str]:
        """Pieces joined once: `,"reasons":[...],"input":{...}`. Leaf 0 is always the
        first evaluated (it opens the first rule), so only the others lead with a comma."""
        lines = []
        sets = {n for n, i in self.checked.inputs.items() if i.type is TypeName.TEXT_SET}
        values = {name: self._value_code(frame, name, name in sets) for name in frame.vars}
        for n, name in enumerate(self.checked.inputs):  # each input is shown at least once
            lines.append(f"s{n} = {values[name]}")
            values[name] = f"s{n}"
        lines.append(f"P = [{self.k(_REASONS)}]")
        # Under `policy first` the tiers after the matched one never ran: the pieces stop
        # there, so a ruleset of a thousand tiers costs what its evaluated leaves cost.
        first = self.checked.policy == "first"
        tiers = [r for r in self.checked.tiers if r.when is not None] if first else []
        if tiers:
            lines.append("while True:")
        for rule in tiers:
            lines += ["    " + line for line in self._reasons_of(frame, rule, values)]
            lines.append(f"    if {frame.rule} is {self.k(rule)}: break")
        if tiers:
            lines.append("    break")
        for rule in self.checked.labels if tiers else (*self.checked.tiers, *self.checked.labels):
            lines += self._reasons_of(frame, rule, values)
        shown = []
        for n, name in enumerate(self.checked.inputs):
            key = (b'],"input":{' if n == 0 else b",") + _fixed(name) + b":"
            shown += [self.k(key), values[name]]
        shown.append(self.k(b"}" if shown else b'],"input":{}'))
        lines.append(f"P += ({', '.join(shown)},)")
        lines.append(f"return {frame.rule}, {frame.labels}, P, {frame.notes}")
        return lines

    def _reasons_of(self, frame: Frame, rule: Rule, values: dict[str, str]) -> list[str]:
        """A rule's leaves that ran, each with what it read and what it gave. A leaf ran
        if the ones before it in its rule let it (`and`, `or`): its guard asks them."""
        lines: list[str] = []
        for leaf, guard in frame.ran(rule):
            fixed = {"rule": leaf.rule.name, "kind": leaf.rule.kind, "text": leaf.text}
            head = (b"," if leaf.id else b"") + _fixed(fixed)[:-1] + b',"observed":{'
            pieces = []
            for n, name in enumerate(leaf.names):
                key = (head if n == 0 else b",") + _fixed(name) + b":"
                pieces += [self.k(key), values[name]]
            if not leaf.names:  # a test of constants alone reads nothing
                pieces.append(self.k(head))
            if self.masks.keys() & set(leaf.names):
                pieces.append(self.k(_HIDDEN))
            else:
                result = frame.leaf(leaf)
                pieces.append(f"{self.k(_TRUE)} if {result} else {self.k(_FALSE)}")
            add = f"P += ({', '.join(pieces)})"
            lines.append(f"if {' and '.join(guard)}: {add}" if guard else add)
        return lines
