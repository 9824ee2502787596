"""`tierline compare` and `tierline diff --data`: exact matrices on hand-made tables
(tests/cases/compare, tests/cases/diff), the same counts as the Python evaluator on
generated rulesets and accounts, git revisions, exit codes, and the reports."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ClassifyError, Ruleset
from engine.language.source import Source
from engine.load import check_source
from tests.conftest import ROOT, SHARED_DATA, tierline
from tests.typed_rules import PLATFORMS, TOPICS, rulesets
from tierline.reports.values import merged_order
from tierline.tables.compare import compare
from tierline.tables.joint import REFUSED
from tierline.tables.migration import migrate

CASES = Path(__file__).parent / "cases"
KIM = SHARED_DATA / "kim2020_instagram_influencers" / "influencers.txt"
KIM_MAP = [
    "--map",
    "followers=#Followers",
    "--map",
    "followees=#Followees",
    "--map",
    "posts=#Posts",
    "--map",
    "category=Category",
    "--id",
    "Username",
]


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# ------------------------------------------------------------ hand-made tables


@pytest.mark.parametrize("case", sorted(p.name for p in (CASES / "diff").iterdir()))
def test_diff_gives_the_expected_matrix(case: str) -> None:
    folder = CASES / "diff" / case
    expected = json.loads((folder / "expected.json").read_text())
    data = next(p for p in folder.iterdir() if p.stem == "accounts")
    done = tierline(
        "diff",
        str(folder / "old.tiers"),
        str(folder / "new.tiers"),
        "--data",
        str(data),
        "--format",
        "json",
        "--examples",
        "5",
    )
    got = _json(done)
    for key in ("rows", "changed", "relabelled", "labels"):
        assert got[key] == expected[key], key
    assert [{k: cell[k] for k in ("from", "to", "count")} for cell in got["matrix"]] == expected[
        "matrix"
    ]
    assert all(cell["share"] == round(cell["count"] / got["rows"], 6) for cell in got["matrix"])
    assert sum(cell["count"] for cell in got["matrix"]) == got["rows"]
    ids: dict[str, list[str]] = {}
    for example in got["examples"]:
        ids.setdefault(f"{example['from']} -> {example['to']}", []).append(example["id"])
        assert example["old"]["tier"] == example["from"]
        assert example["new"]["tier"] == example["to"]
        assert example["old"]["explanation"] and example["new"]["why"]
    assert {k: sorted(v) for k, v in ids.items()} == expected["example_ids"]


@pytest.mark.parametrize("case", sorted(p.name for p in (CASES / "compare").iterdir()))
def test_compare_gives_the_expected_counts(case: str) -> None:
    folder = CASES / "compare" / case
    expected = json.loads((folder / "expected.json").read_text())
    rules = [str((folder / r).resolve()) for r in expected["rulesets"]]
    done = tierline("compare", *rules, "--data", str(folder / "accounts.jsonl"), "--format", "json")
    got = _json(done)
    assert got["rows"] == expected["rows"]
    assert got["counts"] == expected["counts"]
    assert got["agreement"]["focus"] == expected["focus"]
    assert got["agreement"]["unanimous"] == expected["unanimous"]
    pair = next(
        p
        for p in got["agreement"]["pairs"]
        if (p["a"], p["b"]) == (expected["pair"]["a"], expected["pair"]["b"])
    )
    for key in ("same", "both_focus", "either_focus"):
        assert pair[key] == expected["pair"][key], key
    assert sorted(pair["cross"], key=str) == sorted(expected["pair"]["cross"], key=str)
    for dispute in got["agreement"]["disputed"]:
        assert len(set(dispute["tiers"].values())) > 1 and dispute["examples"]


# --------------------------------------------- generated data, against Python


def _ruleset(text: str) -> Ruleset:
    return Ruleset(check_source(Source(text, "generated.tiers"), analyse=False))


def _outcome(ruleset: Ruleset, account: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    try:
        decision = ruleset.classify(account)
    except ClassifyError:
        return REFUSED, ()
    return decision.tier or "", tuple(decision.labels)


@pytest.fixture(scope="module")
def generated_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """300 accounts over the generated rulesets' inputs, heavy on their boundaries."""
    pick = random.Random(15).choice
    rows: list[dict[str, Any]] = []
    for i in range(300):
        row: dict[str, Any] = {
            "id": f"r{i}",
            "followers": pick(
                [0, 1, 999, 1000, 9999, 10_000, 100_000, 1_000_000, 1_000_001, 54_321]
            ),
            "posts": pick([0, 1, 10, 1000]),
            "engagement_rate": pick([0.0, 0.0099, 0.01, 0.0349, 0.035, 0.5, 1.0]),
            "score": pick([-2.5, 0.0, 0.5, 3.0, 1000.0, 12.25]),
            "platform": pick(PLATFORMS),
            "topics": sorted({pick(TOPICS) for _ in range(pick([0, 1, 2, 3]))}),
        }
        if i % 3:
            row["verified"] = pick([True, False])
        if i % 37 == 0:
            row["followers"] = -1  # refused: a negative count
        rows.append(row)
    path = tmp_path_factory.mktemp("generated") / "accounts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path, rows


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(old=rulesets(), new=rulesets())
def test_diff_counts_every_row_as_the_python_evaluator_does(
    generated_table: tuple[Path, list[dict[str, Any]]], old: str, new: str
) -> None:
    path, rows = generated_table
    before, after = _ruleset(old), _ruleset(new)
    found = migrate(before, after, [str(path)], examples=2)
    matrix: Counter[tuple[str, str]] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for row in rows:
        account = {k: v for k, v in row.items() if k != "id"}
        (t0, l0), (t1, l1) = _outcome(before, account), _outcome(after, account)
        matrix[(t0, t1)] += 1
        gained.update(set(l1) - set(l0))
        lost.update(set(l0) - set(l1))
    assert found.matrix == dict(matrix)
    assert {n: g for n, (g, _) in found.labels.items() if g} == dict(gained)
    assert {n: x for n, (_, x) in found.labels.items() if x} == dict(lost)
    for (a, b), moved in found.examples.items():
        assert len(moved) <= 2
        for m in moved:  # replayed through Python: the SQL's cell
            assert (m.old.tier, m.new.tier) == (a, b)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(rulesets(), min_size=3, max_size=3))
