"""Rulesets of any size (issue 13): generated rulesets of N tiers, each
`followers between A and B and platform == "pK"` (a band per platform, as
generated rulesets are), `otherwise none`.

- For N = 10, 1,000, 10,000 and 100,000, each loaded in a fresh process: the
  time to load (parse, check, analysis, compile) and the memory it keeps,
  both per rule; the cost of a decision that matches the first, the middle
  and the last tier (each checked against the tier it must give), with the
  range index (`engine/python/index.py`, the default from 64 tiers) and
  without it (every tier tried in turn, as rulesets the index does not fit).
- A tier of 1,000 conditions: the first explanation (compiling the explainer),
  later ones, and the memory the first one took.
- `tierline serve` with the 100,000 tiers: the time until it serves, its
  memory, decisions at the first and last rule over gRPC, and a hot reload
  of an edit while callers keep classifying.
Accounts: made here, one per position. Decision costs: in each child, 7 rounds
that time, in turn, a first-tier match of a 10-tier ruleset loaded beside it and
this size's first, middle and last match (best of 3 repeats each); medians. The
ratios to 10 tiers are taken within one child, against its own 10-tier figure.

Run: `make bench`, or `.venv/bin/python -m benchmarks.run rule_scale`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from engine.python.index import MIN_TIERS
from server.client import account_message
from server.gen.tierline.v1 import classifier_pb2 as pb
from server.gen.tierline.v1 import classifier_pb2_grpc as pb_grpc
from tests.real_server import start_serve

SIZES = (10, 1_000, 10_000, 100_000)
Rows = list[tuple[str, str]]

# Run in a fresh process per size, so that memory is the ruleset's alone.
_LOAD = """
import gc, json, sys, time, timeit
from engine import load_ruleset
from engine.python import index

