"""What callers send and get back, at the bounds (issue 24): undecodable bytes, huge
names and ids, answers too large to send, candidates too large to check. On the real
server, with a real decision log."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest

from server.app import Running, create_server
from server.client import account_message
from server.log_bounds import MAX_LINE_BYTES, MAX_VALUE_CHARS
from server.pb import pb, pb_grpc
from server.settings import Settings
from server.shown import MAX_DIAGNOSTICS, MAX_ID_CHARS, MAX_TEXT
from tests.conftest import ACCOUNT, RULES
from tests.test_rules_folder import many_diagnostics


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("wire")
    shutil.copytree(RULES, root / "rules")
    settings = Settings(
        rules=root / "rules", port=0, decision_log=str(root / "decisions.log"), watch=False
    )
    running = create_server(settings)
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="module")
def channel(served: Running) -> Iterator[grpc.Channel]:
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{served.port}", options=options) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.ClassifierStub:
    return pb_grpc.ClassifierStub(channel)


def logged(served: Running, stub: pb_grpc.ClassifierStub) -> list[dict[str, object]]:
    """Every decision line so far: a marker decision is made and waited for, so that all
    decisions made before it are in the file."""
    marker = f"marker-{time.monotonic_ns()}"
    stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT, marker)), timeout=10)
    path = Path(served.settings.decision_log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = path.read_bytes() if path.exists() else b""  # the writer may still be starting
        lines = [orjson.loads(line) for line in text.splitlines()]
        if any(line.get("account_id") == marker for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError("the marker decision never reached the log")


def raw(channel: grpc.Channel, method: str, data: bytes, stream: bool = False) -> grpc.RpcError:
    if stream:
        call = channel.stream_stream(method)  # bytes as they are: no serializer
        with pytest.raises(grpc.RpcError) as error:
            list(call(iter([data]), timeout=10))
    else:
        with pytest.raises(grpc.RpcError) as error:
            channel.unary_unary(method)(data, timeout=10)
    return error.value


@pytest.mark.parametrize(
    "method, stream",
    [
        ("/tierline.v1.Classifier/Classify", False),
        ("/tierline.v1.Classifier/ClassifyBatch", False),
        ("/tierline.v1.Classifier/ListRulesets", False),
        ("/tierline.v1.Classifier/ValidateRules", False),
        ("/tierline.v1.Classifier/ClassifyStream", True),
        ("/grpc.health.v1.Health/Check", False),
    ],
)
def test_undecodable_requests_are_invalid_argument(
    channel: grpc.Channel, method: str, stream: bool
) -> None:
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x12" + b"\xff" * 12):
        error = raw(channel, method, garbage, stream)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (garbage, error.details())
        assert "not a valid" in (error.details() or "")


def test_the_server_still_answers_after_garbage(
    channel: grpc.Channel, stub: pb_grpc.ClassifierStub
) -> None:
    raw(channel, "/tierline.v1.Classifier/Classify", b"\xff" * 100)
    answer = stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=10)
    assert answer.decision.tier == "micro"


@pytest.mark.parametrize("rpc", ["Classify", "GetRuleset"])
def test_a_16_kb_ruleset_name_is_not_found_with_a_short_message(
    stub: pb_grpc.ClassifierStub, rpc: str
) -> None:
    name = "n" * 16_384
    with pytest.raises(grpc.RpcError) as error:
        if rpc == "Classify":
            stub.Classify(
                pb.ClassifyRequest(ruleset=name, account=account_message(ACCOUNT)), timeout=10
            )
        else:
            stub.GetRuleset(pb.GetRulesetRequest(name=name), timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    details = error.value.details() or ""
    assert len(details) < 1000 and "(16,384 characters)" in details and "synthesis" in details


def test_a_16_mib_account_id_is_refused_and_never_logged(
    served: Running, stub: pb_grpc.ClassifierStub
) -> None:
    huge = "i" * (16 * 1024 * 1024 + 1)
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(pb.ClassifyRequest(account=account_message(ACCOUNT, huge)), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith(
        f"account.id: 16,777,217 characters; at most {MAX_ID_CHARS:,}"
    )
    batch = pb.ClassifyBatchRequest(
        accounts=[account_message(ACCOUNT, "ok-1"), account_message(ACCOUNT, "i" * 5000)]
    )
    results = stub.ClassifyBatch(batch, timeout=30).results
    assert results[0].decision.tier == "micro"
    assert results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert results[1].error.message.startswith("account.id: 5,000 characters")
    ids = [str(line["account_id"]) for line in logged(served, stub)]
    assert "ok-1" in ids and not any(i.startswith("iiii") for i in ids)


def test_an_answer_too_large_to_send_is_an_error_and_not_logged(
    served: Running, stub: pb_grpc.ClassifierStub
) -> None:
    topic = "t" * (30 * 1000 * 1000)
    account = account_message({**ACCOUNT, "topics": [topic]}, "huge-full")
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(pb.ClassifyRequest(account=account, view=pb.DECISION_VIEW_FULL), timeout=60)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "nothing was logged" in (error.value.details() or "")
    stream = stub.ClassifyStream(
        iter([pb.ClassifyRequest(account=account, view=pb.DECISION_VIEW_FULL)]), timeout=60
    )
    (answer,) = list(stream)
    assert answer.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert not any(line["account_id"] == "huge-full" for line in logged(served, stub))


def test_long_values_are_cut_in_the_log_with_length_and_digest(
    served: Running, stub: pb_grpc.ClassifierStub
) -> None:
    topic = "fashion-" + "x" * 1_000_000
    account = account_message({**ACCOUNT, "topics": [topic, "fashion"]}, "long-topic")
    answer = stub.Classify(pb.ClassifyRequest(account=account), timeout=30)
    assert answer.decision.tier == "micro"
    path = Path(served.settings.decision_log)
    logged(served, stub)
    (line,) = [b for b in path.read_bytes().splitlines() if b'"long-topic"' in b]
    assert len(line) < MAX_LINE_BYTES
    event = orjson.loads(line)
    assert event["decision_id"] == answer.decision.decision_id and event["tier"] == "micro"
    assert event["input"]["topics"] == ["fashion", topic[:MAX_VALUE_CHARS] + "…"]  # a set: sorted
    cut = event["cut"]["input.topics"]
    assert cut == {
        "length": 2,
        "sha256": hashlib.sha256(orjson.dumps(["fashion", topic])).hexdigest(),
    }


def test_validate_rules_refuses_what_loading_refuses(stub: pb_grpc.ClassifierStub) -> None:
    source = "ruleset big\n" + "#" * (17 * 1024 * 1024) + "\n"
    answer = stub.ValidateRules(pb.ValidateRulesRequest(source=source), timeout=60)
    assert not answer.ok
    assert [d.code for d in answer.diagnostics] == ["file-too-large"]
    assert "rule files may be at most 16,777,216" in answer.rendered


def test_validate_rules_answers_are_bounded(stub: pb_grpc.ClassifierStub) -> None:
    answer = stub.ValidateRules(pb.ValidateRulesRequest(source=many_diagnostics()), timeout=60)
    # The engine lists 20 of one code and sums up the rest (engine/language/diagnostics);
    # the server's own bound holds whatever the engine hands it.
    assert not answer.ok and 21 == len(answer.diagnostics) <= MAX_DIAGNOSTICS
    assert len(answer.rendered) < MAX_TEXT + 200 and "… and 980 more" in answer.rendered
    with pytest.raises(grpc.RpcError) as error:
        stub.ValidateRules(
            pb.ValidateRulesRequest(source="ruleset x\n", file_name="f" * 16_384), timeout=10
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.value.details() or "").startswith("file_name: 16,384 characters")


def test_a_huge_wrong_value_gets_a_short_invalid_argument(stub: pb_grpc.ClassifierStub) -> None:
    account = account_message({**ACCOUNT, "followers": "4" * (16 * 1024 * 1024)})
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(pb.ClassifyRequest(account=account), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "followers" in (error.value.details() or "")
    assert len(error.value.details() or "") < 8 * 1024
