"""`ClassifyColumns` end to end: a real `tierline serve` on a free loopback port, Arrow in
and out through `server.client.Client.classify_columns`, answers compared with
`classify` row by row, malformed streams and columns, digest pinning, tokens and
TLS, and the decision log's batch records: `tierline audit` finds a decision of a
batch in its segment, `tierline audit verify` catches an edited or missing segment,
and a writer killed mid-batch loses no decision a caller received."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from engine import ClassifyError, Ruleset, load_ruleset
from server.client import Client
from server.log_segments import row_of
from server.pb import pb
from tests.certs import CA
from tests.conftest import RULES, tierline
from tests.real_server import free_port, grow_disk, start_serve, wait_until, writer_pid
from tests.test_faults import small_disk, stop

__all__ = ["small_disk"]  # the fixture: a 2 MiB tmpfs that fills up

RULESETS = {path.stem: load_ruleset(path) for path in sorted(RULES.glob("*.tiers"))}

# boundary-heavy values for each input kind, None meaning "missing"
COUNTS = [0, 1, 999, 1_000, 1_001, 9_999, 10_000, 10_001, 49_999, 50_000, 99_999, 100_000,
          100_001, 499_999, 500_000, 999_999, 1_000_000, 1_000_001, 2**53, 2**53 + 1, 2**62,
          -1, None]  # fmt: skip
FLOAT_COUNTS = [0.0, -0.0, 1000.0, 9999.0, 10000.0, 4.5, 1e6, float("nan"), float("inf"), -3.0]
PERCENTS = [0.0, -0.0, 0.01, 0.0349999, 0.035, 0.0350001, 0.042, 0.25, 0.2500001, 0.3, 1.0,
            1.5, -0.1, float("nan"), 5, None]  # fmt: skip
TOPICS = [[], ["fashion"], ["tech"], ["gaming", "fashion"], ["food"], None]
PLATFORMS = ["instagram", "tiktok", "youtube", "", "Instagram", None]
VALUES: dict[str, list[Any]] = {
    "count": COUNTS,
    "percent": PERCENTS,
    "set of text": TOPICS,
    "text": PLATFORMS,
}
TYPES = {
    "count": pa.int64(),
    "percent": pa.float64(),
    "set of text": pa.list_(pa.string()),
    "text": pa.string(),
}


def accounts_table(ruleset: Ruleset, rows: int, seed: int, float_counts: bool = False) -> pa.Table:
    """`rows` accounts of boundary values for every input of `ruleset`, ids "r0", "r1", …"""
    chance = random.Random(seed)
    columns: dict[str, pa.Array] = {"id": pa.array([f"r{i}" for i in range(rows)])}
    for name, kind in ruleset.inputs.items():
        if kind == "count" and float_counts:
            values = [chance.choice(FLOAT_COUNTS) for _ in range(rows)]
            columns[name] = pa.array(values, pa.float64())
        else:
            columns[name] = pa.array(
                [chance.choice(VALUES[kind]) for _ in range(rows)], TYPES[kind]
            )
    return pa.table(columns)


def expected(ruleset: Ruleset, table: pa.Table) -> list[dict[str, Any]]:
    """What `classify` says of each row (its nulls left out)."""
    out = []
    for row in table.to_pylist():
        account = {k: v for k, v in row.items() if k != "id" and v is not None}
        try:
            decision = ruleset.classify(account)
        except ClassifyError as error:
            out.append({"tier": None, "labels": [], "rule": None, "error": str(error)})
            continue
        out.append(
            {
                "tier": decision.tier,
                "labels": list(decision.labels),
                "rule": decision.rule.name if decision.rule else None,
                "error": None,
            }
        )
    return out


def answers(table: pa.Table) -> list[dict[str, Any]]:
    return [
        {k: row[k] or ([] if k == "labels" else None) for k in ("tier", "labels", "rule", "error")}
        for row in table.to_pylist()
    ]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "log.key", folder / "log.pub"
    made = tierline("key", "new", "--private", str(private), "--public", str(public))
    assert made.returncode == 0, made.stderr
    return private, public


def serve_signed(
    log_path: Path, key: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """A real `tierline serve` of RULES logging to `log_path`, signed with `key`."""
    return start_serve(
        RULES,
        "--no-watch",
        "--decision-log",
        str(log_path),
        *flags,
        "--log-signing-key",
        str(key),
        env=env,
    )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]
) -> Iterator[tuple[int, Path]]:
    """One signed-log server for the module: (port, its decision log)."""
    log_path = tmp_path_factory.mktemp("served") / "decisions.log"
    process, port = serve_signed(log_path, keys[0], env={"TIERLINE_MAX_COLUMN_ROWS": "50000"})
    try:
        yield port, log_path
    finally:
        process.kill()
        process.wait(30)


@pytest.fixture(scope="module")
def client(server: tuple[int, Path]) -> Iterator[Client]:
    with Client(f"127.0.0.1:{server[0]}", timeout=60) as made:
        yield made


def test_every_shipped_ruleset_answers_as_classify_does_row_by_row(client: Client) -> None:
    for name, ruleset in RULESETS.items():
        for float_counts in (False, True):
            table = accounts_table(ruleset, 4_000, seed=len(name), float_counts=float_counts)
            answer = client.classify_columns(table, ruleset=name)
            want = expected(ruleset, table)
            assert answers(answer.table) == want, name
            assert answer.table.column("id").to_pylist() == table.column("id").to_pylist()
            assert answer.failed == sum(1 for w in want if w["error"]) > 0
            assert answer.decided == table.num_rows - answer.failed > 0
            assert (answer.ruleset, answer.digest) == (name, ruleset.digest)
            ids = answer.table.column("decision_id").to_pylist()
            for i, (decision_id, w) in enumerate(zip(ids, want, strict=True)):
                assert (decision_id is None) == (w["error"] is not None)
                if decision_id is not None:
                    assert row_of(decision_id) == (answer.batch_id, i)
            decided = [d for d in ids if d]
            assert decided == sorted(decided)  # sortable: the row number is zero-padded


def test_the_gRPC_call_equals_classify_batch_on_the_same_server(client: Client) -> None:
    ruleset = RULESETS["synthesis"]
    table = accounts_table(ruleset, 3_000, seed=7)
    by_columns = answers(client.classify_columns(table, ruleset="synthesis").table)
    rows = [
        {k: v for k, v in row.items() if v is not None or k == "id"} for row in table.to_pylist()
    ]
    by_batch = client.classify_batch(rows, ruleset="synthesis")
    for got, old in zip(by_columns, by_batch, strict=True):
        if "error" in old:
            assert got["error"] == old["error"]["message"]
        else:
            assert (got["tier"], got["labels"]) == (old["tier"], old["labels"])
            assert got["rule"] == (old.get("rule") or {}).get("name")


def test_pandas_and_polars_frames_and_nulls_as_missing_values(client: Client) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "followers": [45_000, 2_000_000, 500],
            "engagement_rate": [0.042, None, 0.05],
            "topics": [["fashion"], ["tech"], []],
            "platform": ["instagram", "tiktok", "youtube"],
        }
    )
    from_pandas = client.classify_columns(frame, ruleset="synthesis").table.to_pylist()
    assert [r["tier"] for r in from_pandas] == ["micro", None, None]
    assert from_pandas[1]["error"] == str(_error_of({"followers": 2_000_000, "topics": ["tech"],
                                                     "platform": "tiktok"}))  # fmt: skip
    texts = pl.DataFrame(  # large_string, large_list and a dictionary (Categorical)
        {
            "id": ["p", "q"],
            "followers": [45_000, 45_000],
            "engagement_rate": [0.042, 0.042],
            "topics": [["fashion"], ["tech", "gaming"]],
            "platform": pl.Series(["instagram", "tiktok"], dtype=pl.Categorical),
        }
    )
    from_polars = client.classify_columns(texts, ruleset="synthesis").table
    assert answers(from_polars) == expected(RULESETS["synthesis"], texts.to_arrow())
    views = pa.table(  # string views and fixed-size lists, as other Arrow writers make them
        {
            "id": pa.array(["v"], pa.string_view()),
            "followers": [45_000],
            "engagement_rate": [0.042],
            "topics": pa.FixedSizeListArray.from_arrays(pa.array(["fashion"]), 1),
            "platform": pa.array(["instagram"], pa.string_view()),
        }
    )
    from_views = client.classify_columns(views, ruleset="synthesis").table.to_pylist()
    assert [(r["id"], r["tier"], r["labels"]) for r in from_views] == [
        ("v", "micro", ["fashion_expert"])
    ]
    polars = pl.DataFrame({"id": [1, 2], "followers": [45_000, 150_000]})
    answer = client.classify_columns(polars, ruleset="agency")
    agency = RULESETS["agency"]
    assert answer.table.column("id").to_pylist() == ["1", "2"]  # integer ids come back as text
    assert answer.table.column("tier").to_pylist() == [
        agency.classify({"followers": 45_000}).tier,
        agency.classify({"followers": 150_000}).tier,
    ]


def _error_of(account: dict[str, Any]) -> ClassifyError:
    return _refused(RULESETS["synthesis"], account)


def _refused(ruleset: Ruleset, account: dict[str, Any]) -> ClassifyError:
    try:
        ruleset.classify(account)
    except ClassifyError as error:
        return error
    raise AssertionError("expected an error")


def _refusal(client: Client, request: pb.ClassifyColumnsRequest) -> tuple[grpc.StatusCode, str]:
    try:
        client.stub.ClassifyColumns(request, timeout=30)
    except grpc.RpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call was not refused")


def _stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def test_a_malformed_stream_or_column_is_refused_naming_the_field(client: Client) -> None:
    def ask(data: bytes, **fields: Any) -> tuple[grpc.StatusCode, str]:
        request = pb.ClassifyColumnsRequest(ruleset="synthesis", arrow_stream=data, **fields)
        return _refusal(client, request)

    bad = grpc.StatusCode.INVALID_ARGUMENT
    code, said = ask(b"")
    assert (code, said.split(";")[0]) == (bad, "arrow_stream: empty")
    code, said = ask(b"followers,engagement_rate\n45000,0.04\n")  # a CSV, not Arrow
    assert code == bad and said.startswith("arrow_stream: not a readable Arrow IPC stream (")
    whole = _stream(pa.table({"id": ["a"], "followers": [1]}))
    code, said = ask(whole[: len(whole) // 2])  # cut short
    assert code == bad and said.startswith("arrow_stream: not a readable Arrow IPC stream")
    code, said = ask(_stream(pa.table({"account": ["a"], "followers": [1]})))
    assert code == bad and said.startswith("id_column: no column 'id' of account ids")
    code, said = ask(_stream(pa.table({"account": ["a"]})), id_column="acct")
    assert code == bad and said.startswith("id_column: no column 'acct'")
    code, said = ask(_stream(pa.table({"id": ["a"], "followers": ["many"]})))
    assert (code, said) == (
        bad,
        "columns.followers: an Arrow string column; the count input followers takes an "
        "integer column (or a float column of whole values)",
    )
    code, said = ask(_stream(pa.table({"id": ["a"], "topics": ["fashion"]})))
    assert code == bad and said.startswith("columns.topics: an Arrow string column; the set of")
    code, said = ask(_stream(pa.table({"id": [[1]]})))
    assert code == bad and said.startswith("columns.id: an Arrow list<item: int64> column")
    twice = pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), pa.array([2])],
                                 names=["id", "followers", "followers"])  # fmt: skip
    code, said = ask(_stream(twice))
    assert (code, said) == (bad, "columns.followers: the column appears twice")
    extra = _stream(pa.table({"id": ["a"], "followers": [1], "folowers": [2]}))
    code, said = ask(extra, strict=True)
    assert code == bad and said.startswith("columns.folowers: not an input of this ruleset")
    too_many = _stream(pa.table({"id": [str(i) for i in range(50_001)]}))
    code, said = ask(too_many)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert said == "arrow_stream: 50,001 rows in one call; the limit is 50,000"


def test_digest_pinning_unknown_ruleset_and_ignored_columns(client: Client) -> None:
    table = pa.table({"id": ["a"], "followers": [45_000], "folowers": [1]})
    agency = RULESETS["agency"]
    pinned = client.classify_columns(table, ruleset="agency", digest=agency.digest)
    assert pinned.digest == agency.digest and pinned.ignored_columns == ["folowers"]
    with pytest.raises(grpc.RpcError) as stale:
        client.classify_columns(table, ruleset="agency", digest="0" * 64)
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stale.value.details().startswith("digest: ")
    with pytest.raises(grpc.RpcError) as unknown:
        client.classify_columns(table, ruleset="nosuch")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    ids_only = client.classify_columns(pa.table({"id": ["a", "b"]}), ruleset="agency").table
    assert ids_only.column("error").to_pylist() == [str(_refused(agency, {}))] * 2
    long_id = pa.table({"id": ["a", "x" * 5000], "followers": [45_000, 45_000]})
    rows = client.classify_columns(long_id, ruleset="agency").table.to_pylist()
    assert (
        rows[0]["error"] is None and rows[0]["tier"] == agency.classify({"followers": 45_000}).tier
    )
    assert rows[1]["error"] == "id: 5000 characters; at most 4,096"
    assert rows[1]["decision_id"] is None


def _wait_logged(log_path: Path, batch_ids: list[str]) -> None:
    assert wait_until(lambda: all(b.encode() in log_path.read_bytes() for b in batch_ids), 20), (
        "the batch records did not reach the log"
    )


def test_audit_finds_a_decision_of_a_batch_and_verify_catches_an_edited_segment(
    client: Client, server: tuple[int, Path], keys: tuple[Path, Path]
) -> None:
    _port, log_path = server
    table = pa.table(
        {
            "id": ["anna", "ben", "bad"],
            "followers": [45_000, 2_000_000, -5],
            "engagement_rate": [0.042, 0.05, 0.05],
            "topics": [["fashion"], ["tech"], []],
            "platform": ["instagram", "youtube", "tiktok"],
        }
    )
    answer = client.classify_columns(table, ruleset="synthesis", request_id="nightly-42")
    other = client.classify_columns(table, ruleset="synthesis")
    _wait_logged(log_path, [answer.batch_id, other.batch_id])
    ben = answer.table.to_pylist()[1]
    audit = tierline("audit", "--log", str(log_path), "--decision", ben["decision_id"])
    assert audit.returncode == 0, audit.stderr
    assert f"decision {ben['decision_id']}" in audit.stdout
    assert "account ben: tier mega" in audit.stdout
    assert "request_id nightly-42" in audit.stdout
    assert f"batch {answer.batch_id} row 1: segment segments/{answer.batch_id}.arrow" in (
        audit.stdout
    )
    assert "replay with the archived rules: same tier, labels" in audit.stdout
    as_json = tierline("audit", "--log", str(log_path), "--account", "anna", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    found = json.loads(as_json.stdout)["decision"]
    assert found["decision_id"] == other.table.column("decision_id")[0].as_py()  # the latest
    assert (found["tier"], found["labels"], found["input"]["followers"]) == (
        "micro",
        ["fashion_expert"],
        45_000,
    )
    assert found["rule"]["file"].endswith("synthesis.tiers") and found["rule"]["line"] > 0
    refused = tierline("audit", "--log", str(log_path), "--decision", f"{answer.batch_id}.2")
    assert refused.returncode == 1
    assert "row 2 of batch" in refused.stderr and "was refused" in refused.stderr

    # everything the server wrote so far is checked once a checkpoint signs it
    stopped = log_path.with_name("copy.log")
    assert wait_until(lambda: _checkpointed(log_path), 20)
    stopped.write_bytes(_upto_last_checkpoint(log_path.read_bytes()))
    verify = ["audit", "verify", "--log", str(stopped), "--public-key", str(keys[1])]
    intact = tierline(*verify)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.startswith("intact: ")
    segment = log_path.parent / "segments" / f"{answer.batch_id}.arrow"
    original = segment.read_bytes()
    try:
        edited = bytearray(original)
        edited[len(edited) // 2] ^= 0x01
        segment.write_bytes(bytes(edited))
        caught = tierline(*verify, "--format", "json")
        assert caught.returncode == 1
        problems = json.loads(caught.stdout)["problems"]
        line = _line_of(stopped, answer.batch_id)
        assert problems == [
            {
                "file": str(stopped),
                "line": line,
                "kind": "edited",
                "detail": f"the segment segments/{answer.batch_id}.arrow of batch "
                f"{answer.batch_id} is not the one its record commits to (its SHA-256 differs)",
            }
        ]
        segment.unlink()
        missing = tierline(*verify, "--format", "json")
        assert missing.returncode == 1
        kinds = [(p["line"], p["kind"]) for p in json.loads(missing.stdout)["problems"]]
        assert kinds == [(line, "missing-file")]
        gone = tierline("audit", "--log", str(log_path), "--decision", ben["decision_id"])
        assert gone.returncode == 1 and "cannot be read" in gone.stderr
    finally:
        segment.write_bytes(original)
    assert tierline(*verify).returncode == 0


def _checkpointed(log_path: Path) -> bool:
    return b'"event":"checkpoint"' in log_path.read_bytes().rsplit(b"decision_batch", 1)[-1]


def _upto_last_checkpoint(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith(b'{"event":"checkpoint"'))
    return b"".join(lines[: last + 1])


def _line_of(log_path: Path, batch_id: str) -> int:
    for number, line in enumerate(log_path.read_bytes().splitlines(), 1):
        if line.startswith(b'{"event":"decision_batch"') and batch_id.encode() in line:
            return number
    raise AssertionError(f"no record of {batch_id}")


def test_tokens_tls_and_roles_and_the_record_names_the_caller(tmp_path: Path) -> None:
    ca = CA()
    cert, key = ca.server("localhost", "127.0.0.1").write(tmp_path, "server")
    tokens = tmp_path / "callers"
    made = {}
    for name, roles in (("batch-job", "classify"), ("reader", "read")):
        said = tierline("token", "new", name, "--roles", roles, "--add-to", str(tokens))
        assert said.returncode == 0, said.stderr
        made[name] = said.stdout.splitlines()[0]  # the token, shown once
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES,
        "--no-watch",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--auth-tokens",
        str(tokens),
        "--decision-log",
        str(log_path),
    )
    table = pa.table({"id": ["a"], "followers": [45_000]})
    ca_pem = ca.write(tmp_path / "ca.crt").read_bytes()
    try:
        outcomes = {}
        for who in ("batch-job", "reader", None):
            token = made[who] if who else None
            with Client(f"localhost:{port}", tls_ca=ca_pem, token=token) as tls:
                try:
                    answer = tls.classify_columns(table, ruleset="agency")
                    outcomes[who] = grpc.StatusCode.OK
                    batch_id = answer.batch_id
                except grpc.RpcError as error:
                    outcomes[who] = error.code()
        plain = Client(f"127.0.0.1:{port}", token=made["batch-job"])  # not TLS
        with plain, pytest.raises(grpc.RpcError) as no_tls:
            plain.classify_columns(table, ruleset="agency")
        assert no_tls.value.code() == grpc.StatusCode.UNAVAILABLE
        code, errors = stop(process, 20)
    finally:
        process.kill()
    assert code == 0, errors
    assert outcomes == {
        "batch-job": grpc.StatusCode.OK,
        "reader": grpc.StatusCode.PERMISSION_DENIED,
        None: grpc.StatusCode.UNAUTHENTICATED,
    }
    records = [
        orjson.loads(line)
        for line in log_path.read_bytes().splitlines()
        if line.startswith(b'{"event":"decision_batch"')
    ]
    assert [(r["batch_id"], r["caller"], r["rpc"]) for r in records] == [
        (batch_id, "batch-job", "ClassifyColumns")
    ]
    for token in made.values():
        assert token not in errors and token.encode() not in log_path.read_bytes()


def test_masked_inputs_stay_masked_in_segments(tmp_path: Path) -> None:
    log_path = tmp_path / "decisions.log"
    metrics_port = free_port()
    process, port = start_serve(
        RULES,
        "--no-watch",
        "--decision-log",
        str(log_path),
        "--metrics-port",
        str(metrics_port),
        env={
            "TIERLINE_MASK_FIELDS": '["platform"]',
            "TIERLINE_HASH_FIELDS": '["topics", "fake_follower_ratio"]',
            "TIERLINE_HASH_KEY": "k" * 32,
        },
    )
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "followers": [45_000, 45_000, 45_000],
            "engagement_rate": [0.042, 0.042, 0.042],
            "topics": [["fashion"], ["fashion"], ["fashion"]],
            "platform": ["secret-network", None, "instagram"],
            "fake_follower_ratio": [None, None, 31.4159],  # 3141.59%: refused, never quoted
        }
    )
    try:
        with Client(f"127.0.0.1:{port}") as plain:
            answer = plain.classify_columns(table, ruleset="synthesis")
            row = {k: v for k, v in table.to_pylist()[2].items() if k != "id"}
            by_batch = plain.classify_batch([row], ruleset="synthesis")[0]
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        exposition = urllib.request.urlopen(url, timeout=5).read().decode()
        code, errors = stop(process, 20)
    finally:
        process.kill()
    assert code == 0, errors
    counted = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(("tierline_decisions_total", "tierline_rule_hits_total"))
    }
    assert answer.decided == 1  # b lacks its platform, c's ratio is refused
    assert counted == {  # the decision of ClassifyColumns; ClassifyBatch's refusal is none
        'tierline_decisions_total{ruleset="synthesis",tier="micro"}': 1.0,
        'tierline_rule_hits_total{rule="micro",ruleset="synthesis"}': 1.0,
    }
    refused = answer.table.column("error")[2].as_py()
    assert refused == by_batch["error"]["message"]  # as ClassifyBatch says it
    assert "fake_follower_ratio" in refused and "31.4" not in refused and "3141" not in refused
    segment = next((log_path.parent / "segments").glob("*.arrow"))
    kept = pa.ipc.open_file(pa.py_buffer(segment.read_bytes())).read_all()
    assert "secret-network" not in str(kept.to_pylist())
    rows = kept.column("input").to_pylist()
    assert kept.column("labels").to_pylist() == answer.table.column("labels").to_pylist()
    assert [r["platform"] for r in rows] == ["***", None, "***"]
    assert rows[0]["topics"].startswith("hmac-sha256:") and rows[0]["topics"] == rows[1]["topics"]
    record = json.loads(
        next(line for line in log_path.read_text().splitlines() if "batch_id" in line)
    )
    assert record["masked"] == {
        "topics": "hmac-sha256",
        "platform": "redacted",
        "fake_follower_ratio": "hmac-sha256",
    }
    first = answer.table.column("decision_id")[0].as_py()
    audit = tierline("audit", "--log", str(log_path), "--decision", first)
    assert audit.returncode == 0, audit.stderr
    assert "replay not possible: the log masks fake_follower_ratio, platform, topics" in (
        audit.stdout
    )
    assert "secret-network" not in audit.stdout


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_kill_9_of_the_writer_during_batches_loses_no_decision_and_the_log_verifies(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = serve_signed(log_path, keys[0])
    received: list[tuple[str, int]] = []
    failures: list[str] = []
    done = threading.Event()
    table = accounts_table(RULESETS["synthesis"], 5_000, seed=3)

    def call() -> None:
        with Client(f"127.0.0.1:{port}", timeout=30) as caller:
            while not done.is_set():
                try:
                    answer = caller.classify_columns(table, ruleset="synthesis")
                except grpc.RpcError as error:
                    failures.append(f"{error.code()}: {error.details()}")
                    continue
                received.append((answer.batch_id, answer.decided))

    threads = [threading.Thread(target=call) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        for _ in range(2):
            os.kill(writer_pid(process.pid), signal.SIGKILL)
            time.sleep(1.0)
        done.set()
        for thread in threads:
            thread.join(60)
        code, errors = stop(process, 30)
    finally:
        done.set()
        process.kill()
    assert code == 0, errors
    assert errors.count('"decision_log_writer_died"') == 2
    assert len(received) > 4 and not failures, failures
    records = {
        r["batch_id"]: r
        for r in (
            orjson.loads(line)
            for line in log_path.read_bytes().splitlines()
            if line.startswith(b'{"event":"decision_batch"')
        )
    }
    for batch_id, decided in received:  # every batch a caller received is in the log
        assert records[batch_id]["decided"] == decided
        assert (log_path.parent / records[batch_id]["segment"]).is_file()
    verify = tierline("audit", "verify", "--log", str(log_path), "--public-key", str(keys[1]))
    assert verify.returncode == 0, verify.stdout
    assert not list((log_path.parent / "segments").glob(".*.tmp"))  # no half-written file


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_a_full_disk_holds_batches_until_there_is_room_and_loses_none(
    small_disk: Path, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    log_path = small_disk / "decisions.log"
    process, port = serve_signed(
        log_path,
        keys[0],
        "--archive",
        str(tmp_path / "archive"),
        env={"TIERLINE_LOG_WAIT_SECONDS": "1"},
    )
    table = accounts_table(RULESETS["synthesis"], 5_000, seed=11)
    received: list[str] = []
    refused: list[str] = []
    done = threading.Event()

    def call() -> None:
        with Client(f"127.0.0.1:{port}", timeout=30) as caller:
            while not done.is_set():
                try:
                    received.append(caller.classify_columns(table, ruleset="synthesis").batch_id)
                except grpc.RpcError as error:
                    refused.append(f"{error.code()}: {error.details()}")
                    time.sleep(0.05)

    thread = threading.Thread(target=call)
    try:
        thread.start()
        assert wait_until(lambda: bool(refused), 60), "the disk never filled"
        full_at = len(received)
        grow_disk(small_disk)
        assert wait_until(lambda: len(received) > full_at + 2, 30), "no room again"
        done.set()
        thread.join(60)
        code, errors = stop(process, 30)
    finally:
        done.set()
        process.kill()
    assert code == 0, errors
    assert "decision_log_unwritable" in errors and "No space left on device" in errors
    assert all(r.startswith("StatusCode.UNAVAILABLE: the decision log") for r in refused), refused
    logged = {
        orjson.loads(line)["batch_id"]
        for line in log_path.read_bytes().splitlines()
        if line.startswith(b'{"event":"decision_batch"')
    }
    assert set(received) <= logged
    for batch_id in received:
        assert (small_disk / "segments" / f"{batch_id}.arrow").is_file()
    assert not list((small_disk / "segments").glob(".*.tmp"))
    verify = tierline("audit", "verify", "--log", str(log_path), "--public-key", str(keys[1]))
    assert verify.returncode == 0, verify.stdout


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_batches_waiting_for_the_log_are_bounded_by_bytes_apart_from_calls(
    tmp_path: Path,
) -> None:
    """With the writer stopped (SIGSTOP), batches wait in the server: up to `log_queue`
    MiB of them, then UNAVAILABLE; a Classify call meanwhile does not wait behind them.
    Once the writer runs again, everything answered is in the log."""
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES,
        "--no-watch",
        "--decision-log",
        str(log_path),
        env={"TIERLINE_LOG_QUEUE": "1", "TIERLINE_LOG_WAIT_SECONDS": "1"},
    )
    table = accounts_table(RULESETS["synthesis"], 1_000, seed=5)  # about 0.17 MiB a segment
    answered: list[str] = []
    try:
        with Client(f"127.0.0.1:{port}", timeout=30) as caller:
            caller.classify({"followers": 1, "engagement_rate": 0.01, "topics": [],
                             "platform": "x"}, ruleset="synthesis")  # fmt: skip
            writer = writer_pid(process.pid)
            os.kill(writer, signal.SIGSTOP)
            try:
                refusal = ""
                for _ in range(10):
                    try:
                        answered.append(
                            caller.classify_columns(table, ruleset="synthesis").batch_id
                        )
                    except grpc.RpcError as error:
                        refusal = f"{error.code()}: {error.details()}"
                        break
                started = time.monotonic()
                single = caller.classify(
                    {"followers": 45_000, "engagement_rate": 0.042, "topics": ["fashion"],
                     "platform": "instagram"}, ruleset="synthesis")  # fmt: skip
                waited = time.monotonic() - started
            finally:
                os.kill(writer, signal.SIGCONT)
        code, errors = stop(process, 30)
    finally:
        process.kill()
    assert code == 0, errors
    assert 3 <= len(answered) <= 8, answered  # 1 MiB of segments, then no more room
    assert refusal.startswith("StatusCode.UNAVAILABLE: the decision log is behind"), refusal
    assert waited < 0.9, waited  # not the second of log_wait_seconds
    text = log_path.read_bytes()
    for batch_id in answered:
        assert batch_id.encode() in text
    assert single["decision_id"].encode() in text


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_a_rotated_log_keeps_its_batches_findable_and_verified(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    log_path = tmp_path / "decisions.log"
    process, port = serve_signed(log_path, keys[0])
    table = accounts_table(RULESETS["synthesis"], 500, seed=9)
    try:
        with Client(f"127.0.0.1:{port}", timeout=30) as caller:
            before = caller.classify_columns(table, ruleset="synthesis")
            _wait_logged(log_path, [before.batch_id])
            log_path.rename(tmp_path / "decisions.log.1")  # as logrotate does
            process.send_signal(signal.SIGUSR1)
            assert wait_until(lambda: log_path.exists(), 10)
            after = caller.classify_columns(table, ruleset="synthesis")
        code, errors = stop(process, 30)
    finally:
        process.kill()
    assert code == 0, errors
    rotated = tmp_path / "decisions.log.1"
    verify = tierline(
        "audit", "verify", "--log", str(log_path), str(rotated), "--public-key", str(keys[1])
    )
    assert verify.returncode == 0, verify.stdout
    for path, answer in ((rotated, before), (log_path, after)):
        decision_id = next(d for d in answer.table.column("decision_id").to_pylist() if d)
        audit = tierline(
            "audit", "--log", str(path), "--decision", decision_id, "--public-key", str(keys[1])
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "log: this decision lies in a verified stretch" in audit.stdout