if sys.argv[3] == "scan":  # no range index: every tier tried in turn
    index.MIN_TIERS = 10**9

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
n, path = int(sys.argv[1]), sys.argv[2]
text = open(path).read()
# A first load pays once for the process, not for its ruleset: z3's context (27 MiB),
# the parser's tables, lazy imports. A small other ruleset pays it before `before`.
load_ruleset(text="ruleset warm\\ninput x: count\\ntier a when x > 1\\notherwise b\\n")
gc.collect(); before = rss()
started = time.perf_counter()
rs = load_ruleset(text=text, name="scale")
loaded = time.perf_counter() - started
gc.collect(); kept = rss() - before
first = {"followers": 5, "platform": "p0"}
middle = {"followers": (n // 2) * 1000 + 5, "platform": f"p{(n // 2) % 7}"}
last = {"followers": (n - 1) * 1000 + 5, "platform": f"p{(n - 1) % 7}"}
assert rs.classify(first).tier == "t0" and rs.classify(last).tier == f"t{n - 1}"
assert rs.classify(middle).tier == f"t{n // 2}"
scanned = sys.argv[3] == "scan"
# The 10-tier ruleset that ratios are taken against, timed in this process, in turn
# with this size's positions (7 rounds, medians): the machine's drifts hit both alike.
base = load_ruleset(text=open(sys.argv[4]).read(), name="base")
slow = max(3, 20_000 // n) if scanned else 20_000
timed = {"base": (base, first, 20_000), "first": (rs, first, 20_000),
         "middle": (rs, middle, slow), "last": (rs, last, slow)}
rounds = {key: [] for key in timed}
for _ in range(7):
    for key, (ruleset, account, number) in timed.items():
        best = min(timeit.repeat(lambda: ruleset.classify(account), number=number, repeat=3))
        rounds[key].append(best / number * 1e9)
figures = {key: sorted(values)[len(values) // 2] for key, values in rounds.items()}
print(json.dumps({"load": loaded, "kept": kept, **figures}))
"""

_WIDE = """
import gc, json, sys, time
from engine import load_ruleset

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
n = int(sys.argv[1])
conditions = " and ".join(f"followers above {i}" for i in range(n))
text = ("ruleset wide\\ninput followers: count\\n"
        f"tier wide when {conditions}\\ntier rest when followers above 5\\notherwise none\\n")
rs = load_ruleset(text=text)
account = {"followers": n // 2}
decision = rs.classify(account)
gc.collect(); before = rss()
started = time.perf_counter(); decision.explain(); first = time.perf_counter() - started
gc.collect(); took = rss() - before
started = time.perf_counter()
for _ in range(20):
    rs.classify(account).explain()
later = (time.perf_counter() - started) / 20
print(json.dumps({"bytes": len(text), "first": first, "later": later, "took": took}))
"""


def ruleset_text(n: int, renamed: str = "") -> str:
    lines = ["ruleset scale", "input followers: count", "input platform: text"]
    for i in range(n):
        low = i * 1000
        name = renamed if renamed and i == n - 1 else f"t{i}"
        lines.append(
            f'tier {name} when followers between {low} and {low + 999} and platform == "p{i % 7}"'
        )
    return "\n".join([*lines, "otherwise none", ""])


def _child(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.rule_scale: the child failed: {done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def in_process(folder: Path) -> Rows:
    rows: Rows = []
    scans, indexed = {}, {}
    base = folder / f"scale{SIZES[0]}.tiers"
    base.write_text(ruleset_text(SIZES[0]))
    for n in SIZES:
        path = folder / f"scale{n}.tiers"
        path.write_text(ruleset_text(n))
        got = indexed[n] = _child(_LOAD, str(n), str(path), "index", str(base))
        scans[n] = scan = _child(_LOAD, str(n), str(path), "scan", str(base))
        per_rule = (scan["last"] - scan["first"]) / max(1, n - 1)
        rows += [
            (
                f"{n:,} tiers: load (parse, check, analysis, compile)",
                f"{got['load']:.2f} s, {got['load'] / n * 1e6:,.0f} us a rule",
            ),
            (
                f"{n:,} tiers: memory kept after the load",
                f"{got['kept'] / 2**20:,.1f} MiB, {got['kept'] / n / 1024:,.1f} KiB a rule",
            ),
            (
                f"{n:,} tiers, every tier tried: match at the first / last, ns",
                f"{scan['first']:,.0f} / {scan['last']:,.0f}",
            ),
            (
                f"{n:,} tiers, every tier tried: ns per tier before the match (<= 20)",
                f"{per_rule:.1f}",
            ),
        ]
        if n >= MIN_TIERS:
            rows.append(
                (
                    f"{n:,} tiers, range index: match at the first / middle / last, ns",
                    f"{got['first']:,.0f} / {got['middle']:,.0f} / {got['last']:,.0f}",
                )
            )
    for n in SIZES[1:]:
        scan, got = scans[n], indexed[n]
        rows.append(
            (
                f"first-tier match, {n:,} tiers / 10 tiers' in the same process (<= 1.5): "
                "every tier tried; index",
                f"{scan['first'] / scan['base']:.2f}; {got['first'] / got['base']:.2f}",
            )
        )
        worst = max(got[k] for k in ("first", "middle", "last"))
        rows.append(
            (
                f"range index, {n:,} tiers: rate at the slowest position / 10 tiers' (>= 0.25)",
                f"{got['base'] / worst:.2f}",
            )
        )
    return rows


def wide_tier() -> Rows:
    got = _child(_WIDE, "1000")
    return [
        (
            f"a tier of 1,000 conditions ({got['bytes'] / 1024:.0f} KiB): first explain (< 1 s)",
            f"{got['first']:.2f} s, {got['took'] / 2**20:.0f} MiB more memory (< 100)",
        ),
        ("a tier of 1,000 conditions: later explains (< 10 ms)", f"{got['later'] * 1e3:.2f} ms"),
    ]


def served(folder: Path, n: int = SIZES[-1]) -> Rows:
    rules = folder / "served"
    rules.mkdir()
    path = rules / "scale.tiers"
    path.write_text(ruleset_text(n))
    started = time.perf_counter()
    process, port = start_serve(rules, "--decision-log", "off")
    try:
        ready = time.perf_counter() - started
        rss = _rss_mib(process.pid)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pb_grpc.ClassifierStub(channel)

        def tier(followers: int, platform: str) -> str:
            account = account_message({"followers": followers, "platform": platform})
            request = pb.ClassifyRequest(ruleset="scale", account=account)
            answer = stub.Classify(request, timeout=10)
            return answer.decision.tier

        last_followers, last_platform = (n - 1) * 1000 + 5, f"p{(n - 1) % 7}"
        if tier(5, "p0") != "t0" or tier(last_followers, last_platform) != f"t{n - 1}":
            raise RuntimeError("benchmarks.rule_scale: a served decision is not its tier")
        timings = []
        for _ in range(200):
            begun = time.perf_counter()
            tier(last_followers, last_platform)
            timings.append(time.perf_counter() - begun)
        failed, calls, stop = [], [0], threading.Event()

        def keep_calling() -> None:
            while not stop.is_set():
                try:
                    tier(5, "p0")
                    calls[0] += 1
                except grpc.RpcError as error:
                    failed.append(error)

        caller = threading.Thread(target=keep_calling)
        caller.start()
        edited = time.perf_counter()
        path.write_text(ruleset_text(n, renamed="edited"))
        while tier(last_followers, last_platform) != "edited":
            if time.perf_counter() - edited > 600:
                raise RuntimeError("benchmarks.rule_scale: the edit was never served")
            time.sleep(0.2)
        reloaded = time.perf_counter() - edited
        stop.set()
        caller.join()
        channel.close()
    finally:
        process.terminate()
        process.wait(30)
    return [
        (f"serve {n:,} tiers: start until serving", f"{ready:.1f} s, {rss:,.0f} MiB resident"),
        (
            f"serve {n:,} tiers: Classify matching the last rule, median",
            f"{sorted(timings)[len(timings) // 2] * 1e3:.2f} ms a call",
        ),
        (
            f"serve {n:,} tiers: hot reload, edit until served",
            f"{reloaded:.1f} s; {calls[0]:,} calls meanwhile, {len(failed)} failed",
        ),
    ]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> Rows:
    with tempfile.TemporaryDirectory() as where:
        folder = Path(where)
        return in_process(folder) + wide_tier() + served(folder)
