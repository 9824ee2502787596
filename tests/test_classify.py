"""`tierline classify`: files in, files out, on DuckDB, through the real command."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
import pytest

from engine import ClassifyError, load_ruleset
from tests.conftest import RULES, SHARED_DATA, tierline

SYNTHESIS = str(RULES / "synthesis.tiers")
HEADER = "id,followers,engagement_rate,topics,platform\n"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_text_cells_are_read_as_the_rules_declare(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(
        HEADER
        + "a,45k,4.2%,fashion,instagram\n"
        + 'b,"1,200",0.5%,tech;gaming,tiktok\n'
        + 'c,475.8m,1.39%,["tech"],youtube\n'
        + "d,12_000,0.035,,instagram\n"
    )
    out = tmp_path / "tiers.csv"
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 0, done.stderr
    got = {r["id"]: (r["tier"], r["labels"], r["error"]) for r in rows(out)}
    assert got == {
        "a": ("micro", "fashion_expert", ""),
        "b": ("nano", "", ""),
        "c": ("mega", "", ""),
        "d": ("micro", "", ""),
    }
    assert "4 rows" in done.stderr and "0 with errors" in done.stderr


def test_a_bad_row_gets_its_error_and_the_run_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(HEADER + "a,45k!,4.2%,fashion,instagram\nb,-5,1%,,x\nc,2000,1%,,x\n")
    out = tmp_path / "tiers.csv"
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 1
    got = {r["id"]: r for r in rows(out)}
    assert got["a"]["tier"] == "" and got["a"]["error"] == (
        "invalid account: followers: expected a count (a whole number, 0 or more), "
        'got "45k!" (a text)'
    )
    assert "followers: expected a count" in got["b"]["error"] and got["b"]["tier"] == ""
    assert got["c"]["tier"] == "nano" and got["c"]["error"] == ""
    assert "2 with errors" in done.stderr


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_formats_in_and_out_with_the_row_number_as_id(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / "accounts.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES (45000, 0.042, ['fashion'], 'instagram'), "
        "(500, 0.01, [], 'tiktok')) AS t(followers, engagement_rate, topics, platform)"
    ).write_parquet(str(source))
    out = tmp_path / f"tiers{suffix}"
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 0, done.stderr
    read = {".parquet": "read_parquet", ".jsonl": "read_json", ".csv": "read_csv"}[suffix]
    got = duckdb.sql(f"SELECT row, tier FROM {read}('{out}') ORDER BY row").fetchall()
    assert got == [(1, "micro"), (2, None)]


def test_globs_map_and_keep_columns(tmp_path: Path) -> None:
    for n, followers in enumerate(["45000", "2000"]):
        (tmp_path / f"part{n}.csv").write_text(
            "handle,Follower Count,engagement_rate,topics,platform\n"
            f"h{n},{followers},0.042,fashion,instagram\n"
        )
    out = tmp_path / "tiers.csv"
    done = tierline(
        "classify", SYNTHESIS, str(tmp_path / "part*.csv"), "-o", str(out),
        "--id", "handle", "--map", "followers=Follower  Count", "--keep-columns",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = rows(out)
    assert [(r["handle"], r["tier"], r["platform"]) for r in got] == [
        ("h0", "micro", "instagram"),
        ("h1", "nano", "instagram"),
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--map", "folowers=x"], "--map names folowers, which the rules do not declare"),
        (["--id", "nope"], "--id nope: no such column"),
        (["-o", "out.xlsx"], "write .csv, .parquet or .jsonl"),
    ],
)
def test_usage_errors_say_what_to_do(tmp_path: Path, args: list[str], said: str) -> None:
    source = tmp_path / "export.csv"
    source.write_text(HEADER + "a,45k,4.2%,fashion,instagram\n")
    output = ["-o", str(tmp_path / "out.csv")] if "-o" not in args else []
    done = tierline("classify", SYNTHESIS, str(source), *output, *args)
    assert done.returncode == 2 and said in done.stderr, done.stderr


def test_a_missing_column_names_the_input_and_the_columns(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text("id,subscribers\na,45000\n")
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert "no column for the input followers" in done.stderr
    assert "use --map followers=COLUMN" in done.stderr


KIM = SHARED_DATA / "kim2020_instagram_influencers" / "influencers.txt"


@pytest.mark.skipif(not KIM.exists(), reason="the shared data set is absent")
def test_the_kim_file_as_it_is_agrees_with_the_python_evaluator(tmp_path: Path) -> None:
    """33,935 accounts, the `====` line under the header left out, each tier the
    Python evaluator's on the same follower count."""
    rules = tmp_path / "kim.tiers"
    rules.write_text(
        "ruleset kim\ninput followers: count\n"
        "tier macro when followers at least 500k\ntier mid when followers at least 50k\n"
        "tier micro when followers at least 10k\ntier nano when followers at least 1k\n"
        "otherwise none\n"
    )
    out = tmp_path / "kim.csv"
    done = tierline("classify", str(rules), str(KIM), "-o", str(out),
                    "--map", "followers=#Followers", "--id", "Username")  # fmt: skip
    assert done.returncode == 0, done.stderr
    ruleset = load_ruleset(rules)
    source = KIM.read_text(encoding="utf-8").splitlines()[2:]
    got = rows(out)
    assert len(got) == len(source) == 33_935
    for line, row in zip(source, got, strict=True):
        name, _category, followers, *_rest = line.split("\t")
        assert row["Username"] == name
        try:
            expected = ruleset.classify({"followers": int(followers)}).tier or ""
        except ClassifyError:  # pragma: no cover - the file's counts are all whole
            expected = ""
        assert row["tier"] == expected, (line, row)


