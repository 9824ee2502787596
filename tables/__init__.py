"""Rules over whole tables: the SQL of `engine.sql` run where the data is.

In: a ruleset and a table (a DuckDB relation, files read by DuckDB). Out:
the table with `tier`, `labels`, `rule` and `error`. `duck.py` runs the
query on DuckDB, embedded, the default.
"""
