"""`--map` in every command that takes it (classify, compare, diff, sql), on DuckDB:
an input mapped twice is a usage error naming both mappings (issue 23: the second
silently won), and a set of text may be read from several columns, the union of
their items, with the Python evaluator's answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engine import load_ruleset
from tests.conftest import RULES, tierline
from tests.test_sql import python_answer

SYNTHESIS = str(RULES / "synthesis.tiers")
# Each row: id, category_1, category_2 as written in a CSV, and the set they make.
SPLIT: list[tuple[str, str, str, list[str]]] = [
    ("a", "", "fashion", ["fashion"]),
    ("b", "tech", "beauty;gaming", ["beauty", "gaming", "tech"]),
    ("c", "fashion", "fashion", ["fashion"]),
    ("d", "", "", []),
    ("e", '"[""tech""]"', "fashion", ["fashion", "tech"]),
    ("f", "beauty", "", ["beauty"]),
]


def split_csv(tmp_path: Path) -> Path:
    source = tmp_path / "accounts.csv"
    lines = ["id,followers,engagement_rate,category_1,category_2,platform"]
    lines += [f"{i},45k,4.2%,{one},{two},instagram" for i, one, two, _ in SPLIT]
    source.write_text("\n".join(lines) + "\n")
    return source


def expected(row_id: str, topics: list[str]) -> tuple[Any, ...]:
    ruleset = load_ruleset(SYNTHESIS)
    account = {"followers": 45_000, "engagement_rate": 0.042, "topics": topics,
               "platform": "instagram"}  # fmt: skip
    return (row_id, *python_answer(ruleset, account)[:2])


def other_definition(tmp_path: Path) -> Path:
    """A second definition that reads topics too, for compare and diff."""
    path = tmp_path / "niche.tiers"
    path.write_text(
        "ruleset niche\ninput followers: count\ninput topics: set of text\n"
        'tier micro when followers between 5k and 50k and topics has any of {"fashion"}\n'
        'label techie when topics has any of {"tech"}\notherwise none\n'
    )
    return path


COMMANDS = {
    "classify": lambda src, tmp: ["classify", SYNTHESIS, str(src), "-o", str(tmp / "o.csv")],
    "compare": lambda src, tmp: ["compare", SYNTHESIS, str(other_definition(tmp)),
                                 "--data", str(src)],
    "diff": lambda src, tmp: ["diff", SYNTHESIS, SYNTHESIS, "--data", str(src)],
    "sql": lambda src, tmp: ["sql", SYNTHESIS],
}  # fmt: skip


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_input_mapped_twice_is_a_usage_error_naming_both(tmp_path: Path, command: str) -> None:
    args = COMMANDS[command](split_csv(tmp_path), tmp_path)
    done = tierline(*args, "--map", "topics=category_1", "--map", "topics=category_2")
    assert done.returncode == 2, done.stderr
    assert "--map topics=category_1 and --map topics=category_2 both map topics" in done.stderr
    assert "--map topics=category_1,category_2" in done.stderr  # the way to read both
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_several_columns_for_an_input_that_is_not_a_set_is_a_usage_error(
    tmp_path: Path, command: str
) -> None:
    args = COMMANDS[command](split_csv(tmp_path), tmp_path)
    done = tierline(*args, "--map", "followers=followers,category_1")
    assert done.returncode == 2, done.stderr
    assert (
        "--map followers=followers,category_1: followers is a count, read from one column; "
        "only a set of text takes several"
    ) in done.stderr


def test_classify_reads_a_set_from_several_columns(tmp_path: Path) -> None:
    """`a;b` cells, JSON arrays and empty cells, as one set: the Python evaluator's
    tier and labels for the union of each row's items."""
    out = tmp_path / "tiers.jsonl"
    done = tierline("classify", SYNTHESIS, str(split_csv(tmp_path)), "-o", str(out),
                    "--map", "topics=category_1, category_2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = duckdb.sql(f"SELECT id, tier, labels FROM read_json('{out}') ORDER BY id").fetchall()
    assert got == [expected(i, topics) for i, _one, _two, topics in SPLIT]
    assert [labels for _i, _t, labels in got] == [
        ["fashion_expert"], ["tech_expert"], ["fashion_expert"], [],
        ["fashion_expert", "tech_expert"], [],
    ]  # fmt: skip


def test_set_columns_of_a_typed_file_union_and_are_missing_only_when_all_are(
    tmp_path: Path,
) -> None:
    """Array columns of a Parquet file: NULL in one column adds nothing; NULL in every
    one is a missing required input, refused as the Python API refuses it."""
    source = tmp_path / "accounts.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES ('a', ['tech'], NULL), ('b', NULL, ['fashion']), "
        "('c', ['x'], ['tech', 'x']), ('d', NULL::VARCHAR[], NULL::VARCHAR[])) "
        "AS t(id, c1, c2)"
    ).select("id, 45000 AS followers, 0.042 AS engagement_rate, c1, c2, "
             "'instagram' AS platform").write_parquet(str(source))  # fmt: skip
    out = tmp_path / "tiers.jsonl"
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out), "--map", "topics=c1,c2")
    assert done.returncode == 1, done.stderr  # d has no topics at all
    got = duckdb.sql(f"SELECT id, labels, error FROM read_json('{out}') ORDER BY id").fetchall()
    assert got == [
        ("a", ["tech_expert"], None),
        ("b", ["fashion_expert"], None),
        ("c", ["tech_expert"], None),
        ("d", None, "invalid account: topics: missing, expected a list of texts"),
    ]


