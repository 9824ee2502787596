"""Findings about a checked ruleset as a whole, each shown by an account.

In: a `CheckedRuleset` (one, or two versions of it). Out: diagnostics with
witnesses: tiers that overlap under `policy unique`, tiers that a rule above
always takes first or that no account can match, labels that never or always
hold, gaps no tier covers, and whether two versions can classify an account
differently. The intervals decide what they can read as boxes (`analyze.py`,
with `pairs.py` finding which tiers can share an account without trying all
pairs: the fast path); the z3 SMT solver the rest (`smt.py` encodes every
construct, `prove.py` decides the findings, `changes.py` the differences
between versions, `cover.py` accounts that reach a tier or label). Every
witness is replayed through the evaluator before it is reported, and a
question the solver cannot settle in its budget is reported undecided.
"""
