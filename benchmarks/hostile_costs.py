"""Costs on hostile or careless rule files (issue 24, "Linear costs"): each shape that
was quadratic or worse, timed as the `tierline` process a rule author or CI runs.

Files (generated here, in a temporary folder):
- 4,000 and 10,000 tiers `tier tJ when followers between …` for `tierline fmt --check`
  (was 8.4 s for 4,000: the alignment of names looked for the run of tiers again for
  every statement); target 10,000 under 2 s;
- one level of 5,000 bands `bJ at least …` for `tierline check` (was 18.8 s: each band
  was compared with every band above it); target under 3 s;
- `platform in {…100,000 texts…}` for `tierline check`, with `otherwise none`, without
  it (the solver looks for an account no tier takes) and under `policy unique` (the
  solver looks for an overlap) (was 52 s: each text's position was a list search, and
  the set one equality per text), and `topics has any of` the same set (was one
  solver variable per text); target under 3 s;
- 400 and 2,000 tiers `tier tJ when followers at least J` under `policy unique`
  (every pair overlaps: 79,800 and 1,999,000 pairs; was 40 s and 27 MB of output for
  400, over 100 s for 2,000); target 2,000 under 10 s, its output bounded.

Figures: wall time of one run (Python's start included), the CPU time of the process
(user + system; on a machine shared with other work the wall time is the CPU time
plus waiting), its peak memory, its exit code, and for the overlaps the size of what
it printed and the number of diagnostics of `--format json`.

Run: `.venv/bin/python -m benchmarks.run hostile_costs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "tierline"]
Rows = list[tuple[str, str]]

HEAD = """\
ruleset hostile
version "bench"
policy {policy}

input followers: count
input engagement_rate: percent
input platform: text
input topics: set of text

"""


def banded_tiers(n: int) -> str:
    body = "".join(
        f"tier t{j} when followers between {j * 10} and {j * 10 + 9}\n" for j in range(n)
    )
    return HEAD.format(policy="first") + body + "otherwise none\n"


def level_of_bands(n: int) -> str:
    bands = "".join(f"  b{j} at least {(n - j) * 10}\n" for j in range(n))
    level = f"level size from followers\n{bands}  tiny otherwise\n\n"
    return HEAD.format(policy="first") + level + "tier big when size b0\notherwise none\n"


def set_of_texts(
    n: int, policy: str = "first", otherwise: bool = True, test: str = "platform in"
) -> str:
    items = ", ".join(f'"p{j}"' for j in range(n))
    tiers = f"tier a when {test} {{{items}}}\ntier b when followers at least 10\n"
    return HEAD.format(policy=policy) + tiers + ("otherwise none\n" if otherwise else "")


def overlapping_tiers(n: int) -> str:
    body = "".join(f"tier t{j} when followers at least {j}\n" for j in range(n))
    return HEAD.format(policy="unique") + body + "otherwise none\n"


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    peak_kb: int  # the process's peak resident memory
    code: int
    output: bytes  # stdout and stderr


def run(command: list[str], timeout: float = 900) -> Run:
    """One process, its own resource usage (`wait4`), killed after `timeout` seconds."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        output = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss, proc.returncode, output)


def _timed(command: list[str]) -> str:
    done = run(command)
    return (
        f"{done.wall:.2f} s wall, {done.cpu:.2f} s CPU, {done.peak_kb / 1024:.0f} MB peak, "
        f"exit {done.code}"
    )


def main() -> Rows:
    rows: Rows = []
    with tempfile.TemporaryDirectory() as where:
        folder = Path(where)

        def write(name: str, text: str) -> str:
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return str(path)

        for n in (4_000, 10_000):
            path = write(f"tiers{n}.tiers", banded_tiers(n))
            target = " (target < 2 s)" if n == 10_000 else ""
            rows.append(
                (
                    f"tierline fmt --check, {n:,} tiers{target}",
                    _timed([*CLI, "fmt", "--check", path]),
                )
            )
        path = write("bands.tiers", level_of_bands(5_000))
        rows.append(
            ("tierline check, a level of 5,000 bands (target < 3 s)", _timed([*CLI, "check", path]))
        )
        for label, text in (
            ("with otherwise", set_of_texts(100_000)),
            ("no otherwise (solver: uncovered)", set_of_texts(100_000, otherwise=False)),
            ("policy unique (solver: overlap)", set_of_texts(100_000, "unique")),
            (
                "as topics has any of, no otherwise",
                set_of_texts(100_000, otherwise=False, test="topics has any of"),
            ),
        ):
            path = write("texts.tiers", text)
            rows.append(
                (
                    f"tierline check, platform in {{100,000 texts}}, {label} (< 3 s)",
                    _timed([*CLI, "check", path]),
                )
            )
        for n in (400, 2_000):
            path = write(f"overlap{n}.tiers", overlapping_tiers(n))
            target = " (target < 10 s)" if n == 2_000 else ""
            rows.append(
                (
                    f"tierline check, {n:,} overlapping tiers, policy unique{target}",
                    _timed([*CLI, "check", path]),
                )
            )
            text = run([*CLI, "check", path]).output
            as_json = run([*CLI, "check", path, "--format", "json"]).output
            found = [json.loads(line) for line in as_json.splitlines() if line.startswith(b"{")]
            shown = sum(1 for d in found if "omitted" not in d)
            omitted = sum(d.get("omitted", 0) for d in found)
            witnessed = sum(1 for d in found if "witness" in d)
            rows.append(
                (
                    "  its output: text bytes; JSON diagnostics listed (witnessed) + in a summary",
                    f"{len(text):,} B; {shown} ({witnessed}) + {omitted:,}",
                )
            )
    return rows


if __name__ == "__main__":
    for label, value in main():
        print(f"{label:70} {value}")
