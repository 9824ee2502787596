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
"""

from engine.decision import Decision, Reason
from engine.language.diagnostics import Diagnostic, RuleError
from engine.python.values import ClassifyError, FieldProblem, InputError, RuleConflict
from engine.ruleset import ExampleResult, Ruleset, load_ruleset

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
