"""How long `tierline check` takes on generated rulesets of 100, 1,000 and 10,000 tiers.

Target (issue 2): 1,000 tier rules checked in under 1 s; time grows linearly.
Run: `make bench` or `.venv/bin/python -m benchmarks.check_speed`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.language.source import Source
from engine.load import check_source

HEADER = """\
ruleset generated
version "bench"
policy first
input followers: count
input engagement_rate: percent
input topics: set of text
input platform: text
level engagement from engagement_rate
  high   at least 3.5%
  medium at least 1%
  low    otherwise
"""


def generated(rules: int) -> str:
    lines = [HEADER]
    for i in range(rules):
        low, high = i * 1_000, i * 1_000 + 999
        lines.append(
            f"tier t{i} when followers between {low} and {high} and engagement high "
            f'and (topics has any of {{"fashion", "tech"}} or platform in {{"tiktok"}})\n'
        )
    lines.append("otherwise none\n")
    return "".join(lines)


def best_of(runs: int, fn: object) -> float:
    assert callable(fn)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    per_rule = {}
    for n in (100, 1_000, 10_000):
        text = generated(n)
        source = Source(text, f"generated-{n}.tiers")
        seconds = best_of(3 if n < 10_000 else 1, lambda s=source: check_source(s))
        per_rule[n] = seconds / n
        rows.append((f"check_source, {n:,} tier rules (in process)", f"{seconds * 1000:.0f} ms"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated-1000.tiers"
        path.write_text(generated(1_000))
        cli = [sys.executable, "-m", "tierline", "check", str(path)]
        seconds = best_of(3, lambda: subprocess.run(cli, check=True, capture_output=True))
        rows.append(("`tierline check`, 1,000 tier rules (whole command)", f"{seconds:.2f} s"))
    ratio = per_rule[10_000] / per_rule[100]
    rows.append(("time per rule at 10,000 / at 100 (1.0 = linear)", f"{ratio:.2f}"))
    return rows


if __name__ == "__main__":
    for name, value in main():
        print(f"{name:60} {value}")
