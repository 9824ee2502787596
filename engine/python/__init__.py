"""The Python backend: `CheckedRuleset` → functions generated per ruleset.

In: a `CheckedRuleset`. Out: Python functions compiled once per ruleset and
run per account: the evaluator (`evaluator.py`: `Program.run`, about a
microsecond a decision, and `Program.trace`), the explainer
(`explainer.py`), the reasoner (`reasoner.py`) and the decision log's line
encoder (`log_encoder.py`), all written by `codegen.py` over the same walk
of the rules (each function says how it watches the leaves, and ends in its
own code, which reads the function's locals through a `Frame`);
for big rulesets whose tiers cut one input into ranges, `index.py` finds the
tiers a value can match, so that `run` tries only those.
What they share is here too: the leaf conditions a reason reports on
(`leaves.py`), the checking of account values against the declared inputs
(`values.py`, with `InputError`, whose message templates the SQL backend fills
too) and text made safe for a terminal (`terminal.py`). The AST-walking
interpreter (`interpret.py`) is the reference that tests compare the evaluator
with, and loading replays the analysis's witnesses through it; the explanation
rendered from a trace, the explainer's reference, is test code
(`tests/traced_explain.py`).
"""
