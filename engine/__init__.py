"""tierline's engine: the rule language and its evaluation. No gRPC, no servers.

from engine import load_ruleset
rs = load_ruleset("rules/synthesis.tiers")
d = rs.classify({"followers": 45_000, "engagement_rate": 0.042,
                 "topics": ["fashion"], "platform": "instagram"})
d.tier, d.labels, d.rule, d.explain(), d.to_dict()
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
