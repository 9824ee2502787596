"""`tierline audit` on a large decision log (issue 5): a few seconds and constant
memory for a million lines.

Writes LINES decision-log lines (1,000,000 by default) with the service's own
line encoder, each with its own decision id, account id and time, and the
source archived beside them; then runs the real command line, in its own
process, for the last decision by id (the whole log is read) and for one
account's latest decision (the whole log must be read), and reads each run's
peak memory from the kernel (VmHWM). The same runs on a 1,000-line log show
that memory does not grow with the log.
Run: `make bench`, or `.venv/bin/python -m benchmarks.run audit_speed`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.accounts import accounts
from engine import load_ruleset
from engine.decision import new_decision_id
from server.log_lines import DecisionLines, Masker, WriterConfig, call_context

ROOT = Path(__file__).resolve().parent.parent
LINES = int(os.environ.get("TIERLINE_BENCH_AUDIT_LINES", "1000000"))
CHUNK = 1000


def write_log(path: Path, lines: int) -> tuple[str, str, float]:
    """The log; the id of its last decision and of an account seen throughout; and the
    seconds spent making lines, as the writer process makes them."""
    ruleset = load_ruleset(ROOT / "rules" / "synthesis.tiers")
    archive = path.parent / "archive"
    archive.mkdir(exist_ok=True)
    (archive / f"{ruleset.digest}.tiers").write_text(ruleset.source, encoding="utf-8")
    encoder = DecisionLines(Masker(WriterConfig(str(path))))
    encoder.add(ruleset)
    sample = accounts(CHUNK)
    context = call_context("ClassifyBatch", "bench", "ipv4:127.0.0.1:50000", 1200)
    start_ns = time.time_ns() - lines * 1000
    last = ""
    encoding = 0.0
    with open(path, "wb") as log:
        for first in range(0, lines, CHUNK):
            items = []
            for n in range(first, min(first + CHUNK, lines)):
                moment = start_ns + n * 1000
                last = new_decision_id(moment)
                items.append((last, moment, f"acct-{n % 50_000}", sample[n % CHUNK]))
            started = time.perf_counter()
            data = encoder.encode(ruleset.digest, items, context)
            encoding += time.perf_counter() - started
            log.write(data)
    return last, f"acct-{(lines - 1) % 50_000}", encoding


# The command line, then its own peak memory (VmHWM: this process image's high-water
# mark; getrusage's maxrss would include the benchmark process it was forked from).
_AUDIT = """
import sys
from tierline.cli.main import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read().splitlines()
print(next(line for line in status if line.startswith("VmHWM")).split()[1], file=sys.stderr)
sys.exit(code)
"""


def timed_audit(log: Path, *which: str) -> tuple[float, float]:
    """Seconds and peak resident MiB of one `tierline audit` process."""
    command = [sys.executable, "-c", _AUDIT, "audit", "--log", str(log), *which]
    command += ["--rules", str(ROOT / "rules"), "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tierline audit {' '.join(which)} exited {done.returncode}")
    return seconds, int(done.stderr.split()[-1]) / 1024


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for lines in (1000, LINES):
            log = Path(tmp) / f"decisions-{lines}.log"
            started = time.perf_counter()
            decision, account, encoding = write_log(log, lines)
            written = time.perf_counter() - started
            if lines == LINES:
                size = log.stat().st_size / 1e6
                rows.append(
                    (f"log: {lines:,} lines, MB; seconds to write", f"{size:,.0f}; {written:.1f}")
                )
                rows.append(
                    (
                        "a decision-log line as the writer makes it, µs",
                        f"{encoding / lines * 1e6:.2f}",
                    )
                )
            results[lines] = (
                timed_audit(log, "--decision", decision),
                timed_audit(log, "--account", account),
            )
            log.unlink()
        for kind, index in (("--decision (the last one)", 0), ("--account (its latest)", 1)):
            small, large = results[1000][index], results[LINES][index]
            rows.append((f"audit {kind}: {LINES:,} lines, seconds", f"{large[0]:.2f}"))
            rows.append(
                (
                    f"audit {kind}: peak MiB, 1,000 lines / {LINES:,} lines",
                    f"{small[1]:.0f} / {large[1]:.0f}",
                )
            )
    return rows