def test_compare_counts_as_the_python_evaluator_does(
    generated_table: tuple[Path, list[dict[str, Any]]], texts: list[str]
) -> None:
    path, rows = generated_table
    rs = [_ruleset(t.replace("ruleset generated", f"ruleset g{i}")) for i, t in enumerate(texts)]
    found = compare(rs, [str(path)], examples=1)
    joint: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        account = {k: v for k, v in row.items() if k != "id"}
        joint[tuple(_outcome(r, account)[0] for r in rs)] += 1
    for i, r in enumerate(rs):
        counted = Counter(key[i] for key in joint.elements())
        assert {t: c for t, c in found.counts[r.name].items() if c} == dict(counted)
    unanimous = {k[0]: c for k, c in joint.items() if len(set(k)) == 1}
    assert found.unanimous == unanimous
    for pair in found.pairs:
        i, j = found.names.index(pair.a), found.names.index(pair.b)
        cross = Counter()
        for key, c in joint.items():
            cross[(key[i], key[j])] += c
        assert pair.cross == dict(cross)


# --------------------------------------------------------- the command line


def test_diff_reads_a_git_revision_and_fails_on_change(tmp_path: Path) -> None:
    folder = CASES / "diff" / "floor_lowered"
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, timeout=30)
    rules = repo / "rules.tiers"
    rules.write_text((folder / "old.tiers").read_text())
    subprocess.run([*git, "add", "rules.tiers"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "old"], check=True, timeout=30)
    rules.write_text((folder / "new.tiers").read_text())
    data = str(folder / "accounts.csv")
    old, new = "main:rules.tiers", "rules.tiers"
    changed = tierline(
        "diff", old, new, "--data", data, "--format", "markdown", "--fail-on-change", cwd=repo
    )
    assert changed.returncode == 1, changed.stderr
    assert "# nano_floor 1 → nano_floor 2: what changes on 11 accounts" in changed.stdout
    assert "| nano | **3 (27.3%)** | 2 (18.2%) | 0 | 0 |" in changed.stdout  # the cell that moves
    assert tierline("diff", old, new, "--data", data, cwd=repo).returncode == 0
    same = tierline("diff", old, old, "--data", data, "--fail-on-change", cwd=repo)
    assert same.returncode == 0, same.stderr
    assert "No row changes tier or labels" in same.stdout
    missing = tierline("diff", "nosuch:rules.tiers", new, "--data", data, cwd=repo)
    assert missing.returncode == 2
    assert "nosuch:rules.tiers: git cannot show it" in missing.stderr


