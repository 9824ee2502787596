"""The SQL backend: `CheckedRuleset` → one SQL query, through sqlglot.

In: a `CheckedRuleset`, a dialect (duckdb, spark, bigquery, snowflake,
postgres), the table and the columns that hold the inputs. Out: SQL text
that adds `tier`, `labels`, `rule` and `error` to every row, with the Python
evaluator's answers (`compile.py`). Pure: running the query on DuckDB or
Spark lives outside the engine.
"""

DIALECTS = ("duckdb", "spark", "bigquery", "snowflake", "postgres")
