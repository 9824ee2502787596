"""Reports that do not mislead (issue 23, item 8), through `tierline compare`, `diff`
and `classify` as a user runs them: a share of nothing (0 of 0) is "—" in every
format and chart (null in JSON), never 100%; the agreement headline stays true when
no account is in the focus tier; labels are counted per definition and shown with
the disputed examples; a table with no row in the focus tier is warned about; a
missing input column names the rulesets that need it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import RULES, tierline

ALPHA = """ruleset alpha
input followers: count
input topics: set of text
tier micro when followers between 10k and 100k
tier nano when followers below 10k
label fashionable when topics has any of {"fashion"}
otherwise none
"""
BETA = """ruleset beta
input followers: count
input topics: set of text
tier micro when followers between 5k and 50k
tier big when followers above 50k
label techie when topics has any of {"tech"}
otherwise none
"""
# No account is micro under either definition: every overlap is 0 of 0.
NO_MICRO = "id,followers,topics\na,2M,fashion\nb,3M,tech;fashion\nc,500,tech\n"
# d is micro under beta only: alpha's own micro is 0 of 0, the pair's overlap 0 of 1.
ONE_MICRO = NO_MICRO + "d,7k,\n"


def compare(tmp_path: Path, data: str, *args: str) -> tuple[int, str, str]:
    (tmp_path / "alpha.tiers").write_text(ALPHA)
    (tmp_path / "beta.tiers").write_text(BETA)
    (tmp_path / "accounts.csv").write_text(data)
    done = tierline("compare", str(tmp_path / "alpha.tiers"), str(tmp_path / "beta.tiers"),
                    "--data", str(tmp_path / "accounts.csv"), *args)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def chart_texts(page: str, title: str) -> list[str]:
    """The texts drawn in the cells (not the legend, not the axes) of the chart titled
    `title`, in the HTML page's inline SVG."""
    svg = next(s for s in re.findall(r"<svg.*?</svg>", page, re.S) if title in s)
    marks = re.search(r'<g class="mark-text role-mark layer_2_marks"[^>]*>(.*?)</g>', svg, re.S)
    assert marks is not None
    return re.findall(r"<text[^>]*>([^<]*)</text>", marks.group(1))


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_no_account_in_the_focus_tier_reads_true_in_text_and_markdown(
    tmp_path: Path, fmt: str
) -> None:
    code, out, err = compare(tmp_path, NO_MICRO, "--format", fmt)
    assert code == 0, err
    assert "at most 0" not in out
    assert (
        "No account is micro under any of the 2 definitions: all 3 rows are micro under none."
        in out
    )
    cells = [line.replace("|", " ").split() for line in out.splitlines()]
    overlap = [c for c in cells if c[:2] == ["alpha", "beta"] and c[2].isdigit()]
    assert len(overlap) == 1 and overlap[0][-1] == "—"  # the pair's overlap, 0 of 0
    assert "100%" not in out.replace("100.0%", "")  # the one whole share is "3 (100.0%)" under none
    assert "warning: no row of the data is micro under any definition" in err
    assert "Warning: no row of the data is micro under any definition" in out


