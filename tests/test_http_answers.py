"""The HTTP port's fast JSON answers (`server/http/answers.py`) are the bytes that
`orjson.dumps(MessageToDict(m, always_print_fields_with_no_presence=True))` gives:
for any message of the proto (hypothesis, every field kind, NaN and the infinities,
-0.0, int64 extremes, empty and set oneofs, maps, nested messages), and for the real
answers of every shipped ruleset, BASIC and FULL, good and bad accounts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.accounts import accounts
from engine.language.source import Source
from engine.registry import Registry
from server.convert import to_value
from server.http.answers import encode
from server.http.context import HttpContext
from server.metrics import Metrics
from server.pb import pb
from server.service import Classifier
from tests.real_server import free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = sorted(
    (m for m in pb.DESCRIPTOR.message_types_by_name.values()), key=lambda d: d.full_name
)


def reference(message: Message) -> bytes:
    """What the HTTP port answered before: json_format, then orjson."""
    return orjson.dumps(
        json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    )


TEXT = st.text(max_size=6)
DOUBLES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, 5e-324]),
)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -(2**63), 2**63 - 1]))
INT32 = st.integers(-(2**31), 2**31 - 1)


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.cpp_type
    if field.enum_type is not None:
        return st.sampled_from([v.number for v in field.enum_type.values] + [7, -1])
    if kind == FieldDescriptor.CPPTYPE_STRING:
        return st.binary(max_size=6) if field.type == FieldDescriptor.TYPE_BYTES else TEXT
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.CPPTYPE_INT64:
        return INT64
    if kind == FieldDescriptor.CPPTYPE_INT32:
        return INT32
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return DOUBLES
    raise AssertionError(f"no strategy for {field.full_name}")  # the proto has no others


@st.composite
def message_of(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """Any message of `descriptor`: each field unset, at its default or drawn."""
    message: Any = _class(descriptor)()
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.seconds = draw(st.integers(-62135596800, 253402300799))
        message.nanos = draw(st.integers(0, 999_999_999))
        return message  # type: ignore[no-any-return]
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key in draw(st.lists(TEXT, max_size=3 if depth < 2 else 0)):
                target = getattr(message, field.name)
                if value_field.message_type is not None:
                    target[key].CopyFrom(draw(message_of(value_field.message_type, depth + 1)))
                else:
                    target[key] = draw(scalar(value_field))
        elif field.is_repeated:
            target = getattr(message, field.name)
            for _ in range(draw(st.integers(0, 3 if depth < 2 else 0))):
                if field.message_type is not None:
                    target.add().CopyFrom(draw(message_of(field.message_type, depth + 1)))
                else:
                    target.append(draw(scalar(field)))
        elif field.message_type is not None:
            if depth < 3:
                getattr(message, field.name).CopyFrom(
                    draw(message_of(field.message_type, depth + 1))
                )
        else:
            setattr(message, field.name, draw(scalar(field)))
    return message  # type: ignore[no-any-return]


def _class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


@pytest.mark.parametrize("descriptor", MESSAGES, ids=lambda d: d.name)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_message_is_written_as_json_format_writes_it(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(message_of(descriptor))
    # through the wire, as the servicer's bytes reach the port
    received = _class(descriptor).FromString(message.SerializeToString())
    assert encode(received) == reference(received)


def test_the_edges_json_format_spells_its_own_way() -> None:
    """NaN, the infinities, -0.0, int64 extremes, an open enum's unknown number, a
    oneof set to its default: each as json_format writes it."""
    observed = {
        "nan": pb.Value(double_value=math.nan),
        "inf": pb.Value(double_value=math.inf),
        "-inf": pb.Value(double_value=-math.inf),
        "-0": pb.Value(double_value=-0.0),
        "zero": pb.Value(int_value=0),
        "max": pb.Value(int_value=2**63 - 1),
        "min": pb.Value(int_value=-(2**63)),
        "none": pb.Value(),
        "empty": pb.Value(string_list=pb.StringList()),
    }
    reason = pb.Reason(rule="r", observed=observed)
    info = pb.RulesetInfo(name="x", state=9)  # type: ignore[arg-type]  # unknown number
    for message in (reason, info, pb.ClassifyResponse(), pb.Decision()):
        assert encode(message) == reference(message)
    written = orjson.loads(encode(reason))
    assert written["observed"]["nan"] == {"doubleValue": "NaN"}
    assert written["observed"]["-inf"] == {"doubleValue": "-Infinity"}
    assert written["observed"]["max"] == {"intValue": str(2**63 - 1)}
    assert written["observed"]["none"] == {}
    assert orjson.loads(encode(info))["state"] == 9


class _Sink:
    def record(self, *_args: object) -> None:
        """Decisions go nowhere: only the answers are compared here."""


def _values(row: dict[str, Any]) -> dict[str, pb.Value]:
    return {name: to_value(value) for name, value in row.items() if name != "id"}


BAD_ROWS: list[dict[str, Any]] = [
    {},  # every input missing
    {"followers": "many"},  # a text where a count goes
    {"followers": -5, "engagement_rate": math.nan},
    {"followers": 10**6, "engagement_rate": math.inf, "not_an_input": 1, "folowers": 3},
    {"followers": 2**63 - 1, "engagement_rate": -0.0},
]


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.tiers")), ids=lambda p: p.stem)
def test_real_answers_of_every_shipped_ruleset(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each shipped ruleset's answers, BASIC and FULL, over accounts of every shape
    (synthetic ones, rows missing inputs or with wrong types, undeclared and misspelled
    fields, NaN and infinite rates, int64's largest count), one account and a batch."""
    monkeypatch.setenv("TIERLINE_BENCH_SYNTHETIC", "1")
    registry = Registry(solver_ms=50)
    loaded = registry.load(Source(path.read_text(), str(path)))
    name = registry.entries()[0].name
    assert loaded is not None and name
    classifier = Classifier(registry, Metrics(), _Sink(), 10_000)
    rows = [*accounts(60, seed=3), *BAD_ROWS]
    batch = [pb.Account(id=f"a{i}", attributes=_values(r)) for i, r in enumerate(rows)]
    for view in (pb.DECISION_VIEW_BASIC, pb.DECISION_VIEW_FULL):
        context = HttpContext([], "ipv4:127.0.0.1:1", None, None)
        request = pb.ClassifyBatchRequest(ruleset=name, accounts=batch, view=view)
        answer = pb.ClassifyBatchResponse.FromString(
            classifier.ClassifyBatch(request, cast(grpc.ServicerContext, context))
        )
        assert any(r.HasField("error") for r in answer.results)  # bad rows are in it
        assert any(r.HasField("decision") for r in answer.results)
        assert encode(answer) == reference(answer)
        for result in answer.results:
            assert encode(result) == reference(result)


