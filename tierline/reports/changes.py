"""`tierline diff OLD NEW` without data as a document: the pairs of tiers an account
can move between, each with an account that does, decided from the rules alone."""

from __future__ import annotations

from typing import Any

from engine import Ruleset
from engine.analysis.changes import Changes
from engine.analysis.prove import show_account_value
from tierline.reports.document import Document, Para, Table
from tierline.reports.values import tier_name


def document(found: Changes, old: Ruleset, new: Ruleset) -> Document:
    doc = Document(f"{old.name} → {new.name}: can any account change?")
    tiers = [c for c in found.changes if c.label is None]
    labels = [c for c in found.changes if c.label is not None]
    if found.equivalent:
        doc.add(Para("No account can get another tier or other labels: the versions are "
                     f"equivalent (proved by the solver in {found.queries} queries)."))  # fmt: skip
        return doc
    if tiers:
        doc.add(Para(f"Accounts can move between {len(tiers)} pair(s) of tiers; each example "
                     "was replayed through both versions."))  # fmt: skip
        doc.add(Table(("from", "to", "for example"),
                      [(tier_name(c.old), tier_name(c.new), account(c.witness, old, new))
                       for c in tiers]))  # fmt: skip
    if labels:
        doc.add(Table(("label", "change", "tiers (old → new)", "for example"),
                      [(c.label or "", "gained" if c.gained else "lost",
                        f"{tier_name(c.old)} → {tier_name(c.new)}", account(c.witness, old, new))
                       for c in labels]))  # fmt: skip
    for what in found.undecided:
        doc.add(Para(f"Undecided within the solver's budget: {what}."))
    return doc


def to_json(found: Changes) -> dict[str, Any]:
    out: dict[str, Any] = {"equivalent": True if found.equivalent else
                           (None if not found.changes else False)}  # fmt: skip
    if found.changes:
        out["changes"] = [
            {"from": c.old, "to": c.new, "witness": c.witness}
            | ({"label": c.label, "gained": c.gained} if c.label is not None else {})
            for c in found.changes
        ]
    if found.undecided:
        out["undecided"] = found.undecided
    return out


def account(witness: dict[str, Any] | None, old: Ruleset, new: Ruleset) -> str:
    if witness is None:
        return "(the solver's accounts did not replay in floating point)"
    types = {**{n: d.type for n, d in new.checked.inputs.items()},
             **{n: d.type for n, d in old.checked.inputs.items()}}  # fmt: skip
    return ", ".join(f"{n} {show_account_value(v, types.get(n))}" for n, v in witness.items())
