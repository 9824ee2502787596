"""What security costs, and HTTP/JSON beside gRPC (issue 26), on loopback.

Two `tierline serve` processes side by side, each with an HTTP/JSON port, the
decision log off in both (its cost is `grpc_speed`'s; here it would only add noise):
- plain: plaintext, no authentication;
- secure: TLS (an ECDSA P-256 certificate from `tests/certs.py`) on both ports, and
  `--auth-tokens`, every call sending `Authorization: Bearer` with a token that has
  the role.
Workloads: ClassifyBatch of 1,000 accounts (BASIC view; 2 callers), unary Classify
(8 callers), both over gRPC and over HTTP/JSON (httpx, one keep-alive connection a
caller). Connections are made once a caller, as clients do: the TLS handshake is in
the warm-up, the per-call costs (encryption, the token's SHA-256 and the role check)
are measured. The servers take turns, ROUNDS times per workload; each figure is the
median of its rounds. Before measuring, the tiers of a batch from every server and
port are checked to agree.
Run: `.venv/bin/python -m benchmarks.run secure_speed`.
"""

from __future__ import annotations

import os
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf import json_format

from benchmarks.accounts import accounts
from server.client import account_message
from server.pb import pb, pb_grpc
from server.security.callers import new_token, token_line
from tests.certs import CA
from tests.real_server import free_port, start_serve

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("TIERLINE_BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("TIERLINE_BENCH_ROUNDS", "3"))
Call = Callable[[], int]  # one call; returns the accounts it classified


class Served:
    """A `tierline serve` with gRPC and HTTP ports; `secure`: TLS and a token."""

    def __init__(self, folder: Path, ca: CA | None, token: str | None):
        self.ca, self.token = ca, token
        self.http_port = free_port()
        flags = ["--no-watch", "--decision-log", "off", "--http-port", str(self.http_port)]
        if ca is not None and token is not None:
            cert, key = ca.server().write(folder, "server")
            tokens = folder / "callers"
            tokens.write_text(token_line("bench", ["classify"], token) + "\n")
            flags += ["--tls-cert", str(cert), "--tls-key", str(key)]
            flags += ["--auth-tokens", str(tokens)]
        self.process, self.port = start_serve(ROOT / "rules", *flags, stderr=subprocess.DEVNULL)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self) -> grpc.Channel:
        options = [("grpc.max_receive_message_length", 64 << 20)]
        if self.ca is None:
            return grpc.insecure_channel(f"127.0.0.1:{self.port}", options=options)
        credentials = grpc.ssl_channel_credentials(self.ca.pem)
        return grpc.secure_channel(f"127.0.0.1:{self.port}", credentials, options=options)

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.ca is None:
            return httpx.Client(
                base_url=f"http://127.0.0.1:{self.http_port}", headers=headers, timeout=60
            )
        context = ssl.create_default_context(cadata=self.ca.pem.decode())
        return httpx.Client(
            base_url=f"https://127.0.0.1:{self.http_port}",
            headers=headers,
            verify=context,
            timeout=60,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def run_for(threads: int, make: Callable[[], tuple[Call, Callable[[], None]]]) -> float:
    """Accounts a second: `threads` callers without pause over SECONDS, after half a
    second of warm-up; a call across an edge of the window counts for its share."""
    stop = threading.Event()
    calls: list[tuple[float, float, int]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        call, close = make()
        mine = []
        try:
            call()  # warm up: the connection and its handshake
            while not stop.is_set():
                began = time.perf_counter()
                n = call()
                mine.append((began, time.perf_counter(), n))
        except Exception as error:  # a failed call fails the benchmark, said below
            with lock:
                failures.append(repr(error))
        finally:
            close()
            with lock:
                calls.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(0.5)
    started = time.perf_counter()
    time.sleep(SECONDS)
    stop.set()
    ended = time.perf_counter()
    for w in workers:
        w.join()
    if failures:
        raise RuntimeError(f"{len(failures)} callers failed, the first: {failures[0]}")
    done = 0.0
    for began, finished, n in calls:
        inside = min(finished, ended) - max(began, started)
        if inside > 0:
            done += n * inside / max(finished - began, 1e-9)
    return done / (ended - started)


def main() -> list[tuple[str, str]]:
    sample = accounts(1000)
    messages = [account_message(a, str(i)) for i, a in enumerate(sample)]
    batch = pb.ClassifyBatchRequest(accounts=messages, view=pb.DECISION_VIEW_BASIC)
    single = pb.ClassifyRequest(account=messages[7])
    batch_json = json_format.MessageToDict(batch)
    single_json = json_format.MessageToDict(single)

    def grpc_batch(server: Served) -> tuple[Call, Callable[[], None]]:
        channel = server.channel()
        stub, metadata = pb_grpc.ClassifierStub(channel), server.metadata
        return (
            lambda: len(stub.ClassifyBatch(batch, timeout=60, metadata=metadata).results),
            channel.close,
        )

    def grpc_unary(server: Served) -> tuple[Call, Callable[[], None]]:
        channel = server.channel()
        stub, metadata = pb_grpc.ClassifierStub(channel), server.metadata

        def call() -> int:
            stub.Classify(single, timeout=10, metadata=metadata)
            return 1

        return call, channel.close

    def http_batch(server: Served) -> tuple[Call, Callable[[], None]]:
        client = server.http()

        def call() -> int:
            answer = client.post("/v1/classify:batch", json=batch_json)
            answer.raise_for_status()
            return len(answer.json()["results"])

        return call, client.close

    def http_unary(server: Served) -> tuple[Call, Callable[[], None]]:
        client = server.http()

        def call() -> int:
            client.post("/v1/classify", json=single_json).raise_for_status()
            return 1

        return call, client.close

    workloads: list[tuple[str, Callable[[Served], tuple[Call, Callable[[], None]]], int]] = [
        ("gRPC batch BASIC", grpc_batch, 2),
        ("gRPC unary x8", grpc_unary, 8),
        ("HTTP/JSON batch BASIC", http_batch, 2),
        ("HTTP/JSON unary x8", http_unary, 8),
    ]
    rates: dict[tuple[str, str], list[float]] = {}
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = CA()
        servers = {"plain": Served(Path(tmp), None, None)}
        servers["secure"] = Served(Path(tmp), ca, new_token())
        try:
            tiers = _tiers_agree(servers, batch, batch_json)
            rows.append(("agreement: tiers of 1,000 accounts, gRPC and HTTP, plain and secure",
                         f"identical ({tiers} distinct tiers)"))  # fmt: skip
            for _round in range(ROUNDS):  # servers in turn, so that drifts in load hit both
                for name, workload, threads in workloads:
                    for kind, server in servers.items():
                        rate = run_for(threads, lambda s=server, w=workload: w(s))  # type: ignore[misc]
                        rates.setdefault((kind, name), []).append(rate)
        finally:
            for server in servers.values():
                server.stop()
    median = {key: statistics.median(values) for key, values in rates.items()}
    targets = {"gRPC batch BASIC": 0.9, "gRPC unary x8": 0.8}
    for name, _workload, _threads in workloads:
        unit = "calls/s" if "unary" in name else "accounts/s"
        plain, secure = median[("plain", name)], median[("secure", name)]
        rows.append((f"{name}: plaintext, no authentication {unit}", f"{plain:,.0f}"))
        rows.append((f"{name}: TLS + token {unit}", f"{secure:,.0f}"))
        target = f" (target >= {targets[name]})" if name in targets else ""
        rows.append((f"{name}: TLS + token / plaintext{target}", f"{secure / plain:.2f}"))
        each = zip(rates[("secure", name)], rates[("plain", name)], strict=True)
        rows.append((f"{name}: TLS + token / plaintext, each round",
                     ", ".join(f"{a / b:.2f}" for a, b in each)))  # fmt: skip
    for kind, label in (("plain", "plaintext"), ("secure", "TLS + token")):
        for what in ("batch BASIC", "unary x8"):
            http, rpc = median[(kind, f"HTTP/JSON {what}")], median[(kind, f"gRPC {what}")]
            rows.append((f"{what}, {label}: HTTP/JSON / gRPC", f"{http / rpc:.2f}"))
    return rows


def _tiers_agree(servers: dict[str, Served], batch: pb.ClassifyBatchRequest, body: Any) -> int:
    """Every server and port gives the same tier to every account; returns how many tiers."""
    seen = []
    for server in servers.values():
        with server.channel() as channel:
            answer = pb_grpc.ClassifierStub(channel).ClassifyBatch(
                batch, timeout=60, metadata=server.metadata
            )
        seen.append([r.decision.tier for r in answer.results])
        with server.http() as client:
            results = client.post("/v1/classify:batch", json=body).json()["results"]
        seen.append([r["decision"]["tier"] for r in results])
    if any(tiers != seen[0] for tiers in seen):
        raise AssertionError("the servers or ports disagree on a tier")
    return len(set(seen[0]))
