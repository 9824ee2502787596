"""Whatever bytes a rule file holds, `check` answers with diagnostics, never a traceback."""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ClassifyError, Ruleset
from engine.language.diagnostics import MAX_PER_CODE, RuleError
from engine.language.source import Source
from engine.load import check_source, decode
from server.convert import DecisionEncoder
from server.pb import pb
from tests.conftest import RULES
from tests.test_differential import SHIPPED
from tests.typed_rules import SCHEMA
from tests.typed_rules import accounts as typed_accounts

SEEDS = [p.read_bytes() for p in sorted(RULES.glob("*.tiers"))]


def check_bytes(data: bytes) -> None:
    try:
        check_source(decode(data, "fuzz.tiers"))
    except RuleError as error:
        text = str(error)
        assert "Traceback" not in text
        assert all(d.span.line >= 1 and d.span.col >= 1 for d in error.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    check_bytes(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='tierwhn olfsabvgkM%0123456789_(){}",.#\n\t=<>!+-*/:', max_size=300))
def test_random_text_from_the_language_alphabet(text: str) -> None:
    check_bytes(text.encode())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False), st.integers(1, 6))
def test_mutated_shipped_rules(seed: bytes, rnd: random.Random, edits: int) -> None:
    data = bytearray(seed)
    for _ in range(edits):
        at = rnd.randrange(len(data))
        match rnd.randrange(4):
            case 0:
                del data[at : at + rnd.randrange(1, 20)]
            case 1:
                data[at:at] = rnd.choice(SEEDS)[: rnd.randrange(1, 40)]
            case 2:
                data[at] = rnd.randrange(256)
            case _:
                data[at:at] = rnd.choice([b"(", b")", b" and ", b"\n", b"%", b"not ", b"{", b'"'])
    check_bytes(bytes(data))


HOSTILE_PIECES = [
    b"9" * 400,
    b"1" + b"0" * 5000,
    b"10.000",
    b"1.500.000",
    b"3,5%",
    b"-",
    b"%",
    b"\xef\xbb\xbf",
    b" at most 100%",
    b" optional default 99999999999999999999",
    b' is not "x"',
    "“".encode(),
    b"\x1b[2J",
]


@settings(max_examples=120, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    rnd=st.randoms(use_true_random=False),
    edits=st.integers(1, 4),
    data=st.data(),
)
def test_mutated_rules_load_test_classify_and_explain_or_say_why(
    seed: bytes, rnd: random.Random, edits: int, data: st.DataObject
) -> None:
    """The whole path a saved file takes: check, load, examples, then any account through
    classify, explain and to_dict. A RuleError or a ClassifyError, never another one."""
    text = bytearray(seed)
    for _ in range(edits):
        at = rnd.randrange(len(text))
        if rnd.random() < 0.5:
            text[at:at] = rnd.choice(HOSTILE_PIECES)
        else:
            del text[at : at + rnd.randrange(1, 12)]
    try:
        ruleset = Ruleset(check_source(decode(bytes(text), "mutated.tiers")))
    except RuleError:
        return
    for result in ruleset.run_examples():
        result.expected()
        result.got()
    names = st.sampled_from([*ruleset.inputs, "extra", "id"])
    account = data.draw(st.dictionaries(names, ANY_VALUE, max_size=6))
    answers_or_refuses(ruleset, account)
    for odd in (None, [], "x", {1: "non-text key"}):
        answers_or_refuses(ruleset, odd)  # type: ignore[arg-type]


def rule_error(data: bytes) -> RuleError:
    try:
        check_source(decode(data, "x.tiers"))
    except RuleError as error:
        return error
    raise AssertionError("expected a RuleError")


def test_an_empty_file_or_one_without_tiers_is_refused() -> None:
    """An empty save would otherwise serve a ruleset that gives every account no tier."""
    for data in (b"", b"\n\n# nothing yet\n", b"ruleset cut\ninput followers: count\n"):
        assert [d.code for d in rule_error(data).diagnostics] == ["no-tiers"]


def test_binary_and_non_utf8() -> None:
    error = rule_error(b"ruleset x\n\xff\xfe\x00binary")
    assert error.diagnostics[0].code == "not-utf8"
    assert error.diagnostics[0].span.line == 2
    assert "byte 10 is 0xff" in str(error)
    assert rule_error(os.urandom(64) + b"\xff").diagnostics


