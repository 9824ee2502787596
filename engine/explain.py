"""Decisions in words: why this tier, and why not the tiers before it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.ast import TypeName
from engine.decision import Reason
from engine.typecheck import show_value

if TYPE_CHECKING:
    from engine.decision import Decision
    from engine.model import CheckedRuleset

T = TypeName


def show(name: str, value: Any, checked: CheckedRuleset) -> str:
    """A value as the rule author would write it."""
    if value is None:
        return "no band" if name in checked.levels else "nothing"
    if name in checked.levels:
        return str(value)
    type_ = checked.inputs[name].type if name in checked.inputs else checked.lets[name].type
    match type_:
        case T.TEXT:
            return f'"{value}"'
        case T.TEXT_SET:
            return "{" + ", ".join(f'"{v}"' for v in value) + "}"
        case T.FLAG:
            return "true" if value else "false"
        case _:
            return show_value(value, type_)


def observed(reason: Reason, checked: CheckedRuleset) -> str:
    return ", ".join(f"{n} {show(n, v, checked)}" for n, v in reason.observed.items())


def explain(decision: Decision) -> str:
    rs = decision.ruleset
    checked = rs.program.checked
    reasons = decision.reasons
    rule = decision.rule
    tier = decision.tier or "none"
    version = f", version {rs.version}" if rs.version else ""
    lines = []
    if rule is not None and rule.kind == "tier":
        where = f"{rule.file}:{rule.line}"
        lines.append(f"tier {tier}: rule '{rule.name}' at {where} (ruleset {rs.name}{version})")
        lines.append(f"why {tier}:")
        for r in reasons:
            if r.kind == "tier" and r.rule == rule.name:
                mark = "✓" if r.result else "✗"
                lines.append(f"  {mark} {r.text} ({observed(r, checked)})")
    elif rule is not None:
        lines.append(
            f"tier {tier}: no tier rule matched, so `otherwise {rule.name}` at "
            f"{rule.file}:{rule.line} applies (ruleset {rs.name}{version})"
        )
    else:
        lines.append(f"tier none: no tier rule matched (ruleset {rs.name}{version})")
    others = _first_failures(reasons, rule.name if rule is not None else None)
    if others:
        before = "tiers tried first" if checked.policy == "first" else "other tiers"
        lines.append(f"{before}:" if rule is not None and rule.kind == "tier" else "tiers tried:")
        lines_of = {r.name: r.line for r in checked.tiers}
        for failed in others:
            needs = f"  ✗ {failed.rule} (line {lines_of[failed.rule]}) needs {failed.text}"
            has = f"; has {observed(failed, checked)}" if failed.observed else ""
            by = f": {failed.gap}" if failed.gap else ""
            lines.append(needs + has + by)
    lines.append("labels: " + (", ".join(decision.labels) if decision.labels else "none"))
    for label in decision.labels:
        parts = [
            f"{r.text} ({observed(r, checked)})"
            for r in reasons
            if r.kind == "label" and r.rule == label and r.result
        ]
        lines.append(f"  ✓ {label}: " + "; ".join(parts))
    if decision.notes:
        lines.append("notes:")
        lines.extend(f"  {note}" for note in decision.notes)
    return "\n".join(lines)


def _first_failures(reasons: tuple[Reason, ...], matched: str | None) -> list[Reason]:
    """For each tier rule that did not match, its first condition that failed."""
    seen: set[str] = set()
    out = []
    for r in reasons:
        if r.kind != "tier" or r.rule == matched or r.result or r.rule in seen:
            continue
        seen.add(r.rule)
        out.append(r)
    return out
