"""Issue 26, HTTP/JSON: `tierline serve --http-port` serves the Classifier service as
the proto3 JSON mapping of the same messages, with the same TLS, callers, roles,
decision log and errors as gRPC. Every test runs the real `tierline serve` and calls
it with httpx over real sockets and real TLS handshakes (`tests/certs.py`)."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509
from google.protobuf import json_format

from server.client import account_message
from server.pb import pb, pb_grpc
from tests.certs import CA, Issued
from tests.conftest import ACCOUNT, RULES, tierline
from tests.real_server import free_port, start_serve, wait_until
from tests.test_faults import stop
from tests.test_security import ALLOWED, events, new_token, tls_channel

JSON_ACCOUNT = json_format.MessageToDict(account_message(ACCOUNT, "acct-1"))
TIMEOUT = httpx.Timeout(30.0)


def routes() -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    """One call of every route, by the gRPC method it is: (HTTP method, path, body)."""
    return {
        "Classify": ("POST", "/v1/classify", {"account": JSON_ACCOUNT}),
        "ClassifyBatch": ("POST", "/v1/classify:batch", {"accounts": [JSON_ACCOUNT] * 2}),
        "ListRulesets": ("GET", "/v1/rulesets", None),
        "GetRuleset": ("GET", "/v1/rulesets/synthesis", None),
        "ValidateRules": (
            "POST",
            "/v1/rules:validate",
            {"source": (RULES / "synthesis.tiers").read_text()},
        ),
    }


def tls(ca: CA, client: Issued | None = None, folder: Path | None = None) -> ssl.SSLContext:
    """A client context trusting `ca`, presenting `client`'s certificate when given."""
    context = ssl.create_default_context(cadata=ca.pem.decode())
    if client is not None:
        assert folder is not None
        cert, key = client.write(folder, f"client-{client.serial:x}")
        context.load_cert_chain(cert, key)
    return context


def call(
    client: httpx.Client, route: str, token: str | None = None, **headers: str
) -> httpx.Response:
    method, path, body = routes()[route]
    sent = {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}
    return client.request(method, path, json=body, headers=sent)


def served_serial(port: int, ca: CA) -> int:
    """The serial of the certificate the HTTP port presents to a new connection."""
    context = tls(ca)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as connection,
    ):
        der = connection.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def handshake_fails(port: int, context: ssl.SSLContext) -> bool:
    """Whether no answer can be had over `context` (TLS 1.3 reports a refused client
    certificate at the first read, so a request is sent and read)."""
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context) as client:
            client.get("/v1/rulesets", timeout=5)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


