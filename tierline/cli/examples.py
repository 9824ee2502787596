"""Example coverage: which tiers and labels no `example` block reaches, and for each
an example block written from an account the solver finds (`tierline check
--suggest-examples`), checked by classifying it before it is printed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine import ClassifyError, ExampleResult, Ruleset
from engine.language.ast import TypeName
from engine.load import SOLVER_MS
from engine.ruleset import reaching_account

T = TypeName


def unreached(
    ruleset: Ruleset, results: list[ExampleResult] | None = None
) -> tuple[list[str], list[str]]:
    """(tiers, labels) that no example of the ruleset gets; "none" for no tier.
    `results`: the examples already run, if they were."""
    if results is None:
        results = ruleset.run_examples()
    got_tiers = {r.decision.tier for r in results if r.decision is not None}
    got_labels = {x for r in results if r.decision is not None for x in r.decision.labels}
    tiers = [rule.tier for rule in ruleset.checked.tiers]
    if not any(rule.when is None for rule in ruleset.checked.tiers):
        tiers.append(None)
    missing_tiers = [t or "none" for t in dict.fromkeys(tiers) if t not in got_tiers]
    missing_labels = [r.name for r in ruleset.checked.labels if r.name not in got_labels]
    return missing_tiers, missing_labels


def suggestions(ruleset: Ruleset, solver_ms: int = SOLVER_MS) -> str:
    """Example blocks, ready to paste, for what no example reaches."""
    tiers, labels = unreached(ruleset)
    blocks: list[str] = []
    for tier in tiers:
        account = reaching_account(ruleset, "" if tier == "none" else tier, None, solver_ms)
        blocks.append(_block(ruleset, f"reaches {tier}", account))
    for label in labels:
        account = reaching_account(ruleset, None, label, solver_ms)
        blocks.append(_block(ruleset, f"has label {label}", account))
    return "".join(blocks)


def _block(ruleset: Ruleset, what: str, account: dict[str, Any] | None) -> str:
    if account is None:
        return f"# no account {what}: the solver found none (see tierline check's findings)\n\n"
    try:
        decision = ruleset.classify(account)
    except ClassifyError as error:  # the solver's account is checked once more, as written
        return f"# no example {what}: {error}\n\n"
    given = ", ".join(f"{name} {literal(v, ruleset.checked.inputs[name].type)}"
                      for name, v in account.items())  # fmt: skip
    labels = ", ".join(decision.labels) or "none"
    return (
        f'example "{what} (suggested by tierline check)"\n'
        f"  given {given}\n"
        f"  expect {decision.tier or 'none'} labels {labels}\n\n"
    )


def literal(value: Any, type_: T) -> str:
    """A value as the rule language writes it, exactly (`0.035` as `3.5%`)."""
    if type_ is T.TEXT_SET:
        return "{" + ", ".join(_text(v) for v in sorted(value)) + "}"
    if type_ is T.TEXT:
        return _text(value)
    if type_ is T.FLAG:
        return "true" if value else "false"
    if type_ is T.COUNT:
        return f"{value:_}"
    exact = Decimal(repr(float(value)))
    if type_ is T.PERCENT:
        exact *= 100
    text = format(exact.normalize(), "f")
    return text + ("%" if type_ is T.PERCENT else "")


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
