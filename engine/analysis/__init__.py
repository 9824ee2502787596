"""Findings about a checked ruleset as a whole, each shown by an account.

In: a `CheckedRuleset`. Out: diagnostics with witnesses: tiers that overlap
under `policy unique` and tiers that a rule above always takes first or that
no account can match under `policy first` (`analyze.py`, which reads
conditions as boxes of intervals, text sets and flags: the fast path;
`pairs.py` finds which tiers can share an account without trying all
pairs). What
it cannot read as boxes it leaves to the run-time check; an SMT-backed
analysis belongs beside it here.
"""