@pytest.fixture
def served() -> Iterator[list[subprocess.Popen[str]]]:
    """Servers a test starts; killed at the end whatever happened."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def serve(
    served: list[subprocess.Popen[str]], *flags: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], int, int]:
    """`tierline serve` with an HTTP port: (process, gRPC port, HTTP port)."""
    http_port = free_port()
    process, port = start_serve(RULES, "--no-watch", "--http-port", str(http_port), *flags, env=env)
    served.append(process)
    return process, port, http_port


def test_every_route_under_every_role_over_mutual_tls_and_the_log_names_the_caller(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    ca = CA()
    cert, key = ca.server().write(tmp_path / "pki", "server")
    clients_ca = ca.write(tmp_path / "pki" / "clients-ca.crt")
    tokens = tmp_path / "callers"
    made = {role: new_token(f"web-{role}", role, "--add-to", str(tokens))[0] for role in ALLOWED}
    with tokens.open("a") as file:
        file.write("batch.example classify cert\n")
    log_path = tmp_path / "decisions.log"
    metrics_port = free_port()
    process, _port, http_port = serve(
        served,
        *("--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(clients_ca)),
        *("--auth-tokens", str(tokens), "--decision-log", str(log_path)),
        *("--metrics-port", str(metrics_port)),
    )
    base = f"https://127.0.0.1:{http_port}"
    trusted = ca.client("nobody-special")
    batch_job = ca.client("batch job", "batch.example")
    stranger = CA("another CA").client("web-classify")

    # plaintext to the TLS port, no client certificate, a certificate of another CA: no answer
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{http_port}/v1/rulesets", timeout=5)
    assert handshake_fails(http_port, tls(ca))
    assert handshake_fails(http_port, tls(ca, stranger, tmp_path))

    outcomes: dict[tuple[str, str], int] = {}
    with httpx.Client(base_url=base, verify=tls(ca, trusted, tmp_path), timeout=TIMEOUT) as client:
        for role, token in made.items():
            for route in routes():
                outcomes[role, route] = call(client, route, token).status_code
        denied = call(client, "GetRuleset", made["classify"])
        no_roles = call(client, "Classify")  # a trusted certificate without a `cert` line
        answer = call(client, "Classify", made["classify"], **{"X-Request-Id": "req-http-1"})
        unknown = call(client, "Classify", "tl_" + "x" * 43)
        missing_auth = client.post("/v1/classify", json={"account": JSON_ACCOUNT})
    with httpx.Client(
        base_url=base, verify=tls(ca, batch_job, tmp_path), timeout=TIMEOUT
    ) as client:
        by_certificate = {route: call(client, route).status_code for route in routes()}
    exposition = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    code, errors = stop(process, 20)
    assert code == 0, errors

    for (role, route), status in outcomes.items():
        assert status == (200 if route in ALLOWED[role] else 403), (role, route, status)
    assert denied.json() == {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": "caller 'web-classify' lacks the role 'read' that GetRuleset needs",
        }
    }
    assert no_roles.status_code == 403
    assert answer.json()["decision"]["tier"] == "micro"
    assert answer.json()["decision"]["labels"] == ["fashion_expert"]
    # a token, when sent, decides: an unknown one is refused even with a good certificate
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer"
    assert unknown.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing_auth.status_code == 403  # the certificate is the caller: no roles
    assert by_certificate == {r: 200 if r in ALLOWED["classify"] else 403 for r in routes()}
    refused = [line for line in exposition.splitlines() if line.startswith("tierline_calls_ref")]
    assert 'tierline_calls_refused_total{method="GetRuleset",reason="missing_role"} 4.0' in (
        refused
    ), refused
    assert 'tierline_rpc_calls_total{code="OK",method="Classify"}' in exposition
    started = next(e for e in events(errors) if e["event"] == "server_started")
    assert started["http_port"] == http_port and started["mtls"] is True
    for token in made.values():
        assert token not in errors

    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    callers = Counter((d["rpc"], d.get("caller")) for d in decisions)
    assert callers == {
        ("Classify", "web-classify"): 2,
        ("ClassifyBatch", "web-classify"): 2,
        ("Classify", "batch.example"): 1,
        ("ClassifyBatch", "batch.example"): 2,
    }
    logged = next(
        d for d in decisions if d["decision_id"] == answer.json()["decision"]["decisionId"]
    )
    assert logged["request_id"] == "req-http-1" and logged["peer"].startswith("ipv4:127.0.0.1:")
    audit = tierline("audit", "--log", str(log_path), "--decision", logged["decision_id"])
    assert audit.returncode == 0, audit.stderr
    assert "call: caller web-classify, rpc Classify" in audit.stdout


def test_tokens_over_http_missing_malformed_unknown_and_added_without_a_restart(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    ca = CA()
    cert, key = ca.server().write(tmp_path / "pki", "server")
    tokens = tmp_path / "callers"
    old, _ = new_token("crm", "classify", "--add-to", str(tokens))
    process, _port, http_port = serve(
        served,
        *("--tls-cert", str(cert), "--tls-key", str(key), "--auth-tokens", str(tokens)),
        *("--decision-log", "off"),
    )
    with httpx.Client(
        base_url=f"https://127.0.0.1:{http_port}", verify=tls(ca), timeout=TIMEOUT
    ) as client:

        def status(authorization: str | None) -> int:
            headers = {"Authorization": authorization} if authorization is not None else {}
            body = {"account": JSON_ACCOUNT}
            return client.post("/v1/classify", json=body, headers=headers).status_code

        assert status(f"Bearer {old}") == 200
        refused = {
            "missing": status(None),
            "not bearer": status(f"Basic {old}"),
            "no token": status("Bearer"),
            "unknown": status("Bearer tl_" + "x" * 43),
        }
        assert set(refused.values()) == {401}, refused
        missing = client.post("/v1/classify", json={"account": JSON_ACCOUNT}).json()
        assert "authorization: Bearer TOKEN" in missing["error"]["message"]
        assert client.get("/openapi.json").status_code == 200  # the description is open
        new, _ = new_token("crm", "classify", "--add-to", str(tokens))
        assert wait_until(lambda: status(f"Bearer {new}") == 200)
        assert status(f"Bearer {old}") == 200  # rotation: both work until the old is gone
    code, errors = stop(process, 20)
    assert code == 0, errors
    assert old not in errors and new not in errors
    reasons = {e["reason"] for e in events(errors) if e["event"] == "call_refused"}
    assert {"no_token", "malformed_token", "unknown_token"} <= reasons


def test_http_answers_what_grpc_answers_and_maps_each_error_code(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    log_path = tmp_path / "decisions.log"
    process, port, http_port = serve(
        served, "--decision-log", str(log_path), env={"TIERLINE_MAX_MESSAGE_BYTES": "200000"}
    )
    digest = "0" * 64
    bad = dict(
        JSON_ACCOUNT, attributes={**JSON_ACCOUNT["attributes"], "followers": {"intValue": "-4"}}
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=TIMEOUT) as client:
        full = client.post(
            "/v1/classify", json={"account": JSON_ACCOUNT, "view": "DECISION_VIEW_FULL"}
        )
        snake = client.post(  # the proto's own field names and enum numbers work too
            "/v1/classify",
            json={"account": JSON_ACCOUNT, "view": 2, "request_id": "snake"},
        )
        answers = {
            "unknown ruleset": client.post(
                "/v1/classify", json={"ruleset": "nope", "account": JSON_ACCOUNT}
            ),
            "bad account": client.post("/v1/classify", json={"account": bad}),
            "digest": client.post("/v1/classify", json={"digest": digest, "account": JSON_ACCOUNT}),
            "bad view": client.post("/v1/classify", json={"account": JSON_ACCOUNT, "view": 7}),
            "unknown field": client.post("/v1/classify", json={"acount": {}}),
            "not json": client.post(
                "/v1/classify", content=b"{", headers={"Content-Type": "application/json"}
            ),
            "not an object": client.post("/v1/classify", json=[1]),
            "form": client.post("/v1/classify", data={"account": "x"}),
            "batch too large": client.post(
                "/v1/classify:batch", json={"accounts": [{"id": "x"}] * 10_001}
            ),
            "too large": client.post("/v1/rules:validate", json={"source": "#" * 250_000}),
            "unknown path": client.get("/v1/nothing"),
            "wrong method": client.get("/v1/classify"),
            "unknown ruleset source": client.get("/v1/rulesets/nope"),
            "unknown digest": client.get(f"/v1/rulesets/synthesis?digest={digest}"),
            "unknown parameter": client.get("/v1/rulesets?verbose=1"),
        }
        batch = client.post("/v1/classify:batch", json={"accounts": [JSON_ACCOUNT, bad]}).json()
        listed = client.get("/v1/rulesets").json()
        source = client.get("/v1/rulesets/synthesis").json()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ClassifierStub(channel)
        request = pb.ClassifyRequest(account=account_message(ACCOUNT, "acct-1"), view=2)
        by_grpc = json_format.MessageToDict(
            stub.Classify(request, timeout=10), always_print_fields_with_no_presence=True
        )
        try:
            stub.Classify(
                pb.ClassifyRequest(account=json_format.ParseDict(bad, pb.Account())), timeout=10
            )
        except grpc.RpcError as error:
            grpc_bad = str(error.details())
    code, errors = stop(process, 20)
    assert code == 0, errors

    assert full.status_code == 200 and full.headers["content-type"] == "application/json"
    over_http = full.json()
    for answer in (over_http, by_grpc):  # what differs between two decisions
        answer["decision"].pop("decisionId")
        answer["decision"].pop("decidedAt")
    assert over_http == by_grpc  # the same message, in the same mapping
    assert over_http["decision"]["reasons"] and over_http["decision"]["explanation"]
    assert snake.status_code == 200 and snake.json()["decision"]["reasons"]
    status = {what: (r.status_code, r.json()["error"]["status"]) for what, r in answers.items()}
    assert status == {
        "unknown ruleset": (404, "NOT_FOUND"),
        "bad account": (400, "INVALID_ARGUMENT"),
        "digest": (400, "FAILED_PRECONDITION"),
        "bad view": (400, "INVALID_ARGUMENT"),
        "unknown field": (400, "INVALID_ARGUMENT"),
        "not json": (400, "INVALID_ARGUMENT"),
        "not an object": (400, "INVALID_ARGUMENT"),
        "form": (400, "INVALID_ARGUMENT"),
        "batch too large": (429, "RESOURCE_EXHAUSTED"),
        "too large": (413, "RESOURCE_EXHAUSTED"),
        "unknown path": (404, "NOT_FOUND"),
        "wrong method": (405, "UNIMPLEMENTED"),
        "unknown ruleset source": (404, "NOT_FOUND"),
        "unknown digest": (404, "NOT_FOUND"),
        "unknown parameter": (400, "INVALID_ARGUMENT"),
    }
    refusal = answers["bad account"].json()["error"]
    assert refusal["message"] == grpc_bad  # the gRPC status's message, the field first
    assert refusal["message"].startswith("invalid account: followers: expected a count")
    assert refusal["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert refusal["details"][0]["fieldViolations"][0]["field"] == "followers"
    assert answers["unknown ruleset"].json()["error"]["message"].startswith("ruleset: unknown")
    assert (
        answers["unknown field"]
        .json()["error"]["message"]
        .endswith('no field named "acount" at "ClassifyRequest".')
    )
    assert answers["wrong method"].headers["allow"] == "POST"
    assert [r.get("decision", {}).get("tier") for r in batch["results"]] == ["micro", None]
    assert batch["results"][1]["error"]["fieldViolations"][0]["field"] == "followers"
    assert listed["defaultRuleset"] == "synthesis"
    assert "synthesis" in {r["name"] for r in listed["rulesets"]}
    assert source["source"] == (RULES / "synthesis.tiers").read_text()

    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert Counter(d["rpc"] for d in decisions) == {"Classify": 3, "ClassifyBatch": 1}
    assert not any("caller" in d for d in decisions)  # nobody is named: auth is off
    assert {d.get("request_id") for d in decisions if d["rpc"] == "Classify"} == {None, "snake"}


def test_every_spelling_proto3_json_allows_gets_the_same_decision(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    """The plain shapes are read without protobuf's parser, the rest by it: both must
    read an account alike (camelCase or the proto's names, int64 as a string, a number
    or an exponent, a double given as a whole number, nulls as defaults)."""
    _process, _port, http_port = serve(served, "--decision-log", "off")
    topics = {"stringList": {"values": ["fashion"]}}
    spellings = {
        "as written": {
            "followers": {"intValue": "45000"},
            "engagement_rate": {"doubleValue": 0.042},
        },
        "proto names, numbers": {
            "followers": {"int_value": 45000},
            "engagement_rate": {"double_value": 0.042},
        },
        "exponent": {
            "followers": {"intValue": "4.5e4"},
            "engagement_rate": {"doubleValue": "0.042"},
        },
        "whole double": {"followers": {"intValue": 45000}, "engagement_rate": {"doubleValue": 1}},
    }
    answers = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=TIMEOUT) as client:
        for name, attributes in spellings.items():
            account = {
                "id": name,
                "attributes": {
                    **attributes,
                    "topics": topics,
                    "platform": {"stringValue": "instagram"},
                },
            }
            body = {"accounts": [account], "request_id": None, "strict": True, "view": 1}
            answers[name] = client.post("/v1/classify:batch", json=body).json()
        doubled = client.post(
            "/v1/classify",
            json={"requestId": "a", "request_id": "b", "account": {"id": "x"}},
        )
    tiers = {n: [r["decision"]["tier"] for r in a["results"]] for n, a in answers.items()}
    assert tiers == {
        "as written": ["micro"],
        "proto names, numbers": ["micro"],
        "exponent": ["micro"],
        "whole double": ["micro"],  # 100% engagement: still micro by followers
    }
    assert doubled.status_code == 400  # one field spelled twice: the parser refuses it


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_http_certificate_rotation_under_load_fails_no_call(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    """New connections get the new certificate, open ones keep theirs; the files are
    replaced one after the other (certificate first), as `cp` would."""
    ca = CA()
    first = ca.server()
    cert, key = first.write(tmp_path / "pki", "server")
    log_path = tmp_path / "decisions.log"
    process, port, http_port = serve(
        served, "--tls-cert", str(cert), "--tls-key", str(key), "--decision-log", str(log_path)
    )
    assert served_serial(http_port, ca) == first.serial
    stop_load = threading.Event()
    done: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    base = f"https://127.0.0.1:{http_port}"

    def load(reconnect: bool) -> None:
        client = httpx.Client(base_url=base, verify=tls(ca), timeout=TIMEOUT)
        while not stop_load.is_set():
            if reconnect:  # a new connection for every call: each one a handshake
                client.close()
                client = httpx.Client(base_url=base, verify=tls(ca), timeout=TIMEOUT)
            try:
                answer = call(client, "Classify")
                assert answer.status_code == 200, answer.text
                with lock:
                    done["reconnect" if reconnect else "open"] += 1
            except (httpx.HTTPError, AssertionError) as error:
                with lock:
                    failures.append(repr(error))
        client.close()

    threads = [threading.Thread(target=load, args=(r,), daemon=True) for r in (False, True)]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: min(done["open"], done["reconnect"]) >= 20, 30)
        rotated = ca.server()
        cert.write_bytes(rotated.cert)  # a moment with the new certificate and the old key
        time.sleep(0.5)
        key.write_bytes(rotated.key)
        assert wait_until(lambda: served_serial(http_port, ca) == rotated.serial)
        with tls_channel(port, ca) as channel:  # and the gRPC port, from the same files
            stub = pb_grpc.ClassifierStub(channel)
            assert stub.ListRulesets(pb.ListRulesetsRequest(), timeout=10).rulesets
        before = dict(done)
        assert wait_until(lambda: all(done[k] >= before[k] + 20 for k in before), 30)
    finally:
        stop_load.set()
        for thread in threads:
            thread.join(30)
    code, errors = stop(process, 20)
    assert code == 0, errors
    assert failures == []
    decisions = log_path.read_text().splitlines()
    assert len(decisions) == done["open"] + done["reconnect"]  # every answer is logged
    http_events = [e for e in events(errors) if e.get("port") == "http"]
    said = [e["event"] for e in http_events]
    assert "tls_certificate_refused" in said  # the half-replaced set was never served
    assert said.count("tls_certificate_reloaded") == 1


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
def test_sigterm_lets_an_http_batch_in_flight_finish_and_logs_it(
    tmp_path: Path, served: list[subprocess.Popen[str]]
) -> None:
    log_path = tmp_path / "decisions.log"
    process, _port, http_port = serve(served, "--decision-log", str(log_path))
    accounts = [dict(JSON_ACCOUNT, id=f"a{i}") for i in range(5_000)]
    body = json.dumps({"accounts": accounts}).encode()
    got: list[httpx.Response] = []
    sent = threading.Event()

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]
        sent.set()

    def send() -> None:
        got.append(
            httpx.post(
                f"http://127.0.0.1:{http_port}/v1/classify:batch",
                content=pieces(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        )

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    assert sent.wait(30)
    time.sleep(0.05)  # the whole body is out: the batch is being classified
    process.send_signal(signal.SIGTERM)
    sender.join(60)
    code = process.wait(timeout=30)
    assert code == 0, process.stderr.read() if process.stderr else ""
    assert len(got) == 1 and got[0].status_code == 200, got
    received = {r["decision"]["decisionId"] for r in got[0].json()["results"]}
    logged = {json.loads(line)["decision_id"] for line in log_path.read_text().splitlines()}
    assert len(received) == 5_000 and received == logged
    with pytest.raises(httpx.ConnectError):  # and the port is closed
        httpx.get(f"http://127.0.0.1:{http_port}/v1/rulesets", timeout=5)


def test_an_http_port_taken_or_plaintext_beyond_loopback_refuses_the_start(
    tmp_path: Path,
) -> None:
    beyond = tierline(
        "serve", "--host", "0.0.0.0", "--port", str(free_port()),
        "--http-port", str(free_port()), "--decision-log", "off",
    )  # fmt: skip
    assert beyond.returncode == 2
    assert "--tls-cert FILE --tls-key FILE" in beyond.stderr.strip().splitlines()[-1]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        started = tierline(
            "serve", "--port", str(free_port()), "--http-port", str(http_port),
            "--decision-log", "off",
        )  # fmt: skip
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        f"tierline serve: cannot listen on 127.0.0.1:{http_port}: Address already in use"
    )
