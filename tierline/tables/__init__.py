"""Rules over whole tables: the SQL of `engine.sql` run where the data is.

In: rulesets and a table (a DuckDB relation, a Spark DataFrame, or files read by
DuckDB or Spark). Out: the table with `tier`, `labels`, `rule` and `error`, or counts
of how several rulesets classify its rows. What a run does is described once for
both engines (`plan.py`: the staging of the files' columns as the declared inputs,
matched by `columns.py` and read by `cells.py`, and the joint pass of several
rulesets); DuckDB runs it as SQL (`read.py`, `classify.py` for `tierline classify`,
`joint.py`, `duck.py` for a table already in DuckDB) and Spark as DataFrame calls
(`spark.py`: `with_tiers`, `--engine spark`). On top of the joint pass,
`compare.py` (`tierline compare`) and `migration.py` (`tierline diff --data`), with
`why.py` for a decision's reason on one line.
"""