def test_nul_bytes_are_reported_not_crashed() -> None:
    error = rule_error(b"ruleset x\ntier a when b\x00 > 1\n")
    assert error.diagnostics[0].code == "unexpected-character"


def test_ten_thousand_nested_parentheses() -> None:
    text = "input a: count\ntier x when " + "(" * 10_000 + "a > 1" + ")" * 10_000 + "\n"
    error = rule_error(text.encode())
    assert [d.code for d in error.diagnostics] == ["too-deep"]
    assert error.diagnostics[0].span.line == 2


def test_a_hundred_thousand_character_line() -> None:
    text = "input a: count\ntier x when " + " and ".join(["a > 1"] * 14_000) + " and @\n"
    assert len(text) > 100_000
    error = rule_error(text.encode())
    [diag] = error.diagnostics
    assert diag.span.col > 90_000
    rendered = str(error).splitlines()
    assert max(len(line) for line in rendered) < 300  # the snippet is cut around the caret


def test_ten_megabytes_finishes_promptly() -> None:
    line = b"# a comment line that pads the file to ten megabytes........\n"
    data = line * (10_000_000 // len(line)) + b"tier x when y\n"
    started = time.perf_counter()
    error = rule_error(data)
    assert time.perf_counter() - started < 30
    assert error.diagnostics[0].code == "unknown-name"


def test_many_broken_statements_are_all_reported() -> None:
    """Each is read and counted; the first MAX_PER_CODE are listed, the rest summed up
    in one summary diagnostic (issue 24: bounded diagnostics)."""
    text = "input a: count\n" + "tier x when a >\n" * 500
    diagnostics = rule_error(text.encode()).diagnostics
    assert len(diagnostics) == MAX_PER_CODE + 1
    assert sum(d.omitted or 1 for d in diagnostics) == 500
    assert diagnostics[-1].omitted == 500 - MAX_PER_CODE


# ---------------------------------------------------------------- accounts

ANY_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**63 - 1, 2**63, -(2**63), 10**400, -(10**400), 10**308, 2**1100]),
        st.floats(),  # NaN and infinities too
        st.text(max_size=8),
        st.sampled_from(["fashion", "tech", "instagram", "high", ""]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
TYPED_RULESET = (
    "ruleset typed\n"
    + SCHEMA
    + "tier huge when reach above 1M and per_post > 10\n"
    + "tier big when followers at least 100k or score < -1000\n"
    + "tier active when engagement high and not verified\n"
    + "otherwise small\n"
    + 'label chatty when per_post below 1 and topics has any of {"tech"}\n'
)
TYPED = Ruleset(check_source(Source(TYPED_RULESET, "typed.tiers"), analyse=False))


def answers_or_refuses(ruleset: Ruleset, account: dict[str, Any]) -> None:
    """A Decision with all its views, or a ClassifyError: never anything else."""
    try:
        decision = ruleset.classify(account)
    except ClassifyError:
        return
    decision.explain()
    json.dumps(decision.to_dict())
    DecisionEncoder().fill(pb.Decision(), decision, "acct", full=True)


@settings(max_examples=300, deadline=None)
@given(
    ruleset=st.sampled_from([*sorted(SHIPPED.values(), key=lambda r: r.name), TYPED]),
    data=st.data(),
)
def test_any_account_values_are_answered_or_refused(ruleset: Ruleset, data: st.DataObject) -> None:
    names = st.sampled_from([*ruleset.inputs, "extra"])
    account = data.draw(st.dictionaries(names, ANY_VALUE))
    answers_or_refuses(ruleset, account)


@settings(max_examples=200, deadline=None)
@given(
    account=typed_accounts(),
    field=st.sampled_from(["followers", "posts", "score"]),
    value=st.sampled_from([2**63 - 1, 2**62, 10**18, 1e300, -1e300, 10**300]),
)
def test_extreme_numbers_in_lets_are_answered_or_refused(
    account: dict[str, Any], field: str, value: Any
) -> None:
    """`per_post = followers / posts` and `reach = followers * engagement_rate`, at the edges."""
    answers_or_refuses(TYPED, {**account, field: value})