def test_usage_errors_say_what_to_do(tmp_path: Path) -> None:
    folder = CASES / "diff" / "floor_lowered"
    old, new, data = (str(folder / n) for n in ("old.tiers", "new.tiers", "accounts.csv"))
    no_data = tierline("diff", old, new, "--fail-on-change")  # decided from the rules alone
    assert no_data.returncode == 1 and "can move between" in no_data.stdout
    one = tierline("compare", old, "--data", data)
    assert one.returncode == 2 and "two rule files or more" in one.stderr
    twice = tierline("compare", old, new, "--data", data)
    assert twice.returncode == 2 and "use tierline diff" in twice.stderr
    column = tierline("diff", old, new, "--data", data, "--map", "followers=fans")
    assert column.returncode == 2 and "fans" in column.stderr
    broken = tmp_path / "broken.tiers"
    broken.write_text("ruleset b\ninput followers: count\ntier x when folowers above 1\n")
    bad = tierline("diff", old, str(broken), "--data", data)
    assert bad.returncode == 1 and "did you mean 'followers'?" in bad.stdout
    clash = tmp_path / "clash.tiers"
    clash.write_text("ruleset c\ninput followers: number\ntier x when followers above 1\n")
    types = tierline("compare", old, str(clash), "--data", data)
    assert types.returncode == 2 and "different types" in types.stderr


def test_the_html_report_stands_alone(tmp_path: Path) -> None:
    folder = CASES / "diff" / "floor_lowered"
    out = tmp_path / "report.html"
    done = tierline(
        "diff",
        str(folder / "old.tiers"),
        str(folder / "new.tiers"),
        "--data",
        str(folder / "accounts.csv"),
        "--format",
        "html",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.count("<svg") == 1 and "Where the change moves accounts" in page
    assert "<script" not in page and "src=" not in page  # nothing to fetch: one file
    assert '<td class="n mark">3 (27.3%)</td>' in page  # the moved cell, stressed
    assert "nano_floor 1 → nano_floor 2" in page
    compared = tmp_path / "compare.html"
    defs = sorted(str(p) for p in (ROOT / "definitions/followers_only").glob("*.tiers"))
    done = tierline(
        "compare",
        *defs,
        "--data",
        str(CASES / "compare/five_definitions/accounts.jsonl"),
        "--format",
        "html",
        "-o",
        str(compared),
    )
    assert done.returncode == 0, done.stderr
    page = compared.read_text()
    assert page.count("<svg") == 2 and "<script" not in page


def test_merged_order_keeps_each_rulesets_order() -> None:
    orders = [
        ("mega", "macro", "micro", "nano", ""),
        ("vip", "top", "macro", "mid", "micro", "nano"),
        ("micro", "", "(error)"),
    ]
    merged = merged_order(orders)
    assert merged == ["vip", "top", "mega", "macro", "mid", "micro", "nano", "", "(error)"]
    for order in orders:
        positions = [merged.index(t) for t in order]
        assert positions == sorted(positions)


@pytest.mark.skipif(not KIM.exists(), reason="the shared data set is absent")
def test_the_definitions_disagree_on_the_kim_accounts() -> None:
    defs = sorted(str(p) for p in (ROOT / "definitions/followers_only").glob("*.tiers"))
    got = _json(tierline("compare", *defs, "--data", str(KIM), *KIM_MAP, "--format", "json"))
    assert got["rows"] == 33_935
    for name, counts in got["counts"].items():
        assert sum(counts.values()) == 33_935, name
    assert got["counts"]["gnack"]["micro"] == 12_686
    assert got["agreement"]["focus"]["by_how_many"]["5"] == 0
