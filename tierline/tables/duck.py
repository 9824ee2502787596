"""The rules' SQL on DuckDB: classify a table held by a DuckDB connection."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from engine import Ruleset
from engine.sql.compile import compile_sql


def classify_table(
    connection: duckdb.DuckDBPyConnection,
    ruleset: Ruleset,
    table: str,
    columns: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyRelation:
    """Every row of `table` with its tier, labels, rule and error, as a relation
    (nothing runs until it is read: DuckDB streams it to wherever it goes)."""
    return connection.sql(compile_sql(ruleset.checked, "duckdb", table, columns, pretty=False))
