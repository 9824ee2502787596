"""The server's children and the stop signals while a child is being spawned
(`server/children.py`): a SIGTERM sent to the server then is not lost (it was, when
the server ignored the signals around `Process.start()`, and systemd then waited
for SIGKILL), and a decision-log writer restarted by the supervisor thread is not
killed by a Ctrl-C during its start-up (off the main thread it had no protection)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from server.client import account_message
from server.pb import pb, pb_grpc
from tests.conftest import ACCOUNT, RULES
from tests.real_server import ROOT, child_pids, free_port, start_serve, writer_pid


def _state(pid: int) -> str:
    """The process's state letter ("Z" for a zombie), "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _first_child(pid: int, timeout: float) -> int | None:
    """The first child `pid` spawns, seen as soon as it exists (polled each 0.5 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = child_pids(pid)
        if found:
            return found[0]
        time.sleep(0.0005)
    return None


def test_a_sigterm_while_the_server_spawns_a_child_stops_it(tmp_path: Path) -> None:
    """SIGTERM to the server the moment its first child (the decision-log writer) is
    forked, while `Process.start()` runs in the main thread: the server stops. Three
    starts, each signalled in the window."""
    for attempt in range(3):
        log_path = tmp_path / f"decisions{attempt}.log"
        port = str(free_port())
        serve = ["serve", "--rules", str(RULES), "--port", port, "--decision-log", str(log_path)]
        process = subprocess.Popen(
            [sys.executable, "-m", "tierline", *serve, "--no-watch"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            child = _first_child(process.pid, timeout=120)
            assert child is not None, "the server spawned no child"
            os.kill(process.pid, signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError("the SIGTERM sent during a spawn was lost") from None
        finally:
            process.kill()
            process.wait(timeout=10)
        errors = process.stderr.read() if process.stderr else ""
        assert code in (0, -signal.SIGTERM), errors[-3000:]
        assert "Traceback" not in errors, errors[-3000:]


def test_ctrl_c_during_a_restarted_writers_start_up_does_not_kill_it(tmp_path: Path) -> None:
    """The writer dies; the supervisor thread starts another. SIGINT sent to the new
    writer every 10 ms from the moment it is forked until well after it runs (as a
    group's Ctrl-C reaches it) does not kill it: it starts with the signals blocked
    and then ignores them. It then writes the decisions of later calls, and the
    server stops gracefully with nothing lost."""
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES, "--decision-log", str(log_path), "--no-watch", start_new_session=True
    )
    try:
        first = writer_pid(process.pid)
        before = set(child_pids(process.pid))
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        new: int | None = None
        while new is None and time.monotonic() < deadline:
            fresh = set(child_pids(process.pid)) - before
            new = min(fresh) if fresh else None
            time.sleep(0.0005)
        assert new is not None, "no writer was restarted"
        signalled = 0
        until = time.monotonic() + 3.0
        while time.monotonic() < until and _state(new) not in ("", "Z"):
            os.kill(new, signal.SIGINT)
            signalled += 1
            time.sleep(0.01)
        assert _state(new) not in ("", "Z"), f"the restarted writer died after {signalled} SIGINTs"
        assert writer_pid(process.pid) == new
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            batch = [account_message({**ACCOUNT, "followers": f}, str(f)) for f in range(200)]
            results = stub.ClassifyBatch(pb.ClassifyBatchRequest(accounts=batch), timeout=30)
        os.kill(process.pid, signal.SIGTERM)
        code = process.wait(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    errors = process.stderr.read() if process.stderr else ""
    assert code == 0, errors[-3000:]
    assert "Fatal Python error" not in errors and "KeyboardInterrupt" not in errors, errors
    logged = {json.loads(line)["decision_id"] for line in log_path.read_text().splitlines()}
    assert {r.decision.decision_id for r in results.results} <= logged
