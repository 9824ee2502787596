"""tierline's engine: the rule language and its evaluation. No gRPC, no servers.

from engine import load_ruleset
rs = load_ruleset("rules/synthesis.tiers")
d = rs.classify({"followers": 45_000, "engagement_rate": 0.042,
                 "topics": ["fashion"], "platform": "instagram"})
d.tier, d.labels, d.rule, d.explain(), d.to_dict()

The pipeline, one package a stage, each importing only those before it:

    text ─language→ RuleFile ─checker→ CheckedRuleset ─analysis→ findings (with witnesses)
                                     ├─python→ Program (generated functions) → Decision
                                     ├─sql→ one SQL query per dialect (sqlglot)
                                     └─columnar→ numpy over columns: tier, labels, rule, error

`load.py` runs the front half (bytes → CheckedRuleset or one RuleError);
`ruleset.py` (Ruleset, load_ruleset), `decision.py` (Decision, Reason) and
`registry.py` (the served rulesets, swapped whole) are the public side.

The names below are imported when first used (PEP 562), not with the package: a
command that only reads or formats rule files (`tierline fmt`, `tierline check`
without analysis) would otherwise load the solver and the code generator at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.decision import Decision, Reason
    from engine.language.diagnostics import Diagnostic, RuleError
    from engine.python.values import ClassifyError, FieldProblem, InputError, RuleConflict
    from engine.ruleset import ExampleResult, Ruleset, load_ruleset

_HOMES = {
    "ClassifyError": "engine.python.values",
    "Decision": "engine.decision",
    "Diagnostic": "engine.language.diagnostics",
    "ExampleResult": "engine.ruleset",
    "FieldProblem": "engine.python.values",
    "InputError": "engine.python.values",
    "Reason": "engine.decision",
    "RuleConflict": "engine.python.values",
    "RuleError": "engine.language.diagnostics",
    "Ruleset": "engine.ruleset",
    "load_ruleset": "engine.ruleset",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next use is an ordinary global
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "ClassifyError",
    "Decision",
    "Diagnostic",
    "ExampleResult",
    "FieldProblem",
    "InputError",
    "Reason",
    "RuleConflict",
    "RuleError",
    "Ruleset",
    "load_ruleset",
]
