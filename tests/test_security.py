"""Issue 26: a service that lets in only whom it should. Every test runs the real
`tierline serve` and calls it over real TLS handshakes, with certificates the tests
make (`tests/certs.py`) and tokens from the real `tierline token new`."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from server.client import account_message
from server.pb import pb, pb_grpc
from server.security.exposure import loopback_only
from tests.certs import CA, Issued
from tests.conftest import ACCOUNT, RULES, tierline
from tests.real_server import free_port, start_serve
from tests.test_faults import stop

WAIT_S = 10.0  # longest wait for a change the server should see within about a second
Call = Callable[[pb_grpc.ClassifierStub, Any], Any]


def new_token(name: str, roles: str, *extra: str) -> tuple[str, str]:
    """(token, line) from the real command."""
    made = tierline("token", "new", name, "--roles", roles, *extra)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    return lines[0], (lines[1] if len(lines) > 1 else "")


def calls() -> dict[str, Call]:
    """One call of every method of the service, as a caller would make it."""
    account = account_message(ACCOUNT, "acct-1")
    return {
        "Classify": lambda stub, md: stub.Classify(
            pb.ClassifyRequest(account=account), timeout=5, metadata=md
        ),
        "ClassifyBatch": lambda stub, md: stub.ClassifyBatch(
            pb.ClassifyBatchRequest(accounts=[account, account]), timeout=5, metadata=md
        ),
        "ClassifyStream": lambda stub, md: list(
            stub.ClassifyStream(iter([pb.ClassifyRequest(account=account)]), timeout=5, metadata=md)
        ),
        "ListRulesets": lambda stub, md: stub.ListRulesets(
            pb.ListRulesetsRequest(), timeout=5, metadata=md
        ),
        "GetRuleset": lambda stub, md: stub.GetRuleset(
            pb.GetRulesetRequest(name="synthesis"), timeout=5, metadata=md
        ),
        "ValidateRules": lambda stub, md: stub.ValidateRules(
            pb.ValidateRulesRequest(source=(RULES / "synthesis.tiers").read_text()),
            timeout=30,
            metadata=md,
        ),
    }


ALLOWED = {  # DESIGN "Security": which role opens which method
    "classify": {"Classify", "ClassifyBatch", "ClassifyStream", "ListRulesets"},
    "read": {"ListRulesets", "GetRuleset"},
    "validate": {"ValidateRules"},
}


def code_of(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def details_of(call: Callable[[], Any]) -> str:
    try:
        call()
    except grpc.RpcError as error:
        return str(error.details())
    return ""


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def tls_channel(port: int, ca: CA, client: Issued | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        ca.pem, client.key if client else None, client.cert if client else None
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def served_serial(port: int, ca: CA) -> int:
    """The serial of the certificate the server presents to a new connection (a real TLS
    handshake, with ALPN h2 as gRPC clients do)."""
    context = ssl.create_default_context(cadata=ca.pem.decode())
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def health_code(channel: grpc.Channel) -> grpc.StatusCode:
    check = health_pb2_grpc.HealthStub(channel).Check
    return code_of(lambda: check(health_pb2.HealthCheckRequest(), timeout=5))


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@dataclass
class Pki:
    ca: CA
    server: Issued
    folder: Path

    def serve_flags(self, *, mutual: bool) -> list[str]:
        cert, key = self.server.write(self.folder, "server")
        flags = ["--tls-cert", str(cert), "--tls-key", str(key)]
        if mutual:
            flags += ["--tls-client-ca", str(self.ca.write(self.folder / "clients-ca.crt"))]
        return flags


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = CA()
    return Pki(ca, ca.server(), tmp_path / "pki")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Servers a test starts; killed at the end whatever happened."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_mutual_tls_every_method_under_every_role_and_the_log_names_the_caller(
    tmp_path: Path, pki: Pki, served: list[subprocess.Popen[str]]
) -> None:
    tokens = tmp_path / "callers"
    made = {role: new_token(f"svc-{role}", role, "--add-to", str(tokens))[0] for role in ALLOWED}
    with tokens.open("a") as file:
        file.write("# the batch job's certificate: it classifies, nothing more\n")
        file.write("batch.example classify cert\n")
    log_path = tmp_path / "decisions.log"
    metrics_port = free_port()
    process, port = start_serve(
        RULES,
        "--no-watch",
        *pki.serve_flags(mutual=True),
        "--auth-tokens",
        str(tokens),
        "--decision-log",
        str(log_path),
        "--metrics-port",
        str(metrics_port),
    )
    served.append(process)
    trusted = pki.ca.client("nobody-special")  # signed by the client CA, no cert line
    batch_job = pki.ca.client("batch job", "batch.example")  # named by its SAN
    stranger = CA("another CA").client("svc-classify")  # same name, wrong CA

    # plaintext to a TLS port, TLS without a client certificate, and a certificate from
    # another CA: no handshake, so no call, not even health
    with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
        assert health_code(plain) == grpc.StatusCode.UNAVAILABLE
    for client in (None, stranger):
        with tls_channel(port, pki.ca, client) as channel:
            assert health_code(channel) == grpc.StatusCode.UNAVAILABLE

    outcomes: dict[tuple[str, str], grpc.StatusCode] = {}
    with tls_channel(port, pki.ca, trusted) as channel:
        stub = pb_grpc.ClassifierStub(channel)
        assert health_code(channel) == grpc.StatusCode.OK
        for role, token in made.items():
            for method, call in calls().items():
                outcomes[role, method] = code_of(lambda: call(stub, bearer(token)))  # noqa: B023
        denied = details_of(lambda: calls()["GetRuleset"](stub, bearer(made["classify"])))
        # a trusted certificate without a `cert` line: known, but allowed nothing
        no_roles = code_of(lambda: calls()["Classify"](stub, None))
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        listed = list(
            reflection.ServerReflectionInfo(iter([ask]), timeout=5, metadata=bearer(made["read"]))
        )
    with tls_channel(port, pki.ca, batch_job) as channel:
        stub = pb_grpc.ClassifierStub(channel)
        by_certificate = {m: code_of(lambda: c(stub, None)) for m, c in calls().items()}  # noqa: B023
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    exposition = metrics.read().decode()
    code, errors = stop(process, 20)
    assert code == 0, errors

    for (role, method), got in outcomes.items():
        want = grpc.StatusCode.OK if method in ALLOWED[role] else grpc.StatusCode.PERMISSION_DENIED
        assert got == want, (role, method, got)
    assert denied == "caller 'svc-classify' lacks the role 'read' that GetRuleset needs"
    assert no_roles == grpc.StatusCode.PERMISSION_DENIED
    assert listed[0].list_services_response.service
    assert by_certificate == {
        m: grpc.StatusCode.OK if m in ALLOWED["classify"] else grpc.StatusCode.PERMISSION_DENIED
        for m in calls()
    }
    refused = [line for line in exposition.splitlines() if line.startswith("tierline_calls_ref")]
    assert 'tierline_calls_refused_total{method="GetRuleset",reason="missing_role"} 4.0' in (
        refused
    ), refused
    said = events(errors)
    started = next(e for e in said if e["event"] == "server_started")
    assert (started["tls"], started["mtls"]) == (True, True)
    assert started["authentication"] == ["tokens", "certificates"]
    assert any(e["event"] == "call_refused" and e["reason"] == "missing_role" for e in said)
    for token in made.values():  # never in the server's events
        assert token not in errors

    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    callers = Counter((d["rpc"], d.get("caller")) for d in decisions)
    assert callers == {
        ("Classify", "svc-classify"): 1,
        ("ClassifyBatch", "svc-classify"): 2,
        ("ClassifyStream", "svc-classify"): 1,
        ("Classify", "batch.example"): 1,
        ("ClassifyBatch", "batch.example"): 2,
        ("ClassifyStream", "batch.example"): 1,
    }
    one = next(d for d in decisions if d["rpc"] == "Classify" and d["caller"] == "batch.example")
    audit = tierline("audit", "--log", str(log_path), "--decision", one["decision_id"])
    assert audit.returncode == 0, audit.stderr
    assert "call: caller batch.example, rpc Classify" in audit.stdout


def test_tokens_missing_malformed_unknown_revoked_and_added_without_a_restart(
    tmp_path: Path, pki: Pki, served: list[subprocess.Popen[str]]
) -> None:
    tokens = tmp_path / "callers"
    old, _ = new_token("crm", "classify", "--add-to", str(tokens))
    process, port = start_serve(
        RULES,
        "--no-watch",
        "--decision-log",
        "off",
        *pki.serve_flags(mutual=False),
        "--auth-tokens",
        str(tokens),
    )
    served.append(process)
    classify = calls()["Classify"]
    with tls_channel(port, pki.ca) as channel:  # TLS without a client certificate
        stub = pb_grpc.ClassifierStub(channel)

        def code(metadata: Any) -> grpc.StatusCode:
            return code_of(lambda: classify(stub, metadata))

        assert code(bearer(old)) == grpc.StatusCode.OK
        refused = {
            "missing": code(None),
            "not bearer": code((("authorization", f"Basic {old}"),)),
            "no token": code((("authorization", "Bearer "),)),
            "two values": code((("authorization", f"Bearer {old}"),) * 2),
            "unknown": code(bearer("tl_" + "x" * 43)),
        }
        assert set(refused.values()) == {grpc.StatusCode.UNAUTHENTICATED}, refused
        missing = details_of(lambda: classify(stub, None))
        assert "authorization: Bearer TOKEN" in missing
        assert health_code(channel) == grpc.StatusCode.OK  # open: probes carry no token
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        assert code_of(lambda: list(reflection(iter([ask]), timeout=5))) == (
            grpc.StatusCode.UNAUTHENTICATED
        )

        new, _ = new_token("crm", "classify", "--add-to", str(tokens))  # rotation: both work
        assert wait_for(lambda: code(bearer(new)) == grpc.StatusCode.OK)
        assert code(bearer(old)) == grpc.StatusCode.OK
        old_line = f"sha256:{hashlib.sha256(old.encode()).hexdigest()}"
        kept = [line for line in tokens.read_text().splitlines() if old_line not in line]
        tokens.write_text("\n".join(kept) + "\n")  # revoked
        assert wait_for(lambda: code(bearer(old)) == grpc.StatusCode.UNAUTHENTICATED)
        assert code(bearer(new)) == grpc.StatusCode.OK
        assert "not known" in details_of(lambda: classify(stub, bearer(old)))
        # a bad line (here a pasted token) is left out, never quoted; the others apply
        with tokens.open("a") as file:
            file.write(f"intruder classify {old}\n")
        third, _ = new_token("crm", "classify", "--add-to", str(tokens))
        assert wait_for(lambda: code(bearer(third)) == grpc.StatusCode.OK)
        assert code(bearer(old)) == grpc.StatusCode.UNAUTHENTICATED
    code_, errors = stop(process, 20)
    assert code_ == 0, errors
    assert old not in errors and new not in errors and third not in errors
    said = events(errors)
    reasons = Counter(e["reason"] for e in said if e["event"] == "call_refused")
    assert {"no_token", "malformed_token", "unknown_token"} <= set(reasons)
    left_out = [e["problems"] for e in said if e["event"] == "auth_tokens_lines_left_out"]
    assert left_out and all(
        problems
        == [
            "line 2: the third field must be sha256: and 64 hex digits (the token's SHA-256, "
            "never the token; `tierline token new` prints the line) or cert"
        ]
        for problems in left_out
    ), left_out


def test_files_rewritten_with_the_same_bytes_are_not_loaded_again(pki: Pki) -> None:
    """A copy seen half-way (truncated, then written) gives the files two stamps for one
    content; the handshake after the second must not load and announce the same set
    again (it did: `tls_certificate_reloaded` twice for one rotation, seen under load)."""
    from server.security.tls import ReloadedFiles, load_files

    cert, key = pki.server.write(pki.folder, "server")
    made: list[int] = []

    def make() -> Any:
        made.append(1)
        return load_files(cert, key, None)

    files = ReloadedFiles((cert, key, None), make, lambda s: s.serial, "grpc")
    assert files.fresh() == (files.current, False) and len(made) == 1
    for step in range(3):  # the same bytes written again, each with a new stamp
        key.write_bytes(pki.server.key)
        cert.write_bytes(pki.server.cert)
        _new_stamp(cert, step)
        assert files.fresh() == (files.current, False)
    assert len(made) == 1
    rotated = pki.ca.server()
    cert.write_bytes(rotated.cert)
    key.write_bytes(rotated.key)
    _new_stamp(cert, 9)
    current, loaded = files.fresh()
    assert loaded and current.serial == rotated.serial and len(made) == 2


def _new_stamp(path: Path, step: int) -> None:
    """Give `path` a modification time of its own (a file system's clock may not tick
    between two writes in a test)."""
    seconds = time.time() + 10 + step
    os.utime(path, (seconds, seconds))


def test_certificate_rotation_under_load_fails_no_call(
    tmp_path: Path, pki: Pki, served: list[subprocess.Popen[str]]
) -> None:
    """New connections get the new certificate; open ones keep working; the files are
    replaced one after the other (certificate first), as `cp` would."""
    flags = pki.serve_flags(mutual=False)
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(RULES, "--no-watch", "--decision-log", str(log_path), *flags)
    served.append(process)
    first = served_serial(port, pki.ca)
    assert first == pki.server.serial
    stop_load = threading.Event()
    done: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    request = pb.ClassifyRequest(account=account_message(ACCOUNT, "load"))

    def load(reconnect: bool) -> None:
        channel = tls_channel(port, pki.ca)
        while not stop_load.is_set():
            if reconnect:  # a new connection for every call: each one a handshake
                channel.close()
                channel = tls_channel(port, pki.ca)
            try:
                pb_grpc.ClassifierStub(channel).Classify(request, timeout=10)
                with lock:
                    done["reconnect" if reconnect else "open"] += 1
            except grpc.RpcError as error:
                with lock:
                    failures.append(f"{error.code().name}: {error.details()}")
        channel.close()

    threads = [threading.Thread(target=load, args=(r,), daemon=True) for r in (False, True, True)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: min(done["open"], done["reconnect"]) >= 20)
        rotated = pki.ca.server()
        cert, key = Path(flags[1]), Path(flags[3])
        cert.write_bytes(rotated.cert)  # a moment with the new certificate and the old key
        time.sleep(0.5)
        key.write_bytes(rotated.key)
        assert wait_for(lambda: served_serial(port, pki.ca) == rotated.serial)
        before = dict(done)
        assert wait_for(lambda: all(done[k] >= before[k] + 20 for k in ("open", "reconnect")))
    finally:
        stop_load.set()
        for thread in threads:
            thread.join(30)
    code, errors = stop(process, 20)
    assert code == 0, errors
    assert failures == []
    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(decisions) == done["open"] + done["reconnect"]  # every answer is logged ...
    assert not any("caller" in d for d in decisions)  # ... and nobody is named: auth is off
    said = [e["event"] for e in events(errors)]
    assert "tls_certificate_refused" in said  # the half-replaced set was never served
    assert said.count("tls_certificate_reloaded") == 1


def test_plaintext_beyond_loopback_and_unusable_files_are_refused_at_start(
    tmp_path: Path, pki: Pki
) -> None:
    refused = tierline("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and "--tls-cert FILE --tls-key FILE" in lines[0], refused.stderr
    assert "--insecure" in lines[0]
    flags = pki.serve_flags(mutual=False)
    other = pki.ca.server()
    (tmp_path / "other.key").write_bytes(other.key)
    mismatched = [flags[0], flags[1], "--tls-key", str(tmp_path / "other.key")]
    tokens = tmp_path / "tokens"
    tokens.write_text("crm classify tl_notadigest\n")
    for bad, says in (
        (mismatched, "is not the key of the certificate"),
        (["--tls-cert", flags[1]], "TLS needs both files"),
        ([*flags, "--auth-tokens", str(tokens)], "line 1: the third field must be sha256:"),
    ):
        started = tierline("serve", "--decision-log", "off", "--port", str(free_port()), *bad)
        assert started.returncode == 2, started.stderr
        assert says in started.stderr and len(started.stderr.splitlines()) == 1
        assert "tl_notadigest" not in started.stderr  # a pasted token is never quoted


def test_token_new_prints_the_token_once_and_its_line(tmp_path: Path) -> None:
    token, line = new_token("analytics", "classify,read")
    name, roles, digest = line.split()
    assert (name, roles) == ("analytics", "classify,read")
    assert digest == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith("tl_") and len(token) >= 40 and token not in line
    assert new_token("analytics", "classify")[0] != token
    for bad in (["bad name", "--roles", "classify"], ["x", "--roles", "admin"]):
        wrong = tierline("token", "new", *bad)
        assert wrong.returncode == 2 and wrong.stdout == ""


def test_the_proto_names_its_packages_for_other_languages() -> None:
    """A Go, Java or C# client is generated from the proto alone, without flags that name
    its package (the issue's Go client needed `--go_opt=M...`)."""
    options = pb.DESCRIPTOR.GetOptions()
    assert options.go_package == "tierline.dev/gen/go/tierline/v1;tierlinev1"
    assert (options.java_package, options.java_multiple_files) == ("dev.tierline.v1", True)
    assert options.csharp_namespace == "Tierline.V1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("[::]", False),
        ("", False),
        ("no-such-host.invalid", False),
    ],
)
def test_what_counts_as_loopback_for_plaintext(host: str, loopback: bool) -> None:
    """Plaintext binds only where every address the host names is loopback; a wildcard
    or a name that does not resolve is refused (the start says so, see above)."""
    assert loopback_only(host) is loopback
