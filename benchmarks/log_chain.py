"""The signed decision log (issue 30): what signing costs, and how fast a log verifies.

1. Throughput of a real `tierline serve` with the decision log to a file, signing off
   and on, side by side: both servers run at once and the rounds alternate between
   them (off, on, off, on, …), so a neighbour's load on this machine hits both alike;
   each round is sustained (its window lasts until the log holds every decision, as in
   `grpc_speed`). The figure is the median of the rounds' rates, on over off. Twice:
   the default ruleset's lines of this benchmark (1.5 KB), and mavrck's (0.8 KB, the
   size of a usual Classify line of a shipped ruleset).
2. The writer's own cost per line: the service's line encoder alone, and with the
   chain (one SHA-256 a line and the member appended), in this process; for both
   sizes of line.
3. `tierline audit verify` of a LINES-line signed log (1,000,000 by default) in its
   own process: seconds, and peak memory (VmHWM) against a 1,000-line log.
Run: `.venv/bin/python -m benchmarks.run log_chain`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.accounts import accounts
from benchmarks.grpc_speed import run_for
from engine import load_ruleset
from engine.decision import new_decision_id
from server.client import account_message
from server.log_chain import CHECKPOINT_EVERY_LINES, Chain
from server.log_lines import DecisionLines, Masker, WriterConfig, call_context
from server.pb import pb
from tests.real_server import start_serve

ROOT = Path(__file__).resolve().parent.parent
LINES = int(os.environ.get("TIERLINE_BENCH_VERIFY_LINES", "1000000"))
ROUNDS = int(os.environ.get("TIERLINE_BENCH_ROUNDS", "5"))
CHUNK = 1000


def _keys(folder: Path) -> tuple[Path, Path, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    private, public = folder / "key.pem", folder / "key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public, key


def measure(threads: int, body: Any, port: int, log: Path) -> float:
    """Accounts per second, sustained, as `grpc_speed.measure`: the window is stretched
    until the log holds every decision. But a growth of the log that is only the
    writer's own lines (a checkpoint: every 10 s while lines come, so also just after
    a round's last decision) is no decision being written: counted, it stretched some
    rounds of signing on by up to the second of quiet waited for, and none of off."""
    window = run_for(threads, body, port)
    return window.done / (window.seconds + max(0.0, _decisions_written_by(log) - window.ended))


def _decisions_written_by(log: Path, quiet: float = 1.0) -> float:
    """Wait until no decision line has come for `quiet` seconds; when the last came."""
    size = log.stat().st_size
    grew = since = time.perf_counter()
    while time.perf_counter() - since < quiet:
        now = log.stat().st_size
        if now != size:
            if not _only_events(log, size, now):
                grew = time.perf_counter()
            size, since = now, time.perf_counter()
        time.sleep(0.05)
    return grew


def _only_events(log: Path, start: int, end: int) -> bool:
    """Are the bytes from `start` to `end` only the writer's own lines (small, each
    `{"event":…`, never a decision, which begins `{"decision_id"`)?"""
    if end - start > 64 * 1024:
        return False
    with open(log, "rb") as handle:
        handle.seek(start)
        lines = handle.read(end - start).splitlines()
    return all(line.startswith(b'{"event":') for line in lines)


def throughput(folder: Path, private: Path, ruleset: str = "") -> list[tuple[str, str]]:
    """Accounts per second through ClassifyBatch (1,000 accounts a call, 4 callers), of
    `ruleset` ("": the default, synthesis, whose lines here average 1.6 KB; mavrck's
    lines are of the size of a usual Classify line of a shipped ruleset, 0.8 KB)."""
    messages = [account_message(a, str(i)) for i, a in enumerate(accounts(1000))]
    request = pb.ClassifyBatchRequest(
        ruleset=ruleset, accounts=messages, view=pb.DECISION_VIEW_BASIC
    )

    def body(stub: object) -> int:
        stub.ClassifyBatch(request, timeout=60)  # type: ignore[attr-defined]
        return 1000

    servers = {}
    for name, flags in (("off", ()), ("on", ("--log-signing-key", str(private)))):
        log = folder / f"decisions-{ruleset or 'default'}-{name}.log"
        process, port = start_serve(
            ROOT / "rules",
            "--no-watch",
            "--decision-log",
            str(log),
            "--archive",
            str(folder / "archive"),
            *flags,
            stderr=subprocess.DEVNULL,
        )
        servers[name] = (process, port, log)
    rates: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for _ in range(ROUNDS):
            for name in ("off", "on"):
                _process, port, log = servers[name]
                rate = measure(4, body, port, log)
                rates[name].append(rate)
    finally:
        for process, _port, _log in servers.values():
            process.terminate()
            process.wait(120)
    ratios = [on / off for on, off in zip(rates["on"], rates["off"], strict=True)]
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    _process, _port, log = servers["off"]
    with open(log, "rb") as handle:
        count = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    size = log.stat().st_size / max(1, count)
    what = f"{ruleset or 'synthesis'} lines of {size / 1000:.1f} KB"
    return [
        (f"{what}, signing off: accounts/s (median)", f"{off:,.0f}"),
        (f"{what}, signing on: accounts/s (median)", f"{on:,.0f}"),
        (f"{what}, signing on / off (median of rates; target >= 0.9)", f"{on / off:.2f}"),
        ("  each round, on / off", ", ".join(f"{r:.2f}" for r in ratios)),
    ]


def write_signed_log(
    path: Path, key: Ed25519PrivateKey, lines: int, rules: str = "synthesis.tiers"
) -> tuple[float, float]:
    """A signed log as the writer makes it (a checkpoint every 100,000 lines and at the
    end); seconds spent encoding lines, and spent chaining and signing them."""
    ruleset = load_ruleset(ROOT / "rules" / rules)
    encoder = DecisionLines(Masker(WriterConfig(str(path))))
    encoder.add(ruleset)
    chain = Chain(key, str(path))
    sample = accounts(CHUNK)
    context = call_context("ClassifyBatch", "bench", "ipv4:127.0.0.1:50000", 1200)
    start_ns = time.time_ns() - lines * 1000
    encoding = sealing = 0.0
    with open(path, "wb") as log:
        log.write(chain.open_on(str(path)))
        for first in range(0, lines, CHUNK):
            items = []
            for n in range(first, min(first + CHUNK, lines)):
                moment = start_ns + n * 1000
                items.append((new_decision_id(moment), moment, f"acct-{n}", sample[n % CHUNK]))
            started = time.perf_counter()
            data = encoder.encode(ruleset.digest, items, context)
            encoded = time.perf_counter()
            sealed = bytearray()  # as the writer does: sealed into its backlog
            chain.seal_into(sealed, data)
            if chain.since >= CHECKPOINT_EVERY_LINES:
                sealed += chain.checkpoint("lines")
            sealing += time.perf_counter() - encoded
            encoding += encoded - started
            log.write(sealed)
        log.write(chain.checkpoint("close"))
    return encoding, sealing


_VERIFY = """
import sys
from tierline.cli.main import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read().splitlines()
print(next(line for line in status if line.startswith("VmHWM")).split()[1], file=sys.stderr)
sys.exit(code)
"""


def timed_verify(log: Path, public: Path) -> tuple[float, float]:
    """Seconds and peak resident MiB of one `tierline audit verify` process."""
    command = [sys.executable, "-c", _VERIFY, "audit", "verify", "--log", str(log)]
    command += ["--public-key", str(public), "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"audit verify exited {done.returncode}: {done.stdout[:500]}")
    return seconds, int(done.stderr.split()[-1]) / 1024


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        private, public, key = _keys(folder)
        rows += throughput(folder, private)
        rows += throughput(folder, private, "mavrck")
        results = {}
        for lines in (1000, LINES):
            log = folder / f"signed-{lines}.log"
            encoding, sealing = write_signed_log(log, key, lines)
            if lines == LINES:
                rows.append(
                    (
                        "writer, µs a line: encode / chain and sign",
                        f"{encoding / lines * 1e6:.2f} / {sealing / lines * 1e6:.2f}",
                    )
                )
                rows.append(
                    (f"signed log: {lines:,} lines, MB", f"{log.stat().st_size / 1e6:,.0f}")
                )
            results[lines] = timed_verify(log, public)
            log.unlink()
        usual = folder / "signed-mavrck.log"
        encoding, sealing = write_signed_log(usual, key, 200_000, "mavrck.tiers")
        rows.append(
            (
                f"writer, mavrck lines of {usual.stat().st_size / 200_000 / 1000:.1f} KB, "
                "µs a line: encode / chain and sign",
                f"{encoding / 200_000 * 1e6:.2f} / {sealing / 200_000 * 1e6:.2f}",
            )
        )
        usual.unlink()
        rows.append(
            (f"audit verify: {LINES:,} lines, seconds (target < 5)", f"{results[LINES][0]:.2f}")
        )
        rows.append(
            (
                f"audit verify: peak MiB, 1,000 lines / {LINES:,} lines",
                f"{results[1000][1]:.0f} / {results[LINES][1]:.0f}",
            )
        )
    return rows
