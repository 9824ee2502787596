"""Meaning: `RuleFile` syntax tree → `CheckedRuleset`, or every semantic error.

In: a parsed `RuleFile` and its `Source`. Out: a `CheckedRuleset`
(`model.py`), in which every name resolves to an input, a `let` or a level,
every expression has a type that fits where it is used (`types.py`), levels'
bands are in order, cover what they should and do not overlap (`bands.py`,
on the interval arithmetic of `intervals.py`), and examples and defaults
give values that fit their inputs (`literals.py`) and name declared tiers.
Otherwise one `RuleError` with all of the file's problems (`check.py`).
Every later stage reads only the `CheckedRuleset`.
"""
