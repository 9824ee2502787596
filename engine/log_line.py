"""A decision's reasons and input as JSON, by code generated per ruleset.

The decision log repeats, for every decision, each condition evaluated with
its text, the values it read and its result. Rendered from the traced run
that cost about 20 µs a decision in Python, twenty times the classification,
and the log could not keep up with the service. So, as `engine/compile.py`
does for the evaluator, this module generates one function per ruleset: it
runs the rules once, each leaf keeping its result in a local of its own (the
`log` mode), then joins pre-serialised pieces (rule, kind, text, value names)
with the values read. Its output parses to what `Decision.to_dict()` says.

Masking is the caller's: `masks` maps a name to what is logged instead of its
value. The gap of a failed test ("55,000 short") would give a masked value
away, so it is left out for masked names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.ast import TypeName
from engine.compile import CodeGenerator
from engine.leaves import Leaf
from engine.model import CheckedRuleset, Rule
from engine.values import json_value

Dumps = Callable[[Any], bytes]  # a value to JSON (orjson.dumps, or a slower safe one)
LogParts = tuple[Rule | None, tuple[str, ...], bytes, bytes, list[int]]  # rule, labels,
# reasons (a JSON array), input (a JSON object), divisions by zero (indexes)

_TRUE = b'},"result":true}'
_FALSE = b'},"result":false}'


@dataclass(frozen=True)
class LogEncoder:
    parts: Callable[[Any], LogParts]  # account -> LogParts; raises InputError like classify
    source_code: str  # the generated Python, for tests


def compile_log_encoder(
    checked: CheckedRuleset, dumps: Dumps, masks: Mapping[str, Callable[[Any], Any]]
) -> LogEncoder:
    gen = _LogGenerator(checked, dumps, masks)
    code, (parts,) = gen.build(["log"])
    return LogEncoder(parts, code)


def _fixed(value: Any) -> bytes:
    """JSON for what the rule file fixes (names, texts), made once per ruleset."""
    return json.dumps(value, ensure_ascii=False).encode()


class _LogGenerator(CodeGenerator):
    def __init__(
        self, checked: CheckedRuleset, dumps: Dumps, masks: Mapping[str, Callable[[Any], Any]]
    ):
        super().__init__(checked)
        self.dumps = dumps
        self.masks = masks
        set_names = {n for n, i in checked.inputs.items() if i.type is TypeName.TEXT_SET}
        self.values = {name: self._value_code(name, name in set_names) for name in self.vars}

    def _value_code(self, name: str, is_set: bool) -> str:
        """Code giving the JSON of `name` as the rules saw it (masked if asked)."""
        dumps, mask = self.dumps, self.masks.get(name)
        var = self.vars[name]
        level = self.checked.levels.get(name)
        if level is not None:  # the band's name, or null: JSON made once per band
            names = (*level.band_names(), None)
            shown = tuple(dumps(mask(n) if mask else n) for n in names)
            return f"{self.k(shown)}[{var}]"
        if is_set:
            if mask is None:
                return f"{self.k(lambda v: dumps(json_value(v)))}({var})"
            return f"{self.k(lambda v: dumps(mask(json_value(v))))}({var})"
        if mask is None:
            return f"{self.k(dumps)}({var})"
        return f"{self.k(lambda v: dumps(mask(v)))}({var})"

    def log_tail(self) -> list[str]:
        lines = []
        values = dict(self.values)
        for n, name in enumerate(self.checked.inputs):  # each input is shown at least once
            lines.append(f"s{n} = {values[name]}")
            values[name] = f"s{n}"
        lines.append("P = []; a = P.append")
        for leaf in self.leaves:
            x = f"x{leaf.id}"
            pieces = []
            for n, name in enumerate(leaf.names):
                key = _fixed(name) + b":"
                if n == 0:
                    fixed = {"rule": leaf.rule.name, "kind": leaf.rule.kind, "text": leaf.text}
                    key = _fixed(fixed)[:-1] + b',"observed":{' + key
                else:
                    key = b"," + key
                pieces += [self.k(key), values[name]]
            if not leaf.names:  # a test of constants alone reads nothing
                fixed = {"rule": leaf.rule.name, "kind": leaf.rule.kind, "text": leaf.text}
                pieces.append(self.k(_fixed(fixed)[:-1] + b',"observed":{'))
            missed = self._missed(leaf)
            tail = f"({self.k(_TRUE)} if {x} else {missed})"
            lines.append(f"if {x} is not None: a({' + '.join(pieces)} + {tail})")
        shown = [self.k(b"{")]
        for n, name in enumerate(self.checked.inputs):
            shown += [self.k((b"," if n else b"") + _fixed(name) + b":"), values[name]]
        shown.append(self.k(b"}"))
        join = self.k(b"".join)
        reasons = f"{self.k(b'[')} + {self.k(b',')}.join(P) + {self.k(b']')}"
        lines.append(f"return r, L, {reasons}, {join}(({', '.join(shown)},)), notes")
        return lines

    def _missed(self, leaf: Leaf) -> str:
        """A failed test's tail: with by how much, unless that would show a masked value."""
        if leaf.gap is None or leaf.gap[0] in self.masks:
            return self.k(_FALSE)
        short_of, dumps = leaf.short_of, self.dumps

        def missed(value: Any) -> bytes:
            miss = short_of(value)
            return _FALSE if miss is None else b'},"result":false,"gap":' + dumps(miss) + b"}"

        return f"{self.k(missed)}({self.vars[leaf.gap[0]]})"