def test_a_share_of_nothing_is_null_in_json_with_the_warning(tmp_path: Path) -> None:
    code, out, err = compare(tmp_path, NO_MICRO, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    pair = report["agreement"]["pairs"][0]
    assert (pair["both_focus"], pair["either_focus"], pair["focus_overlap"]) == (0, 0, None)
    assert report["warnings"][0].startswith("no row of the data is micro under any definition")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = compare(empty, "id,followers,topics\n", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["rows"] == 0 and report["agreement"]["pairs"][0]["share"] is None
    assert report["warnings"] == ["the data has no rows: there is nothing to compare"]


def test_the_html_heatmap_shows_a_dash_for_0_of_0(tmp_path: Path) -> None:
    """The heatmap "the share both call micro" drew 100% where neither definition has a
    single micro account; its cells now read "—" there, and a real share elsewhere."""
    title = "Of the accounts either definition calls micro, the share both do"
    code, _out, err = compare(
        tmp_path, NO_MICRO, "--format", "html", "-o", str(tmp_path / "r.html")
    )
    assert code == 0, err
    assert chart_texts((tmp_path / "r.html").read_text(), title) == ["—"] * 4
    code, _out, err = compare(
        tmp_path, ONE_MICRO, "--format", "html", "-o", str(tmp_path / "s.html")
    )
    assert code == 0, err
    page = (tmp_path / "s.html").read_text()
    # row by row: alpha-alpha 0 of 0, alpha-beta 0 of 1, beta-alpha 0 of 1, beta-beta 1 of 1
    cells = chart_texts(page, title)
    assert sorted(cells) == sorted(["—", "0%", "0%", "100%"])
    assert "Warning:" not in page


def test_no_two_agreeing_is_said_plainly(tmp_path: Path) -> None:
    code, out, err = compare(tmp_path, ONE_MICRO)
    assert code == 0, err
    assert "No account is micro under two definitions or more: no two agree on any" in out
    assert "at most 1 agree" not in out and "warning" not in err


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_labels_are_counted_and_shown_with_the_disputed_examples(tmp_path: Path, fmt: str) -> None:
    code, out, err = compare(tmp_path, NO_MICRO, "--format", fmt)
    assert code == 0, err
    text = re.sub(r"<[^>]+>", " ", out) if fmt == "html" else out.replace("|", " ")
    counts = {line.split()[0]: line.split()[1:] for line in text.splitlines()
              if line.split()[:1] in (["fashionable"], ["techie"])}  # fmt: skip
    assert counts == {"fashionable": ["2", "(66.7%)", "—"], "techie": ["—", "2", "(66.7%)"]}
    assert "[labels: alpha: fashionable; beta: techie]" in out
    assert "c: followers 500, topics {&#34;tech&#34;} [labels: beta: techie]" in out or (
        'c: followers 500, topics {"tech"} [labels: beta: techie]' in out
    )


def test_labels_in_the_json_report(tmp_path: Path) -> None:
    code, out, err = compare(tmp_path, NO_MICRO, "--format", "json", "--id", "id")
    assert code == 0, err
    report = json.loads(out)
    assert report["labels"] == {"alpha": {"fashionable": 2}, "beta": {"techie": 2}}
    examples = {e["id"]: e for d in report["agreement"]["disputed"] for e in d["examples"]}
    assert examples["b"]["labels"] == {"alpha": ["fashionable"], "beta": ["techie"]}
    assert examples["c"]["labels"] == {"alpha": [], "beta": ["techie"]}
    assert report["counts"]["alpha"] == {"micro": 0, "nano": 1, "": 2}  # the contract's shape


def test_a_focus_tier_no_definition_has_is_a_usage_error(tmp_path: Path) -> None:
    code, _out, err = compare(tmp_path, NO_MICRO, "--tier", "mikro")
    assert code == 2
    assert "--tier mikro: no definition has that tier (they have micro, nano, big)" in err


def test_a_missing_column_names_the_rulesets_that_need_it(tmp_path: Path) -> None:
    (tmp_path / "alpha.tiers").write_text(ALPHA)
    (tmp_path / "beta.tiers").write_text(BETA)
    data = tmp_path / "accounts.csv"
    data.write_text("id,followers\na,45000\n")
    both = tierline("compare", str(tmp_path / "alpha.tiers"), str(tmp_path / "beta.tiers"),
                    "--data", str(data))  # fmt: skip
    assert both.returncode == 2
    assert (
        "no column for the input topics, which rulesets alpha, beta require: the files have "
        "'id', 'followers'; use --map topics=COLUMN; or, since no tier of alpha, beta reads "
        "it, declare it optional in each: `input topics: set of text optional`"
    ) in both.stderr
    diff = tierline("diff", str(tmp_path / "alpha.tiers"), str(tmp_path / "alpha.tiers"),
                    "--data", str(data))  # fmt: skip
    assert diff.returncode == 2 and "which ruleset alpha requires" in diff.stderr


def test_classify_suggests_optional_only_where_no_tier_reads_the_input(tmp_path: Path) -> None:
    """fake_follower_ratio-like inputs that only labels read may be optional; one that a
    tier reads may not: a default would give a tier that looks right and is not."""
    data = tmp_path / "accounts.csv"
    data.write_text("id,followers,engagement_rate,platform\na,45000,4.2%,instagram\n")
    done = tierline("classify", str(RULES / "synthesis.tiers"), str(data), "-o",
                    str(tmp_path / "o.csv"))  # fmt: skip
    assert done.returncode == 2
    assert (
        "no column for the input topics, which ruleset synthesis requires: the files have "
        "'id', 'followers', 'engagement_rate', 'platform'; use --map topics=COLUMN; or, since "
        "no tier of synthesis reads it, declare it optional there: "
        "`input topics: set of text optional`"
    ) in done.stderr
    data.write_text("id,engagement_rate,topics,platform\na,4.2%,,instagram\n")
    done = tierline("classify", str(RULES / "synthesis.tiers"), str(data), "-o",
                    str(tmp_path / "o.csv"))  # fmt: skip
    assert done.returncode == 2
    assert "no column for the input followers, which ruleset synthesis requires" in done.stderr
    assert "optional" not in done.stderr


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_ids_from_data_cannot_act_on_the_terminal(tmp_path: Path, fmt: str) -> None:
    """An account id holding ESC, a bidi override and a newline (issue 24, item 7) shows
    escaped in the disputed examples of compare and the examples of diff: no raw
    control character, no forged line."""
    hostile = "ev\x1b[2Jil\u202e\nFORGED"
    data = tmp_path / "accounts.jsonl"
    data.write_text(json.dumps({"id": hostile, "followers": 7000, "topics": []}) + "\n")
    (tmp_path / "alpha.tiers").write_text(ALPHA)
    (tmp_path / "beta.tiers").write_text(BETA)
    compared = tierline("compare", str(tmp_path / "alpha.tiers"), str(tmp_path / "beta.tiers"),
                        "--data", str(data), "--format", fmt)  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    (tmp_path / "old.tiers").write_text(ALPHA)
    (tmp_path / "new.tiers").write_text(ALPHA.replace("below 10k", "below 5k"))
    diff = tierline(
        "diff", str(tmp_path / "old.tiers"), str(tmp_path / "new.tiers"),
        "--data", str(data), "--format", fmt,
    )  # fmt: skip
    for shown in (compared.stdout, diff.stdout):
        assert "\\x1b[2J" in shown and "\\u202e" in shown and "\\nFORGED" in shown
        assert "\x1b" not in shown and "\u202e" not in shown
        assert not any(line.startswith("FORGED") for line in shown.splitlines())
