"""Rules over whole tables: the SQL of `engine.sql` run where the data is.

In: a ruleset and a table (a DuckDB relation, files read by DuckDB). Out:
the table with `tier`, `labels`, `rule` and `error`. `read.py` opens files
as DuckDB tables and `cells.py` reads their text cells as the declared types
(for DuckDB and, through sqlglot, Spark); `classify.py` runs `tierline
classify` on DuckDB, embedded, the default; `spark.py` adds the rules to a
PySpark DataFrame and runs `--engine spark`.
"""
