"""The analysis proves what it reports: each file of tests/cases/findings gives the
findings expected.json lists (and the clean ones none), every witness shows its
finding in the compiled evaluator, the shipped rulesets give no finding, and on
generated rulesets over a small domain "no overlap" agrees with trying every
account."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ClassifyError, RuleConflict, RuleError, Ruleset
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import check_source, read_source
from engine.python.interpret import conditions
from engine.ruleset import rule_changes
from tests.conftest import ROOT, RULES, tierline

CASES = Path(__file__).parent / "cases" / "findings"
EXPECTED = json.loads((CASES / "expected.json").read_text())


def _findings(path: Path) -> list[Diagnostic]:
    try:
        return list(check_source(read_source(path)).warnings)
    except RuleError as error:
        return [d for d in error.diagnostics]


def _unchecked(path: Path) -> Ruleset:
    return Ruleset(check_source(read_source(path), analyse=False))


def _shows(finding: Diagnostic, ruleset: Ruleset) -> bool:
    """The witness, classified by the compiled evaluator, shows the finding."""
    witness = finding.witness
    assert witness is not None
    if finding.code == "overlapping-tiers":
        with pytest.raises(RuleConflict):
            ruleset.classify(witness)
        return True
    decision = ruleset.classify(witness)
    if finding.code == "uncovered":
        return decision.tier is None and decision.rule is None
    if finding.code == "unreachable-rule":  # an account of the dead tier goes to one above
        held = conditions(ruleset.checked, witness)
        dead = next(r for r in ruleset.checked.tiers if r.span.line == finding.span.line)
        return (
            held[("tier", dead.name)]
            and decision.rule is not None
            and decision.rule.line < dead.line
        )
    raise AssertionError(finding.code)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_gives_its_findings_and_witnesses_show_them(name: str) -> None:
    path = CASES / name
    found = _findings(path)
    got = [{"code": d.code, "line": d.span.line, "severity": d.severity.value,
            "witness": d.witness is not None} for d in found]  # fmt: skip
    assert sorted(got, key=str) == sorted(EXPECTED[name], key=str)
    ruleset = _unchecked(path)
    for finding in found:
        if finding.witness is not None:
            assert _shows(finding, ruleset), finding
            assert "for example" in finding.message


SHIPPED = sorted([*RULES.glob("*.tiers"), *(ROOT / "definitions").rglob("*.tiers")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_rulesets_give_no_finding(path: Path) -> None:
    assert _findings(path) == []


def test_check_json_carries_the_witness() -> None:
    done = tierline("check", str(CASES / "unique_set_overlap.tiers"), "--format", "json")
    assert done.returncode == 1
    finding = json.loads(done.stdout.splitlines()[0])
    assert finding["code"] == "overlapping-tiers"
    assert finding["witness"] == {"topics": ["beauty"], "followers": 1000}


def test_suggested_examples_pass_when_pasted(tmp_path: Path) -> None:
    source = (CASES / "uncovered.tiers").read_text()
    done = tierline("check", "--suggest-examples", str(CASES / "uncovered.tiers"))
    blocks = done.stdout.split("examples for what no example reaches\n\n", 1)[1]
    assert blocks.count('example "') == 3  # micro, nano and no tier
    pasted = tmp_path / "uncovered.tiers"
    pasted.write_text(source + "\n" + blocks)
    tested = tierline("test", str(pasted))
    assert tested.returncode == 0 and "3 passed" in tested.stdout, tested.stdout
    assert "NOTE" not in tested.stdout


def test_the_services_budget_reaches_loading_and_validation() -> None:
    """`TIERLINE_SOLVER_MS` / `tierline serve --solver-ms`: a reload and ValidateRules
    analyse with the server's budget (the undecided warning names it)."""
    from engine.registry import Registry
    from server.validation import validation

    text = (CASES / "undecided_cubes.tiers").read_text()
    loaded = Registry(solver_ms=50).load(Source(text, "cubes.tiers"))
    assert loaded.accepted and loaded.entry.serving is not None
    warnings = loaded.entry.serving.checked.warnings
    assert [w.code for w in warnings] == ["analysis-undecided"] and "50 ms" in warnings[0].message
    checked = validation(text, "cubes.tiers", 50)
    assert [d.code for d in checked.diagnostics] == ["analysis-undecided"]
    assert "within 50 ms" in checked.diagnostics[0].message


# --------------------------------------------------- diff from the rules alone


def _text(body: str) -> Ruleset:
    return Ruleset(check_source(Source(body, "v.tiers"), analyse=False))


def test_integer_semantics_make_two_spellings_equivalent() -> None:
    head = "ruleset s\ninput followers: count\n"
    old = _text(head + "tier macro when followers above 100k\notherwise none\n")
    new = _text(head + "tier macro when followers >= 100_001\notherwise none\n")
    assert rule_changes(old, new).equivalent
    as_number = _text(
        "ruleset s\ninput followers: number\ntier macro when followers >= 100_001\notherwise none\n"
    )
    old_number = _text(
        "ruleset s\ninput followers: number\ntier macro when followers above 100k\notherwise none\n"
    )
    found = rule_changes(old_number, as_number)
    assert [(c.old, c.new) for c in found.changes] == [("macro", "")]
    witness = found.changes[0].witness
    assert witness is not None and 100_000 < witness["followers"] < 100_001


