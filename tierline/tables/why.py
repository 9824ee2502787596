"""A decision's reason on one line, for tables of examples that set two side by side.

`Decision.explain()` is the whole story (every tier tried, every label); a
reviewer scanning the accounts a change moves wants one line for each side:
"micro: followers between 10k and 100k (followers 45,000)". For a matched tier,
its conditions that held; when no tier matched, for each tier the first
condition that failed and by how much.
"""

from __future__ import annotations

from typing import Any

from engine import Decision, Ruleset
from engine.language.languages import gap as german_gap
from engine.language.languages import german_numbers
from engine.language.languages import refusal as refusal_in
from engine.python.leaves import value_formatters


def why(ruleset: Ruleset, decision: Decision, language: str = "en") -> str:
    """The reason on one line; `language="de"` says it in German (the studio), the
    conditions and names as the rules write them, the numbers as German writes them."""
    formatters = value_formatters(ruleset.checked)
    de = language == "de"

    def observed(values: dict[str, Any]) -> str:
        said = ", ".join(
            f"{n} {formatters[n](v) if n in formatters else v}" for n, v in values.items()
        )
        return german_numbers(said) if de else said

    tier_reasons = [r for r in decision.reasons if r.kind == "tier"]
    rule = decision.rule
    if rule is not None and rule.when is not None:
        held = [f"{r.text} ({observed(r.observed)})" for r in tier_reasons
                if r.rule == rule.name and r.result]  # fmt: skip
        return f"{rule.name}: " + "; ".join(held)
    failed: dict[str, str] = {}
    for r in tier_reasons:
        if not r.result and r.rule not in failed:
            gap = f": {german_gap(r.gap) if de else r.gap}" if r.gap else ""
            needs = "braucht" if de else "needs"
            failed[r.rule] = f"{r.rule} {needs} {r.text} ({observed(r.observed)}{gap})"
    nothing = "keine Stufe" if de else "no tier"
    head = f"{decision.tier} (otherwise)" if decision.tier else nothing
    return f"{head}: " + (
        "; ".join(failed.values()) or ("keine Stufenregel" if de else "no tier rule")
    )


def refusal(error: str, language: str = "en") -> str:
    """The reason of a row the rules refused, on one line."""
    if language == "de":
        return f"abgelehnt: {refusal_in(error, language)}"
    return f"refused: {error}"