def test_the_http_port_answers_in_json_formats_own_bytes() -> None:
    """Through the real server: batches (good accounts, an undeclared field, a count
    given as text, a NaN rate) in both views and a single Classify, each answer what
    json_format writes for the message it denotes (read back with protobuf's own
    parser): the same bytes for BASIC; for FULL the same JSON, since the order of a
    map's keys (`observed`) in json_format's output follows how the map was filled,
    which the parser does not repeat (the byte-for-byte check of FULL answers is on
    the servicer's own messages, in the tests above)."""
    http_port = free_port()
    process, _port = start_serve(
        ROOT / "rules", "--no-watch", "--decision-log", "off", "--http-port", str(http_port)
    )
    rows = [*accounts_for_http(), {"followers": "many"}]
    accounts_sent = [pb.Account(id=f"a{i}", attributes=_values(r)) for i, r in enumerate(rows)]
    requests: list[tuple[str, Message, type[Message]]] = [
        (
            "/v1/classify:batch",
            pb.ClassifyBatchRequest(accounts=accounts_sent, view=view),
            pb.ClassifyBatchResponse,
        )
        for view in (pb.DECISION_VIEW_BASIC, pb.DECISION_VIEW_FULL)
    ]
    requests.append(
        (
            "/v1/classify",
            pb.ClassifyRequest(account=accounts_sent[0], view=pb.DECISION_VIEW_FULL),
            pb.ClassifyResponse,
        )
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30) as client:
            answers = [
                (client.post(path, json=json_format.MessageToDict(body)), kind)
                for path, body, kind in requests
            ]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    for answer, kind in answers:
        assert answer.status_code == 200, answer.text
        message = json_format.ParseDict(orjson.loads(answer.content), kind())
        assert orjson.loads(answer.content) == orjson.loads(reference(message))
    basic, full = answers[0][0].content, answers[1][0].content
    assert basic == reference(
        json_format.ParseDict(orjson.loads(basic), pb.ClassifyBatchResponse())
    )
    results = orjson.loads(full)["results"]
    assert results[-1]["error"]["code"] == 3 and "followers" in results[-1]["error"]["message"]
    assert results[1]["decision"]["ignoredFields"] == ["not_an_input"]
    assert "engagement_rate" in results[2]["error"]["message"]  # NaN is refused as input
    assert results[0]["decision"]["decidedAt"].endswith("Z")  # a Timestamp as RFC 3339
    assert all(r["decision"]["reasons"] for r in results[:2])


def accounts_for_http() -> list[dict[str, Any]]:
    """A plain account, one with an undeclared field, one with a NaN rate (synthesis)."""
    plain = {
        "followers": 45_000,
        "engagement_rate": 0.042,
        "platform": "instagram",
        "topics": ["fashion"],
    }
    return [plain, {**plain, "not_an_input": 1}, {**plain, "engagement_rate": math.nan}]