SCRAPED = SHARED_DATA / "social_media_influencers_2022"


@pytest.mark.slow
@pytest.mark.skipif(not SCRAPED.exists(), reason="the shared data set is absent")
def test_scraped_files_read_their_abbreviated_counts_as_the_exact_ones(tmp_path: Path) -> None:
    """Each scraped file gives every count twice under one header (`13.8M`, then
    13800000): read as `Subscribers` and `Subscribers_1`, they must give the same tiers."""
    rules = tmp_path / "iab.tiers"
    rules.write_text(
        "ruleset iab\ninput followers: count\ntier top when followers at least 1M\n"
        "tier micro when followers at least 10k\notherwise none\n"
    )
    compared = 0
    for source in sorted(SCRAPED.glob("*.csv")):
        names = duckdb.sql(
            f"SELECT * FROM read_csv('{source}', header = true, all_varchar = true, "
            "null_padding = true, strict_mode = false) LIMIT 0"
        ).columns
        counted = [
            n for n in names
            if f"{n}_1" in names and ("subscriber" in n.lower() or "follower" in n.lower())
        ]  # fmt: skip
        if not counted:
            continue
        outputs = []
        for column in (counted[0], f"{counted[0]}_1"):
            out = tmp_path / f"{source.stem}-{column}.csv"
            done = tierline("classify", str(rules), str(source), "-o", str(out),
                            "--map", f"followers={column}")  # fmt: skip
            assert done.returncode in (0, 1), done.stderr
            outputs.append(rows(out))
        abbreviated, exact = outputs
        assert len(abbreviated) == len(exact)
        for a, e in zip(abbreviated, exact, strict=True):
            if not a["error"] and not e["error"]:
                assert a["tier"] == e["tier"], (source.name, a, e)
                compared += 1
    assert compared > 10_000


SHARED_FILES = sorted(
    p for p in SHARED_DATA.glob("*/*") if p.suffix in (".csv", ".txt")
) if SHARED_DATA.is_dir() else []  # fmt: skip
OPTIONAL_FOLLOWERS = (
    "ruleset reach\ninput followers: count optional default 0\n"
    "tier big when followers at least 1M\notherwise none\n"
)


