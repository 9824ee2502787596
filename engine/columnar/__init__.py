"""The columnar backend: `CheckedRuleset` → an evaluator over whole columns (numpy).

In: a `CheckedRuleset` and a batch of accounts as columns (input name → a list, a
numpy array or an Arrow array). Out: four columns, `tier`, `labels`, `rule` and
`error`, one entry a row (None for no tier, no rule, no error), equal row by row to
what the Python evaluator (`engine/python`) answers for the same accounts.
`inputs.py` reads each column as its declared type and finds every bad row with
array operations; `vectors.py` holds the column kinds and the exact comparisons;
`compute.py` evaluates lets, levels and conditions as numpy operations, one `match`
over the node kinds; `evaluate.py` chooses tiers and labels by masks (the entry
point, `ColumnarProgram`); `rows.py` decides the rows left to the Python evaluator.
Rows that array arithmetic cannot decide exactly as Python does (bad values, whose
error text names every field; integers past 2^53 in arithmetic; a `policy unique`
conflict) are decided by the Python evaluator itself, one row at a time.
"""
