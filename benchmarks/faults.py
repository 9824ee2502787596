"""Faults (issue 11): `tierline serve` under callers (2 unary, 1 batch of 200, 1 stream of
50, 1 health checker; accounts: the benchmark's Classify account with varying followers),
and for each fault: decisions the callers received, how many of them are in the log,
what the drop counter says, the longest wait of any call, and the time to recover.

Run: `make bench`, or `.venv/bin/python -m benchmarks.run faults`. The full-disk rows
need root (a 2 MiB tmpfs); without it they say so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.client import account_message
from server.pb import pb, pb_grpc
from tests.real_server import (
    ACCOUNT,
    Callers,
    CannotMount,
    big_ruleset,
    child_pids,
    grow_disk,
    logged_ids,
    silent,
    small_disk,
    start_serve,
    unread,
    writer_pid,
)

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
Rows = list[tuple[str, str]]


def main() -> Rows:
    rows: Rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fault in FAULTS:
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                rows += [(f"{name}: {label}", value) for label, value in fault(folder)]
            finally:  # a fault that failed must not leave its server running
                for pid in child_pids(os.getpid()):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
    return rows


# ----------------------------------------------------------------------------- helpers


def _serve(folder: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[Any, int, Path]:
    log_path = folder / "decisions.log"
    process, port = start_serve(
        RULES, "--decision-log", str(log_path), "--no-watch", *flags, env=env
    )
    return process, port, log_path


def _sigterm(process: subprocess.Popen[str]) -> tuple[float, str]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError("SIGTERM did not stop the server within 60 s") from None
    return time.monotonic() - started, process.stderr.read() if process.stderr else ""


def _dropped(stderr: str) -> int:
    found = re.search(r'"dropped_decision_events":(\d+)', stderr)
    if found is None:
        raise RuntimeError("server_stopped said nothing about dropped decisions")
    return int(found.group(1))


def _outcome(callers: Callers, logs: list[Path], stderr: str) -> Rows:
    ids = logged_ids(*logs)
    logged = set(ids)
    received = set(callers.received)
    waits = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(callers.longest_s.items()))
    errors = ", ".join(f"{k} {v}" for k, v in sorted(callers.errors.items())) or "none"
    return [
        ("decisions received by callers", f"{len(received):,}"),
        ("of them not in the log", f"{len(received - logged):,}"),
        ("counted as dropped by the server", f"{_dropped(stderr):,}"),
        ("lines in the log for the same decision twice", f"{len(ids) - len(logged):,}"),
        ("longest wait of a call", waits),
        ("failed calls", errors),
    ]


def _until(condition: Callable[[], bool], timeout: float = 30.0) -> float:
    """Seconds until `condition` holds (polled every 10 ms)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"not recovered within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def _logged_soon(port: int, log_path: Path) -> Callable[[], bool]:
    """A fresh Classify, and whether its decision has reached the log."""
    stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    wanted: list[str] = []

    def check() -> bool:
        if not wanted:
            try:
                request = pb.ClassifyRequest(account=account_message(ACCOUNT))
                wanted.append(stub.Classify(request, timeout=1).decision.decision_id)
            except grpc.RpcError:
                return False
        return log_path.exists() and wanted[0].encode() in log_path.read_bytes()

    return check


def _percentiles(values: list[float]) -> str:
    ranked = sorted(values)

    def at(q: float) -> float:
        return ranked[min(len(ranked) - 1, int(q * len(ranked)))]

    return f"{at(0.5):.1f} / {at(0.99):.1f} / {ranked[-1]:.1f} ms"


def _code(error: BaseException | None) -> str:
    return error.code().name if isinstance(error, grpc.RpcError) else "OK"  # type: ignore[attr-defined]


def _health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status)


# ------------------------------------------------------------------------------ faults


def writer_killed(folder: Path, policy: str = "block") -> Rows:
    env = {"TIERLINE_LOG_QUEUE": "2"} if policy == "drop" else None
    process, port, log_path = _serve(folder, "--log-when-full", policy, env=env)
    callers = Callers(port).start()
    time.sleep(1.5)
    os.kill(writer_pid(process.pid), signal.SIGKILL)
    recovery = _until(_logged_soon(port, log_path))
    time.sleep(1.0)
    callers.stop()
    _took, stderr = _sigterm(process)
    return [
        *_outcome(callers, [log_path], stderr),
        ("kill -9 to a new decision logged", f"{recovery:.2f} s"),
    ]