def _cells(path: Path) -> list[list[str]]:
    """The file's records as Python's csv module reads them (bytes that are not UTF-8
    as U+FFFD, as tierline reads them)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return list(csv.reader(handle, delimiter="\t" if path.suffix == ".txt" else ","))


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_FILES, reason="the shared data set is absent")
@pytest.mark.parametrize("source", SHARED_FILES, ids=lambda p: p.name)
def test_keep_columns_to_csv_on_every_shared_file(tmp_path: Path, source: Path) -> None:
    """Every file of ../shared/data/influencers classifies to CSV with its columns kept
    (issue 23: the scraped Instagram file failed with a DuckDB sniffing error after the
    output was written; the YouTube statistics are not all UTF-8; the posts have line
    breaks in quoted cells), and each kept cell is the file's own."""
    rules = tmp_path / "reach.tiers"
    rules.write_text(OPTIONAL_FOLLOWERS)
    out = tmp_path / "out.csv"
    done = tierline("classify", str(rules), str(source), "-o", str(out), "--keep-columns")
    assert done.returncode in (0, 1), done.stderr
    assert "rows in" in done.stderr and "Error" not in done.stderr, done.stderr
    written = _cells(out)
    header, body = written[0], written[1:]
    assert header[-4:] == ["tier", "labels", "rule", "error"]
    assert f"{len(body):,} rows" in done.stderr
    records = [r for r in _cells(source)[1:] if not (len(r) == 1 and set(r[0]) <= set("=-+"))]
    assert len(body) == len(records)
    kept = len(header) - 5  # the row number first, the four results last
    for record, row in zip(records, body, strict=True):
        padded = (record + [""] * kept)[:kept]
        assert row[1 : 1 + kept] == padded, (source.name, record, row)
    assert not list(tmp_path.glob(".*.part")), "the partial file stays behind"


def test_a_run_that_fails_leaves_the_earlier_output_and_no_partial_file(tmp_path: Path) -> None:
    """DuckDB meets a broken line far into the file while it writes: the run fails (1),
    the output of an earlier run is still there, whole, and no partial file is left."""
    source = tmp_path / "accounts.jsonl"
    line = (
        '{"id": %d, "followers": 45000, "engagement_rate": 0.042, "topics": [], "platform": "x"}\n'
    )
    source.write_text("".join(line % i for i in range(60_000)) + '{"id": 1, "followers": \n')
    out = tmp_path / "tiers.csv"
    out.write_text("id,tier\nearlier,micro\n")
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 1 and "Malformed JSON" in done.stderr, done.stderr
    assert out.read_text() == "id,tier\nearlier,micro\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.jsonl", "tiers.csv"]
    source.write_text(line % 1)
    out.unlink()
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 0, done.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not the partial file's 0600


def test_output_appears_only_when_whole(tmp_path: Path) -> None:
    """`beside`: what is written goes to a partial file beside the output, renamed to it
    when the block ends well and removed when it fails after writing."""
    from tierline.tables.classify import beside

    out = tmp_path / "tiers.csv"
    out.write_text("earlier\n")
    with pytest.raises(RuntimeError), beside(str(out)) as partial:
        Path(partial).write_text("half a fi")
        assert Path(partial).parent == tmp_path and not out.read_text().startswith("half")
        raise RuntimeError("the count failed after the file was written")
    assert out.read_text() == "earlier\n" and list(tmp_path.iterdir()) == [out]
    with beside(str(out)) as partial:
        assert not Path(partial).exists()  # the writer creates it, with its permissions
        Path(partial).write_text("whole\n")
    assert out.read_text() == "whole\n" and list(tmp_path.iterdir()) == [out]


def test_an_output_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_text(HEADER + "a,45k,4.2%,fashion,instagram\n")
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(tmp_path / "nope" / "o.csv"))
    assert done.returncode == 2, done.stderr
    assert f"cannot write {tmp_path / 'nope' / 'o.csv'}: No such file or directory" in done.stderr


def test_a_set_whose_sampled_rows_are_all_empty_reads_as_texts(tmp_path: Path) -> None:
    """DuckDB types a JSON-lines array that is empty in every sampled row `JSON[]`: its
    items are read as texts, not compared as JSON with the rules' texts (which failed
    the whole run with a conversion error)."""
    source = tmp_path / "accounts.jsonl"
    row = '{"id": %d, "followers": 45000, "engagement_rate": 0.042, "topics": %s, "platform": "x"}'
    source.write_text(row % (1, "[]") + "\n")
    out = tmp_path / "tiers.jsonl"
    done = tierline("classify", SYNTHESIS, str(source), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert duckdb.sql(f"SELECT tier, labels FROM read_json('{out}')").fetchall() == [("micro", [])]
