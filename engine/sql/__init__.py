"""The SQL backend: `CheckedRuleset` → one SQL query, through sqlglot.

In: a `CheckedRuleset`, a dialect (duckdb, spark, bigquery, snowflake,
postgres), the table and the columns that hold the inputs. Out: SQL text
that adds `tier`, `labels`, `rule` and `error` to every row, with the Python
evaluator's answers and, for a refused row, the Python API's message filled
from the same templates (`compile.py`); each let is a helper column computed
once per row (`layers.py`). Pure: running the query on DuckDB, Spark or
PostgreSQL lives outside the engine (`tierline.tables`, or the caller's own).
"""

DIALECTS = ("duckdb", "spark", "bigquery", "snowflake", "postgres")
