"""Reload soak (issue 6): `tierline serve` under 4 callers while a rule file is
rewritten many times, good and broken in turn. Counts failed calls and calls
that mixed two versions, and times how soon each good write goes live.
Run: `make bench`, or `.venv/bin/python -m benchmarks.run reload_soak`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import grpc

from engine import load_ruleset
from server.client import account_message
from server.pb import pb, pb_grpc
from tests.real_server import start_serve

ROOT = Path(__file__).resolve().parent.parent
WRITES = int(os.environ.get("TIERLINE_SOAK_WRITES", "200"))


def main() -> list[tuple[str, str]]:
    good = (ROOT / "rules" / "synthesis.tiers").read_text()
    broken = good.replace("tier micro when followers", "tier micro when folowers")
    versions = [good.replace('version "2026-11-25"', f'version "soak-{i}"') for i in range(WRITES)]
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(ROOT / "rules", rules)
        path = rules / "synthesis.tiers"
        process, port = start_serve(
            rules,
            "--decision-log",
            "off",
            env={"TIERLINE_DEBOUNCE_MS": "150"},
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        stop = threading.Event()
        failed = mixed = calls = 0
        lock = threading.Lock()

        def caller() -> None:
            nonlocal failed, mixed, calls
            batch = [
                account_message(
                    {"followers": f, "engagement_rate": 0.05, "topics": [], "platform": "x"}
                )
                for f in (5_000, 45_000, 200_000, 2_000_000)
            ]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.ClassifierStub(channel)
                while not stop.is_set():
                    try:
                        results = stub.ClassifyBatch(
                            pb.ClassifyBatchRequest(accounts=batch), timeout=5
                        ).results
                        one = len({r.decision.digest for r in results}) == 1
                        with lock:
                            calls += 1
                            mixed += not one
                    except grpc.RpcError:
                        with lock:
                            failed += 1

        def serving() -> str:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                listed = pb_grpc.ClassifierStub(channel).ListRulesets(
                    pb.ListRulesetsRequest(), timeout=5
                )
            return next(r.digest for r in listed.rulesets if r.name == "synthesis")

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for t in threads:
            t.start()
        started = time.perf_counter()
        live: list[float] = []
        try:
            for i, text in enumerate(versions):
                path.write_text(broken)  # a broken save first: must never serve
                time.sleep(0.2)
                path.write_text(text)
                written = time.perf_counter()
                want = load_ruleset(text=text, name="synthesis").digest
                while serving() != want:
                    if time.perf_counter() - written > 10:
                        raise RuntimeError(f"write {i} never went live")
                    time.sleep(0.01)
                live.append(time.perf_counter() - written)
        finally:
            elapsed = time.perf_counter() - started
            stop.set()
            for t in threads:
                t.join()
            process.terminate()
            process.wait(30)
    live.sort()
    p99 = live[max(0, int(len(live) * 0.99) - 1)]
    return [
        ("rewrites (each: a broken save, then a good one)", f"{len(live)} in {elapsed:.0f} s"),
        ("calls made by 4 callers (ClassifyBatch of 4)", f"{calls:,} ({calls / elapsed:,.0f}/s)"),
        ("failed calls; calls that mixed two versions", f"{failed}; {mixed}"),
        (
            "good write to serving, s: p50 / p99 / max (target < 1)",
            f"{statistics.median(live):.2f} / {p99:.2f} / {live[-1]:.2f}",
        ),
    ]


if __name__ == "__main__":
    for label, value in main():
        print(f"{label:70} {value}")
