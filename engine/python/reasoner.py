"""A decision's reasons, notes and input by code generated per ruleset.

`Decision.reasons` (and with it `to_dict()`, the API's FULL view and `tierline
eval`) used to re-run the rules traced, then look each step's leaf up and
build its Reason from the trace's dict of every value: about nine times a
plain decision. As the log lines (`engine/python/log_encoder.py`) and explanations
(`engine/python/explainer.py`) are, reasons are now made by one function per ruleset,
compiled on first use: the rules run once with each leaf's result in a local
(the `reasons` mode), and each leaf that ran becomes a Reason built from
constants made once per ruleset (rule, kind, text, value names) and the
values read. The traced build in `Decision.steps()` stays as the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.checker.model import CheckedRuleset, Rule
from engine.python.codegen import CodeGenerator
from engine.python.leaves import Leaf

# account -> (reasons, divisions by zero met, the declared inputs as the rules saw them)
Reasoner = Callable[[Mapping[str, Any]], tuple[list[Any], list[int], dict[str, Any]]]


def compile_reasoner(checked: CheckedRuleset, make_reason: Callable[..., Any]) -> Reasoner:
    """`make_reason(rule, kind, text, observed, result, gap)` builds each reason. Its
    notes index the divisions as `Program.divisions` lists them (the same walk)."""
    gen = _ReasonsGenerator(checked, make_reason)
    _code, (reasons,) = gen.build(["reasons"])
    return reasons


class _ReasonsGenerator(CodeGenerator):
    def __init__(self, checked: CheckedRuleset, make_reason: Callable[..., Any]):
        super().__init__(checked)
        self.k_reason = self.k(make_reason)

    def tail(self) -> list[str]:
        checked = self.checked
        lines = ["R = []"]
        first = checked.policy == "first"
        tiers = [r for r in checked.tiers if r.when is not None] if first else []
        if tiers:  # under `policy first`, the tiers after the matched one never ran
            lines.append("while True:")
            for rule in tiers:
                lines += ["    " + line for line in self._reasons_of(rule)]
                lines.append(f"    if r is {self.k(rule)}: break")
            lines.append("    break")
        for rule in checked.labels if tiers else (*checked.tiers, *checked.labels):
            lines += self._reasons_of(rule)
        shown = ", ".join(f"{self.k(name)}: {self.vars[name]}" for name in checked.inputs)
        lines.append(f"return R, notes, {{{shown}}}")
        return lines

    def _reasons_of(self, rule: Rule) -> list[str]:
        lines = []
        for leaf, guard in self.ran(rule):
            observed = ", ".join(f"{self.k(n)}: {self._observed(n, leaf)}" for n in leaf.names)
            gap = ""
            if leaf.gap is not None:
                value = self._env_value(leaf.gap[0])
                gap = f", None if x{leaf.id} else {self.k(leaf.short_of)}({value})"
            fixed = ", ".join(self.k(v) for v in (leaf.rule.name, leaf.rule.kind, leaf.text))
            add = f"R.append({self.k_reason}({fixed}, {{{observed}}}, x{leaf.id}{gap}))"
            lines.append(f"if {' and '.join(guard)}: {add}" if guard else add)
        return lines

    def _observed(self, name: str, leaf: Leaf) -> str:
        """As the trace shows it: a level's band name, a set as a sorted list."""
        if name in leaf.sets:
            return f"sorted(set({self.vars[name]}))"
        return self._env_value(name)
