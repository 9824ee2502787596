"""Run `tierline serve` as a child process, and call it as production would: for
end-to-end tests, fault tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import orjson
from google.rpc import code_pb2

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether `condition` came true within `timeout` seconds, polled every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(
    rules: Path, *flags: str, env: dict[str, str] | None = None, **popen: Any
) -> tuple[subprocess.Popen[str], int]:
    """Start `tierline serve --rules RULES --port <free> FLAGS…` and wait until it listens."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tierline",
            "serve",
            "--rules",
            str(rules),
            "--port",
            str(port),
            *flags,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=popen.pop("stderr", subprocess.PIPE),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        **popen,
    )
    wait_listening(process, port)
    return process, port


def wait_listening(process: subprocess.Popen[str], port: int, timeout: float = 120.0) -> None:
    """Wait until the server accepts connections on `port` (it listens only once its rules
    are loaded and its decision log is ready); fail with its stderr if it exits first.
    (Not by reading stdout: that is the decision log's alone.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    errors = process.stderr.read() if process.stderr else ""
    raise RuntimeError(f"tierline serve did not start (exit {process.returncode}): {errors}")


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (Linux: /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def writer_pid(server_pid: int, timeout: float = 10.0) -> int:
    """The decision-log writer of a `tierline serve` process (waits for it to run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in child_pids(server_pid):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if name == "tierline-log" and state != "Z":  # named so by server/log_writer.py;
                return pid  # a killed one not yet reaped is a zombie of the same name
        time.sleep(0.05)
    raise RuntimeError(f"no decision-log writer under {server_pid}")


def logged_ids(*paths: Path) -> list[str]:
    """Every decision id in decision-log files, duplicates kept; cut lines skipped."""
    ids: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_bytes().splitlines():
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event") == "decision":
                ids.append(event["decision_id"])
    return ids


ACCOUNT = {"followers": 45_000, "engagement_rate": 0.042, "topics": ["fashion"],
           "platform": "instagram"}  # fmt: skip


@dataclass
class Callers:
    """Clients that keep calling a server, as production would, and keep every decision
    id they received, every error by status code, and the longest any call waited."""

    port: int
    kinds: tuple[str, ...] = ("unary", "unary", "batch", "stream", "health")
    timeout: float = 30.0
    received: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    longest_s: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Callers:
        for n, kind in enumerate(self.kinds):
            thread = threading.Thread(target=self._run, args=(kind, n), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    def _run(self, kind: str, n: int) -> None:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        from server.client import account_message
        from server.pb import pb, pb_grpc

        accounts = [
            account_message({**ACCOUNT, "followers": f}, f"c{n}-{f}")
            for f in range(0, 200_000, 1000)
        ]
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stop.is_set():
                started = time.monotonic()
                ids: list[str] = []
                try:
                    if kind == "batch":
                        batch = pb.ClassifyBatchRequest(accounts=accounts)
                        results = stub.ClassifyBatch(batch, timeout=self.timeout).results
                        ids = [r.decision.decision_id for r in results if r.HasField("decision")]
                    elif kind == "stream":
                        requests = iter([pb.ClassifyRequest(account=a) for a in accounts[:50]])
                        for r in stub.ClassifyStream(requests, timeout=self.timeout):
                            if r.HasField("decision"):
                                ids.append(r.decision.decision_id)
                            else:  # a stream's error entry: its google.rpc code
                                self._count_error(code_pb2.Code.Name(r.error.code))
                    elif kind == "health":
                        health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                        time.sleep(0.05)
                    else:
                        request = pb.ClassifyRequest(account=accounts[n % len(accounts)])
                        ids = [stub.Classify(request, timeout=self.timeout).decision.decision_id]
                except grpc.RpcError as error:
                    self._count_error(error.code().name)
                    self._stop.wait(0.01)
                waited = time.monotonic() - started
                with self._lock:
                    self.calls += 1
                    self.received.extend(ids)
                    self.longest_s[kind] = max(self.longest_s.get(kind, 0.0), waited)

    def _count_error(self, what: str) -> None:
        with self._lock:
            self.errors[what.split(":")[0]] += 1


def big_ruleset(size: int = 2_500_000) -> str:
    """About `size` bytes of rules (about 25,000 tiers): seconds of checking for
    ValidateRules, which is linear in the rules: 10 s on one core here."""
    lines = [
        "ruleset big",
        "input followers: count",
        "input engagement_rate: percent",
        "input country: text",
    ]
    n = 0
    while sum(len(line) + 1 for line in lines) < size:
        low = n * 1000
        lines.append(
            f'tier t{n} when followers between {low} and {low + 999} and country == "c{n % 50}"'
            f" and engagement_rate at least {n % 7}%"
        )
        n += 1
    return "\n".join([*lines, "otherwise none", ""])


def silent(until: threading.Event) -> Iterator[Any]:
    """Requests for a stream that never sends one (an idle client), until `until` is set."""
    until.wait()
    yield from ()


def unread(count: int = 20_000) -> Iterator[Any]:
    """Requests for a stream whose client never reads the answers."""
    from server.client import account_message
    from server.pb import pb

    for _ in range(count):
        yield pb.ClassifyRequest(account=account_message(ACCOUNT))


class CannotMount(Exception):
    """No tmpfs here (not root): mount's own words."""


@contextlib.contextmanager
def small_disk(where: Path, size: str = "2m", *, read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs of `size` mounted at `where`: a disk that fills up, or, `read_only`,
    one nobody can write, root included (root only; CannotMount elsewhere)."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        raise CannotMount(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def grow_disk(where: Path, size: str = "256m") -> None:
    """Room again on a `small_disk`."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(where)], check=True)


def remount(where: Path, *, read_only: bool) -> None:
    """Make a `small_disk` read-only (as a container's root file system is), or writable
    again. (A mount with a file open for writing cannot turn read-only: EBUSY.)"""
    mode = "ro" if read_only else "rw"
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, timeout=30)