def writer_killed_drop(folder: Path) -> Rows:
    return writer_killed(folder, "drop")


def disk_full(folder: Path, policy: str = "block") -> Rows:
    try:
        with small_disk(folder / "disk") as disk:
            return _disk_full(folder, disk, policy)
    except CannotMount as refused:
        return [("skipped", str(refused))]


def _disk_full(folder: Path, disk: Path, policy: str) -> Rows:
    log_path = disk / "decisions.log"
    process, port = start_serve(
        RULES,
        "--decision-log",
        str(log_path),
        "--archive",
        str(folder / "archive"),
        "--no-watch",
        "--log-when-full",
        policy,
        env={"TIERLINE_LOG_WAIT_SECONDS": "1"},
    )
    # no batches here: at 40,000 lines (55 MB) a second the grown disk would fill again
    callers = Callers(port, kinds=("unary", "unary", "stream", "health")).start()
    full_after = _until(lambda: shutil.disk_usage(disk).free < 64 * 1024)
    time.sleep(2.0)  # full for two seconds
    health_when_full = _health(port)
    grow_disk(disk)
    serving = _until(lambda: _health(port) == 1)
    logged = _until(_logged_soon(port, log_path))
    time.sleep(0.5)
    callers.stop()
    _took, stderr = _sigterm(process)
    status = {1: "SERVING", 2: "NOT_SERVING"}.get(health_when_full, str(health_when_full))
    return [
        *_outcome(callers, [log_path], stderr),
        ("full after", f"{full_after:.1f} s of load"),
        ("health while full", status),
        ("room again to health SERVING", f"{serving:.2f} s"),
        ("room again to a new decision logged", f"{serving + logged:.2f} s"),
    ]


def disk_full_drop(folder: Path) -> Rows:
    return disk_full(folder, "drop")


def rotated(folder: Path) -> Rows:
    process, port, log_path = _serve(folder)
    callers = Callers(port).start()
    time.sleep(1.0)
    log_path.rename(folder / "decisions.log.1")
    reopened = _until(lambda: log_path.exists() and log_path.stat().st_size > 0)
    time.sleep(0.5)
    log_path.rename(folder / "decisions.log.2")
    process.send_signal(signal.SIGUSR1)
    signalled = _until(lambda: log_path.exists() and log_path.stat().st_size > 0)
    time.sleep(0.5)
    callers.stop()
    _took, stderr = _sigterm(process)
    logs = [folder / "decisions.log.1", folder / "decisions.log.2", log_path]
    return [
        *_outcome(callers, logs, stderr),
        ("mv to lines in a new file (no signal)", f"{reopened:.2f} s"),
        ("mv + SIGUSR1 to lines in a new file", f"{signalled:.2f} s"),
    ]


def sigterm_open_streams(folder: Path) -> Rows:
    process, port, log_path = _serve(folder, env={"TIERLINE_GRACE_SECONDS": "1"})
    callers = Callers(port, kinds=("stream",) * 6 + ("unary", "health")).start()
    time.sleep(1.5)
    took, stderr = _sigterm(process)
    callers.stop()
    return [
        *_outcome(callers, [log_path], stderr),
        ("SIGTERM to exit (grace 1 s)", f"{took:.2f} s"),
    ]


def server_killed(folder: Path) -> Rows:
    """SIGKILL of the server itself: what was gathered but not yet handed to the writer
    is lost. Five runs; the loss in decisions and in time of traffic."""
    lost, per_s = [], []
    for run in range(5):
        run_folder = folder / str(run)
        run_folder.mkdir()
        process, port, log_path = _serve(run_folder)
        callers = Callers(port, kinds=("unary",) * 4 + ("batch", "stream")).start()
        time.sleep(1.5)
        before = len(callers.received)
        time.sleep(1.0)
        rate = (len(callers.received) - before) / 1.0
        process.kill()
        process.wait(10)
        callers.stop()
        time.sleep(1.5)  # the orphaned writer writes what it had, then exits
        missing = set(callers.received) - set(logged_ids(log_path))
        lost.append(len(missing))
        per_s.append(rate)
    worst = max(lost)
    rate = statistics.median(per_s)
    return [
        ("decisions lost per run (5 runs)", ", ".join(map(str, lost))),
        ("calls' decisions per second at the time (median)", f"{rate:,.0f}"),
        ("worst loss as time of traffic", f"{1000 * worst / rate:.2f} ms"),
    ]


