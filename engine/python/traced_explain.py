"""Decisions in words: why this tier, and why not the tiers before it.

`Decision.explain()` uses the generated explainer (`engine/python/explainer.py`).
This renderer, from the traced steps, is its reference: short enough to read
at a glance, and tests check that both give the same text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.checker.model import CheckedRuleset, Rule
from engine.python.leaves import Leaf

if TYPE_CHECKING:
    from engine.decision import Decision


def explain_traced(decision: Decision) -> str:
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
                why[leaf.rule.name].append(f"{leaf.text} ({seen(leaf)})")
        lines.extend(f"  ✓ {label}: " + "; ".join(parts) for label, parts in why.items())
    notes = decision.notes if steps and program.divisions else ()
    if notes:
        lines.append("notes:")
        lines.extend(f"  {note}" for note in notes)
    return "\n".join(lines)


def header(checked: CheckedRuleset, rule: Rule | None) -> str:
    """The first line(s), the same for every decision by one rule."""
    tier = (rule.tier if rule is not None else None) or "none"
    version = f", version {checked.version}" if checked.version else ""
    if rule is not None and rule.kind == "tier":
        where = f"{rule.file}:{rule.line}"
        return (
            f"tier {tier}: rule '{rule.name}' at {where} (ruleset {checked.name}{version})\n"
            f"why {tier}:"
        )
    if rule is not None:
        return (
            f"tier {tier}: no tier rule matched, so `otherwise {rule.name}` at "
            f"{rule.file}:{rule.line} applies (ruleset {checked.name}{version})"
        )
    return f"tier none: no tier rule matched (ruleset {checked.name}{version})"
