"""Decisions in words: why this tier, and why not the tiers before it.

`Decision.explain()` uses the generated explainer (`engine/python/explainer.py`).
This renderer, from the traced steps, is its reference: short enough to read
at a glance, and tests check that both give the same text.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.checker.model import Rule
from engine.python.evaluator import Program
from engine.python.explainer import header
from engine.python.leaves import Leaf
from engine.python.terminal import printable


class _Ruleset(Protocol):
    @property
    def program(self) -> Program: ...
    @property
    def policy(self) -> str: ...


class Traced(Protocol):
    """What the renderer reads of a decision (`engine.Decision` has it all)."""

    @property
    def ruleset(self) -> _Ruleset: ...
    @property
    def rule(self) -> Rule | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def notes(self) -> tuple[str, ...]: ...
    def steps(self) -> tuple[list[tuple[int, bool]], dict[str, Any], list[int]]: ...


def explain_traced(decision: Traced) -> str:
    rs = decision.ruleset
    program = rs.program
    leaves = program.leaves
    fmt = program.formatters
    steps, env, _ = decision.steps()

    shown: dict[str, str] = {}  # each value is formatted once, however often it is quoted

    def seen(leaf: Leaf) -> str:
        parts = []
        for name in leaf.names:
            text = shown.get(name)
            if text is None:
                text = shown[name] = f"{name} {fmt[name](env[name])}"
            parts.append(text)
        return parts[0] if len(parts) == 1 else ", ".join(parts)

    rule = decision.rule
    matched = rule.name if rule is not None and rule.kind == "tier" else None
    lines = [header(program.checked, rule)]
    failed: list[str] = []
    reported: set[str] = set()
    for leaf_id, result in steps:
        leaf = leaves[leaf_id]
        if leaf.rule.kind != "tier":
            break  # tiers are traced first, then labels
        name = leaf.rule.name
        if name == matched:
            lines.append((leaf.held if result else leaf.missed) + seen(leaf) + ")")
        elif not result and name not in reported:
            reported.add(name)
            has = "; has " + seen(leaf) if leaf.names else ""
            miss = leaf.shortfall(env) if leaf.gap else None
            failed.append(leaf.needs + has + (": " + miss if miss else ""))
    if failed:
        if matched is None:
            lines.append("tiers tried:")
        else:
            lines.append("tiers tried first:" if rs.policy == "first" else "other tiers:")
        lines.extend(failed)
    lines.append("labels: " + (", ".join(decision.labels) if decision.labels else "none"))
    if decision.labels:
        why: dict[str, list[str]] = {label: [] for label in decision.labels}
        for leaf_id, result in steps:
            leaf = leaves[leaf_id]
            if result and leaf.rule.kind == "label" and leaf.rule.name in why:
                why[leaf.rule.name].append(f"{leaf.shown} ({seen(leaf)})")
        lines.extend(f"  ✓ {label}: " + "; ".join(parts) for label, parts in why.items())
    notes = decision.notes if steps and program.divisions else ()
    if notes:
        lines.append("notes:")
        lines.extend(f"  {printable(note)}" for note in notes)
    return "\n".join(lines)