def starved(folder: Path) -> Rows:
    """200 idle streams, 20 that never read, 16 ValidateRules of a 2.5 MB file (5 s
    deadline): how long health and Classify take meanwhile."""
    process, port, _log = _serve(folder, env={"TIERLINE_GRACE_SECONDS": "1"})
    never = threading.Event()
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]
    stubs = [pb_grpc.ClassifierStub(c) for c in channels]
    held = [stubs[n % 4].ClassifyStream(silent(never), timeout=120) for n in range(200)]
    held += [stubs[n % 4].ClassifyStream(unread(), timeout=120) for n in range(20)]
    request = pb.ValidateRulesRequest(source=big_ruleset(), file_name="big.tiers")
    heavy = [stubs[n % 4].ValidateRules.future(request, timeout=5) for n in range(16)]
    time.sleep(1.0)
    health = health_pb2_grpc.HealthStub(channels[0])
    health_ms, classify_ms = [], []
    until = time.monotonic() + 5.0
    while time.monotonic() < until:
        started = time.perf_counter()
        health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        health_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        stubs[1].Classify(pb.ClassifyRequest(account=account_message(ACCOUNT)), timeout=5)
        classify_ms.append(1000 * (time.perf_counter() - started))
        time.sleep(0.01)
    codes = sorted({_code(f.exception()) for f in heavy})
    took, _stderr = _sigterm(process)
    never.set()
    for channel in channels:
        channel.close()

    return [
        (
            "health p50 / p99 / max",
            _percentiles(health_ms) + f" ({len(health_ms)} calls)",
        ),
        ("Classify p50 / p99 / max", _percentiles(classify_ms)),
        ("ValidateRules outcomes", ", ".join(codes)),
        ("SIGTERM to exit with 220 streams open", f"{took:.2f} s"),
        ("streams held", str(len(held))),
    ]


def broken_file(folder: Path) -> Rows:
    rules = folder / "rules"
    shutil.copytree(RULES, rules)
    process, port = start_serve(rules, "--decision-log", "off", env={"TIERLINE_DEBOUNCE_MS": "50"})
    stub = pb_grpc.ClassifierStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

    def state(name: str) -> int:
        listed = stub.ListRulesets(pb.ListRulesetsRequest(), timeout=5).rulesets
        return next((r.state for r in listed if r.path.endswith(name)), -1)

    (rules / "big.tiers").write_text(
        "ruleset big\ninput f: count\ntier a when f at least " + "9" * 5000 + "\n"
    )
    rejected = _until(lambda: state("big.tiers") == pb.LOAD_STATE_FAILED)
    (rules / "fda2.tiers").write_text(
        (RULES / "fda.tiers").read_text().replace("ruleset fda", "ruleset fda2")
    )
    loaded = _until(lambda: state("fda2.tiers") == pb.LOAD_STATE_SERVING)
    _took, stderr = _sigterm(process)
    return [
        ("5,000-digit number saved to rejected", f"{rejected:.2f} s"),
        ("a good file saved after it to serving", f"{loaded:.2f} s"),
        ("tracebacks on stderr", str(stderr.count("Traceback"))),
    ]


FAULTS: list[tuple[str, Callable[[Path], Rows]]] = [
    ("writer kill -9 (block)", writer_killed),
    ("writer kill -9 (drop, 2,000 may wait)", writer_killed_drop),
    ("disk full (block)", disk_full),
    ("disk full (drop)", disk_full_drop),
    ("rotation", rotated),
    ("SIGTERM, open streams", sigterm_open_streams),
    ("server kill -9", server_killed),
    ("starving", starved),
    ("broken rule file", broken_file),
]