def test_every_change_is_witnessed_through_both_versions() -> None:
    old = Ruleset(check_source(read_source(RULES / "synthesis.tiers")))
    text = (
        (RULES / "synthesis.tiers")
        .read_text()
        .replace("high   at least 3.5%", "high   at least 3%")
    )
    new = _text(text.split("\nexample ")[0])
    found = rule_changes(old, new)
    assert not found.equivalent
    pairs = {(c.old, c.new) for c in found.changes if c.label is None}
    assert pairs == {("", "micro"), ("nano", "micro")}
    for change in found.changes:
        assert change.witness is not None
        before, after = old.classify(change.witness), new.classify(change.witness)
        if change.label is None:
            assert ((before.tier or ""), (after.tier or "")) == (change.old, change.new)
        else:
            assert (
                (change.label in after.labels) == change.gained != (change.label in before.labels)
            )


def test_diff_without_data_on_the_command_line() -> None:
    same = tierline("diff", str(RULES / "synthesis.tiers"), str(RULES / "synthesis.tiers"),
                    "--format", "json", "--fail-on-change")  # fmt: skip
    assert same.returncode == 0 and json.loads(same.stdout) == {"equivalent": True}
    moved = tierline("diff", str(RULES / "gnack.tiers"), str(RULES / "agency.tiers"),
                     "--format", "json", "--fail-on-change")  # fmt: skip
    assert moved.returncode == 1
    changes = json.loads(moved.stdout)["changes"]
    assert {(c["from"], c["to"]) for c in changes} == {("micro", ""), ("", "micro")}


# ---------------------------------------- generated rulesets over a small domain

SMALL = """\
input n: count at most 20
input p: text
input f: flag
input s: set of text
"""
TEXTS = ["a", "b", "c"]
LEAVES = st.one_of(
    st.builds(lambda op, k: f"n {op} {k}", st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
              st.integers(0, 21)),
    st.builds(lambda t, neg: f'p {"!=" if neg else "=="} "{t}"', st.sampled_from(TEXTS),
              st.booleans()),
    st.builds(lambda ts: "p in {" + ", ".join(f'"{t}"' for t in ts) + "}",
              st.lists(st.sampled_from(TEXTS), min_size=1, max_size=2, unique=True)),
    st.sampled_from(["f", "not f"]),
    st.builds(lambda m, ts: f"s has {m} of " + "{" + ", ".join(f'"{t}"' for t in ts) + "}",
              st.sampled_from(["any", "all"]),
              st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True)),
)  # fmt: skip
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} and {b})", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=4,
)
ACCOUNTS = [
    {"n": n, "p": p, "f": f, "s": list(s)}
    for n, p, f, s in itertools.product(range(21), [*TEXTS, "zzz"], [True, False],
                                        [(), ("x",), ("y",), ("x", "y")])
]  # fmt: skip


def _small_ruleset(policy: str, conds: list[str]) -> str:
    """Tier t<i> on line 7 + i for each condition, over SMALL's inputs."""
    tiers = "".join(f"tier t{i} when {c}\n" for i, c in enumerate(conds))
    return f"ruleset g\npolicy {policy}\n{SMALL}{tiers}otherwise none\n"


@settings(max_examples=40, deadline=None)
@given(conds=st.lists(CONDITIONS, min_size=2, max_size=3))
def test_no_overlap_agrees_with_trying_every_account(conds: list[str]) -> None:
    body = _small_ruleset("unique", conds)
    ruleset = _text(body)
    overlapping = set()
    for account in ACCOUNTS:
        held = conditions(ruleset.checked, account)
        matched = [i for i in range(len(conds)) if held[("tier", f"t{i}")]]
        overlapping |= {(a, b) for a in matched for b in matched if a < b}
    try:
        check_source(Source(body, "g.tiers"))
        found: list[Diagnostic] = []
    except RuleError as error:
        found = [d for d in error.diagnostics if d.code == "overlapping-tiers"]
    assert bool(found) == bool(overlapping), (body, overlapping, found)
    for finding in found:
        assert finding.witness is not None
        try:
            ruleset.classify(finding.witness)
            raise AssertionError(f"no conflict for {finding.witness}")
        except ClassifyError:
            pass


@settings(max_examples=40, deadline=None)
@given(conds=st.lists(CONDITIONS, min_size=2, max_size=4))
def test_unreachable_tiers_are_exactly_those_no_account_gets(conds: list[str]) -> None:
    """Under `policy first`, over a domain small enough to try every account."""
    body = _small_ruleset("first", conds)
    ruleset = _text(body)
    reached = {ruleset.classify(account).tier for account in ACCOUNTS}
    dead = {f"t{i}" for i in range(len(conds))} - reached
    try:
        findings = list(check_source(Source(body, "g.tiers")).warnings)
    except RuleError as error:
        findings = list(error.diagnostics)
    reported = {
        f"t{d.span.line - 7}" for d in findings if d.code == "unreachable-rule"
    }  # tier i is on line 7 + i
    assert reported == dead, (body, findings)
    assert not any(d.code == "analysis-undecided" for d in findings)
    for finding in findings:
        if finding.witness is not None and finding.code == "unreachable-rule":
            assert _shows(finding, ruleset)


def test_a_count_witness_is_shown_exactly(tmp_path: Path) -> None:
    """A count past 10^15 in a finding's example is written in full, as a rule author
    would copy it into an example; it was shown as `followers 9.22337e+18`."""
    path = tmp_path / "huge.tiers"
    path.write_text(
        "ruleset huge\npolicy first\ninput followers: count\n"
        "tier small when followers below 9223372036854775807\n"
    )
    done = tierline("check", str(path))
    assert "for example followers 9,223,372,036,854,775,807;" in done.stdout, done.stdout
    assert "e+" not in done.stdout
    found = [
        json.loads(s)
        for s in tierline("check", "--format", "json", str(path)).stdout.split("\n")
        if s.strip()
    ]
    assert [f["witness"] for f in found if f["code"] == "uncovered"] == [
        {"followers": 9223372036854775807}
    ]
