"""Fuzzing the rules folder of a serving `tierline serve` (issue 24).

For about 20 seconds a seeded generator fills the rules folder with what
careless colleagues and attackers leave there: FIFOs, sockets, huge sparse
files, links out of the folder and into it, dangling links and loops, folders
named `*.tiers`, garbage and non-UTF-8 bytes, large files deleted while they
may be read, removals, and SIGHUPs. Meanwhile callers classify without pause
(unary, batch, stream, health), and a good file is edited now and then.

It asserts what an operator relies on: no call failed, every good edit was
served within seconds (reloads keep working), no secret from outside the
folder reached a log line, memory never held a huge file, and SIGTERM ended
the server within its grace time. The seed is in every failure message; set
TIERLINE_FUZZ_SEED to replay one.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from server.pb import pb, pb_grpc
from tests.conftest import RULES
from tests.real_server import Callers, wait_until
from tests.test_rules_folder import serve_within

SECRET = "SECRET-OUTSIDE-THE-FOLDER"
FDA = (RULES / "fda.tiers").read_text()
GRACE_S = 2.0
FUZZ_S = 20.0


def fda_version(version: str) -> str:
    return FDA.replace('version "2026-11-25"', f'version "{version}"', 1)


class Vandal:
    """One hostile change to the folder at a time, chosen by a seeded generator."""

    def __init__(self, rules: Path, outside: Path, rng: random.Random, server_pid: int):
        self.rules, self.outside, self.rng, self.pid = rules, outside, rng, server_pid
        self.sockets: list[socket.socket] = []
        self.actions: list[Callable[[Path], None]] = [
            self.fifo,
            self.unix_socket,
            self.sparse,
            self.link_out,
            self.link_in,
            self.dangling,
            self.loop,
            self.folder,
            self.garbage,
            self.not_utf8,
            self.empty,
            self.deleted_mid_read,
            self.remove,
            self.remove,
            self.sighup,
        ]

    def step(self) -> str:
        action = self.rng.choice(self.actions)
        path = self.rules / f"h{self.rng.randrange(12)}.tiers"
        self.clear(path)
        with contextlib.suppress(OSError):  # a race with ourselves (a loop's other name)
            action(path)
        return action.__name__

    def clear(self, path: Path) -> None:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        elif path.exists() or path.is_symlink():
            path.unlink()

    def fifo(self, path: Path) -> None:
        os.mkfifo(path)

    def unix_socket(self, path: Path) -> None:
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listening.bind(str(path))
        self.sockets.append(listening)

    def sparse(self, path: Path) -> None:
        with open(path, "wb") as handle:
            handle.truncate(self.rng.choice([17 * 1024**2, 1024**3, 3 * 1024**3, 64 * 1024**3]))

    def link_out(self, path: Path) -> None:
        path.symlink_to(self.rng.choice([self.outside, Path("/etc/passwd"), Path("/dev/zero")]))

    def link_in(self, path: Path) -> None:
        target = self.rules / "store" / "kept.tiers"
        path.symlink_to(self.rng.choice([target, Path("store") / "kept.tiers"]))

    def dangling(self, path: Path) -> None:
        path.symlink_to(self.rules / "nowhere" / "x.tiers")

    def loop(self, path: Path) -> None:
        other = path.with_name(f"loop{self.rng.randrange(3)}.tiers")
        self.clear(other)
        path.symlink_to(other)
        other.symlink_to(path)

    def folder(self, path: Path) -> None:
        path.mkdir()

    def garbage(self, path: Path) -> None:
        path.write_bytes(self.rng.randbytes(self.rng.randrange(1, 5000)))

    def not_utf8(self, path: Path) -> None:
        path.write_bytes(f"ruleset {path.stem}\n".encode() + b"\xff\xfe caf\xe9\n")

    def empty(self, path: Path) -> None:
        path.write_bytes(b"")

    def deleted_mid_read(self, path: Path) -> None:
        body = f"ruleset {path.stem}\ninput followers: count\n" + "# pad\n" * 20_000
        path.write_text(body + "tier a when followers at least 1\notherwise none\n")
        time.sleep(self.rng.uniform(0.0, 0.6))  # around the debounce: sometimes mid-read
        path.unlink()

    def remove(self, path: Path) -> None:
        pass  # `step` cleared it

    def sighup(self, path: Path) -> None:
        os.kill(self.pid, signal.SIGHUP)

    def close(self) -> None:
        for listening in self.sockets:
            listening.close()


def _served_version(stub: pb_grpc.ClassifierStub) -> str:
    for info in stub.ListRulesets(pb.ListRulesetsRequest(), timeout=10).rulesets:
        if info.name == "fda":
            return str(info.version)
    return ""


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_a_hostile_folder_under_load_fails_no_call(tmp_path: Path) -> None:
    seed = int(os.environ.get("TIERLINE_FUZZ_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "synthesis.tiers").write_text((RULES / "synthesis.tiers").read_text())
    (rules / "fda.tiers").write_text(FDA)
    (rules / "store").mkdir()
    (rules / "store" / "kept.tiers").write_text(
        "ruleset kept\ninput followers: count\ntier big when followers at least 1M\n"
        "otherwise none\n"
    )
    outside = tmp_path / "secret.tiers"
    outside.write_text(f"ruleset secret\n# {SECRET}\n")
    os.mkfifo(rules / "h0.tiers")  # present at start-up
    stderr_path = tmp_path / "stderr.log"
    with open(stderr_path, "w") as stderr:  # a file, not a pipe: nothing can fill and block it
        process, port = serve_within(
            30,
            rules,
            "--decision-log",
            "off",
            stderr=stderr,
            env={"TIERLINE_DEBOUNCE_MS": "100", "TIERLINE_GRACE_SECONDS": str(GRACE_S)},
        )
    vandal = Vandal(rules, outside, rng, process.pid)
    callers = Callers(port, timeout=20).start()
    done: list[str] = []
    slow_edits: list[tuple[str, float]] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)
            started = time.monotonic()
            edit = 0
            while time.monotonic() - started < FUZZ_S:
                for _ in range(rng.randrange(1, 6)):
                    done.append(vandal.step())
                    time.sleep(rng.uniform(0.0, 0.15))
                edit += 1
                version = f"fuzz-{edit}"
                (rules / "fda.tiers").write_text(fda_version(version))
                began = time.monotonic()
                if not wait_until(lambda v=version: _served_version(stub) == v, 10):
                    slow_edits.append((version, time.monotonic() - began))
            assert callers.wait_for(lambda: callers.calls > 0, 5)
            peak = _peak_rss_kib(process.pid)
        callers.stop()
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=GRACE_S + 15)
        took = time.monotonic() - stopping
    finally:
        callers.stop()
        vandal.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    said = f"seed {seed}; steps {done}"
    errors = stderr_path.read_text()
    fda_lines = [line for line in errors.splitlines() if "fda" in line or "reload" in line]
    assert not slow_edits, f"edits not served within 10 s: {slow_edits}; {said}; {fda_lines}"
    assert callers.calls > 50 and not callers.errors, f"{callers.errors} ({callers.calls}); {said}"
    assert code == 0 and took < GRACE_S + 5, f"SIGTERM took {took:.1f} s, exit {code}; {said}"
    assert peak < 1024 * 1024, f"peak memory {peak:,} KiB: a huge file was read; {said}"
    assert SECRET not in errors and "root:x:0:0" not in errors, said
    assert "Traceback" not in errors, f"{errors[-3000:]}; {said}"
