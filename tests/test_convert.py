"""The per-ruleset account reader of ClassifyBatch reads what the general reader reads.

The reader takes a field's value from the field of its declared type and trusts it when
it is not the default, so these tests send every kind to every type, the defaults
(0, 0.0, "", false, an empty list) included, with fields missing and fields extra."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ClassifyError, load_ruleset
from server.convert import account_reader, account_values
from server.pb import pb

SOURCE = """ruleset every_type
input followers: count
input rate: number
input share: percent optional default 0%
input platform: text
input verified: flag optional default false
input topics: set of text
tier big when followers at least 1000
tier small when followers below 1000
"""
RULESET = load_ruleset(text=SOURCE)
NAMES = [*RULESET.checked.inputs, "extra"]

KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int_value": st.sampled_from([0, 1, -1, 2**63 - 1]) | st.integers(-(2**63), 2**63 - 1),
    "double_value": st.sampled_from([0.0, -0.0, 1.5, float("nan"), float("inf")]) | st.floats(),
    "string_value": st.sampled_from(["", "instagram"]) | st.text('aé"\\ü0', max_size=5),
    "bool_value": st.booleans(),
    "string_list": st.lists(st.sampled_from(["", "beauty", "food"]), max_size=3),
    "none": st.none(),
}


@st.composite
def accounts(draw: st.DrawFn) -> pb.Account:
    account = pb.Account(id="a")
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        kind = draw(st.sampled_from(sorted(KINDS)))
        value = draw(KINDS[kind])
        field = account.attributes[name]  # an entry, even when no kind is set
        if kind == "string_list":
            field.string_list.SetInParent()
            field.string_list.values.extend(value)
        elif kind != "none":
            setattr(field, kind, value)
    return account


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN to NaN and -0.0 only to -0.0 included."""
    return repr(a) == repr(b) and type(a) is type(b)


@settings(suppress_health_check=[HealthCheck.too_slow])  # a fresh clone's first draws
@given(accounts())
def test_the_generated_reader_reads_every_kind_as_the_general_reader(account: pb.Account) -> None:
    wire = account.SerializeToString()
    read = account_reader(RULESET.checked.inputs)(account)
    expected = account_values(pb.Account.FromString(wire))
    assert read.keys() == expected.keys()
    assert all(_same(read[k], expected[k]) for k in expected), (read, expected)
    assert account.SerializeToString() == wire  # reading added no entry
    outcomes = []
    for values in (read, expected):
        try:
            outcomes.append(RULESET.classify(values).tier)
        except ClassifyError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]


def test_a_reader_is_made_once_per_set_of_declared_inputs() -> None:
    again = load_ruleset(text=SOURCE.replace("every_type", "copy"))
    assert account_reader(again.checked.inputs) is account_reader(RULESET.checked.inputs)