def test_compare_and_diff_read_a_set_from_several_columns(tmp_path: Path) -> None:
    source = split_csv(tmp_path)
    niche = other_definition(tmp_path)
    done = tierline("compare", SYNTHESIS, str(niche), "--data", str(source), "--format", "json",
                    "--map", "topics=category_1,category_2", "--id", "id")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # niche: micro exactly where the union has fashion (a, c, e)
    assert report["counts"]["niche"] == {"micro": 3, "": 3}
    shown = [e for d in report["agreement"]["disputed"] for e in d["examples"]]
    assert sorted((e["id"], e["input"]["topics"]) for e in shown) == [
        ("b", ["beauty", "gaming", "tech"]), ("d", []), ("f", ["beauty"]),
    ]  # fmt: skip
    done = tierline("diff", str(niche), SYNTHESIS, "--data", str(source), "--format", "json",
                    "--map", "topics=category_1,category_2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    matrix = {(m["from"], m["to"]): m["count"] for m in json.loads(done.stdout)["matrix"]}
    assert matrix == {("micro", "micro"): 3, ("", "micro"): 3}


def test_a_missing_map_column_is_named(tmp_path: Path) -> None:
    done = tierline("classify", SYNTHESIS, str(split_csv(tmp_path)), "-o", str(tmp_path / "o.csv"),
                    "--map", "topics=category_1,category_3")  # fmt: skip
    assert done.returncode == 2
    assert "--map topics=category_1,category_3: the files have no column 'category_3'" in (
        done.stderr
    )


def test_tierline_sql_reads_a_set_from_several_columns_on_duckdb(tmp_path: Path) -> None:
    """The printed query, run on DuckDB over array columns, gives the Python answers."""
    done = tierline("sql", SYNTHESIS, "--map", "topics=category_1,category_2",
                    "--map", "followers=follower_count",
                    "--absent", "fake_follower_ratio")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "__tierline" not in done.stdout  # no stand-in is left in the query
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE accounts AS SELECT * FROM (VALUES "
        "('a', ['tech'], NULL), ('b', NULL, ['fashion']), ('c', [], ['gaming', 'x']), "
        "('d', NULL::VARCHAR[], NULL::VARCHAR[])) AS t(id, category_1, category_2)"
    )
    connection.execute(
        "ALTER TABLE accounts ADD COLUMN follower_count BIGINT DEFAULT 45000; "
        "ALTER TABLE accounts ADD COLUMN engagement_rate DOUBLE DEFAULT 0.042; "
        "ALTER TABLE accounts ADD COLUMN platform VARCHAR DEFAULT 'instagram'"
    )
    query = done.stdout.rstrip().rstrip(";")
    got = connection.sql(f"SELECT id, tier, labels FROM ({query}) ORDER BY id").fetchall()
    unions = {"a": ["tech"], "b": ["fashion"], "c": ["gaming", "x"]}
    assert got[:3] == [expected(i, topics) for i, topics in unions.items()]
    assert got[3] == ("d", None, None)  # no topics in either column: missing, refused


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake", "spark", "postgres", "duckdb"])
def test_tierline_sql_with_several_set_columns_reads_back_in_each_dialect(dialect: str) -> None:
    """BigQuery and Snowflake exist only as cloud services: their query is parsed back
    by sqlglot (DuckDB, Spark and PostgreSQL run theirs in their own tests)."""
    import sqlglot

    done = tierline("sql", SYNTHESIS, "--dialect", dialect, "--map", "topics=category_1,category_2")
    assert done.returncode == 0, done.stderr
    query = done.stdout.rstrip().rstrip(";")
    assert "__tierline" not in query and "category_2" in query
    assert '"topics"' not in query and "`topics`" not in query  # no column of that name
    sqlglot.parse_one(query, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
