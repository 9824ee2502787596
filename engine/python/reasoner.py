"""A decision's reasons, notes and input by code generated per ruleset.

`Decision.reasons` (and with it `to_dict()`, the API's FULL view and `tierline
eval`) used to re-run the rules traced, then look each step's leaf up and
build its Reason from the trace's dict of every value: about nine times a
plain decision. As the log lines (`engine/python/log_encoder.py`) and explanations
(`engine/python/explainer.py`) are, reasons are now made by one function per ruleset,
compiled on first use: the rules run once with each leaf's result in a local
(a `locals` function whose ending, `_Reasons`, is written here), and each
leaf that ran becomes a Reason built from
constants made once per ruleset (rule, kind, text, value names) and the
values read. The traced build in `Decision.steps()` stays as the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.checker.model import CheckedRuleset, Rule
from engine.python.codegen import Frame, Function, Module
from engine.python.leaves import Leaf

# account -> (reasons, divisions by zero met, the declared inputs as the rules saw them)
Reasoner = Callable[[Mapping[str, Any]], tuple[list[Any], list[int], dict[str, Any]]]


def compile_reasoner(checked: CheckedRuleset, make_reason: Callable[..., Any]) -> Reasoner:
    """`make_reason(rule, kind, text, observed, result, gap)` builds each reason. Its
    notes index the divisions as `Program.divisions` lists them (the same walk)."""
    module = Module(checked)
    _code, (reasons,) = module.build([Function("reasons", "locals", _Reasons(module, make_reason))])
    return reasons


class _Reasons:
    """The ending of `reasons`: a Reason for each leaf that ran, the notes, the inputs."""

    def __init__(self, module: Module, make_reason: Callable[..., Any]):
        self.checked = module.checked
        self.k = module.k
        self.k_reason = module.k(make_reason)

    def __call__(self, frame: Frame) -> list[str]:
        checked = self.checked
        lines = ["R = []"]
        first = checked.policy == "first"
        tiers = [r for r in checked.tiers if r.when is not None] if first else []
        if tiers:  # under `policy first`, the tiers after the matched one never ran
            lines.append("while True:")
            for rule in tiers:
                lines += ["    " + line for line in self._reasons_of(frame, rule)]
                lines.append(f"    if {frame.rule} is {self.k(rule)}: break")
            lines.append("    break")
        for rule in checked.labels if tiers else (*checked.tiers, *checked.labels):
            lines += self._reasons_of(frame, rule)
        shown = ", ".join(f"{self.k(name)}: {frame.var(name)}" for name in checked.inputs)
        lines.append(f"return R, {frame.notes}, {{{shown}}}")
        return lines

    def _reasons_of(self, frame: Frame, rule: Rule) -> list[str]:
        lines = []
        for leaf, guard in frame.ran(rule):
            observed = ", ".join(f"{self.k(n)}: {_observed(frame, n, leaf)}" for n in leaf.names)
            result = frame.leaf(leaf)
            gap = ""
            if leaf.gap is not None:
                value = frame.value(leaf.gap[0])
                gap = f", None if {result} else {self.k(leaf.short_of)}({value})"
            fixed = ", ".join(self.k(v) for v in (leaf.rule.name, leaf.rule.kind, leaf.text))
            add = f"R.append({self.k_reason}({fixed}, {{{observed}}}, {result}{gap}))"
            lines.append(f"if {' and '.join(guard)}: {add}" if guard else add)
        return lines


def _observed(frame: Frame, name: str, leaf: Leaf) -> str:
    """As the trace shows it: a level's band name, a set as a sorted list."""
    if name in leaf.sets:
        return f"sorted(set({frame.var(name)}))"
    return frame.value(name)
