"""The studio's speed (issue 28): what a rule owner waits for, in a real browser.

A real `tierline studio` subprocess on a free loopback port serves a copy of
rules/ with a 100,000-row CSV sample (follower counts, engagement as `4.2%`,
topics as `a;b`, drawn from a fixed seed). Debian's Chromium (Playwright) opens
the page. Measured, ROUNDS times, medians:

- first load: a fresh browser context navigates to the page until the editor shows
  `rules/synthesis.tiers`, and until the first check's examples are on screen;
- diagnostics: a misspelling typed into the editor (`folowers`) until its squiggle is
  on screen, from the last keystroke (the page waits 120 ms for typing to stop);
- impact of an edit on the 100,000 rows (`POST /api/impact`: the migration matrix with
  its moved accounts), against `tierline diff SAVED EDITED --data SAMPLE --format json`
  for the same edit, in turn in the same rounds; their matrices must be equal.

Run: `.venv/bin/python -m benchmarks.run studio_speed`.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.studio_server import HEADERS, studio

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5
ROWS = 100_000
Rows = list[tuple[str, str]]


def make_sample(path: Path, rows: int = ROWS) -> None:
    draw = random.Random(28)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "followers", "engagement_rate", "topics", "platform"])
        for i in range(rows):
            out.writerow([
                f"a{i}", int(10 ** draw.uniform(2, 7)), f"{draw.uniform(0, 8):.2f}%",
                draw.choice(["fashion", "tech;gaming", "food", ""]),
                draw.choice(["instagram", "tiktok", "youtube"]),
            ])  # fmt: skip


def _median_ms(values: list[float]) -> str:
    median, least = statistics.median(values) * 1000, min(values) * 1000
    return f"{median:,.0f} ms (min {least:,.0f}, n={len(values)})"


def _page_rounds(base: str) -> tuple[list[float], list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    loaded: list[float] = []
    checked: list[float] = []
    squiggles: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])  # fmt: skip
        for _ in range(ROUNDS):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            started = time.perf_counter()
            page.goto(f"{base}/?file=synthesis.tiers&tab=examples")
            page.wait_for_selector(".cm-content:has-text('ruleset synthesis')")
            loaded.append(time.perf_counter() - started)
            page.wait_for_selector("[data-testid=examples-summary]")
            checked.append(time.perf_counter() - started)
            page.click(".cm-line:has-text('tier nano')")
            page.keyboard.press("End")
            page.keyboard.type(" and folowers above 1")
            stopped = time.perf_counter()
            page.wait_for_selector(".cm-lintRange-error")
            squiggles.append(time.perf_counter() - stopped)
            context.close()
        browser.close()
    return loaded, checked, squiggles


def _matrix(answer: dict[str, Any]) -> dict[str, int]:
    """A migration matrix (`tierline diff --format json`) keyed as the page's cells."""
    return {f"{m['from']}>{m['to']}": m["count"] for m in answer["matrix"]}


def _cli_matrix(folder: Path, sample: Path, where: Path, text: str) -> dict[str, int]:
    edited = where / "edited.tiers"
    edited.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "tierline", "diff", str(folder / "synthesis.tiers"),
         str(edited), "--data", str(sample), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=True, cwd=ROOT,
    )  # fmt: skip
    return _matrix(json.loads(done.stdout))


# The page's matrix as `_matrix` keys it, when it is on screen and not being replaced.
_SHOWN = """() => {
  const cells = document.querySelectorAll("[data-testid=matrix] td[data-from]");
  const out = {};
  for (const c of cells) {
    const n = c.textContent.replace(/[^0-9]/g, "");
    if (n) out[`${c.dataset.from}>${c.dataset.to}`] = Number(n);
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}"""


def _impact_page_rounds(base: str, folder: Path, sample: Path, where: Path) -> list[float]:
    """From the last keystroke of a threshold edit, typed in the editor with the impact
    tab open, until the page's matrix is the one `tierline diff --data` gives for it."""
    from playwright.sync_api import sync_playwright

    saved = (folder / "synthesis.tiers").read_text(encoding="utf-8")
    edits = ["3.47%", "3.38%", "3.48%", "3.39%", "3.49%", "3.37%"][:ROUNDS]
    expected = [_cli_matrix(folder, sample, where, _edit(saved, e)) for e in edits]
    waited: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])  # fmt: skip
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{base}/?file=synthesis.tiers&tab=impact")
        page.wait_for_selector("[data-testid=matrix]")
        current = "3.5%"
        for threshold, matrix in zip(edits, expected, strict=True):
            page.click(".cm-line:has-text('high   at least')")
            page.keyboard.press("End")
            for _ in current:
                page.keyboard.press("Backspace")
            page.keyboard.type(threshold)
            stopped = time.perf_counter()
            page.wait_for_function(
                f"(want) => JSON.stringify(({_SHOWN})()) === JSON.stringify(want)",
                arg=dict(sorted(matrix.items())),
                polling="raf",
            )
            waited.append(time.perf_counter() - stopped)
            current = threshold
        context.close()
        browser.close()
    return waited


def _edit(text: str, threshold: str) -> str:
    return text.replace("high   at least 3.5%", f"high   at least {threshold}")


def _impact_rounds(base: str, folder: Path, sample: Path, where: Path) -> tuple[Rows, Any]:
    saved = (folder / "synthesis.tiers").read_text(encoding="utf-8")
    # the examples at 3.4% and 3.5% engagement pin the threshold: the edits keep them
    edits = ["3.45%", "3.4%", "3.42%", "3.41%", "3.43%", "3.44%"]
    body = {"path": "synthesis.tiers", "sample": "data-0"}
    started = time.perf_counter()
    first = httpx.post(base + "/api/impact", json={**body, "text": _edit(saved, "3.46%")},
                       headers=HEADERS, timeout=120)  # fmt: skip
    first.raise_for_status()
    staged = time.perf_counter() - started
    studio_s: list[float] = []
    cli_s: list[float] = []
    for threshold in edits[:ROUNDS]:
        text = _edit(saved, threshold)
        started = time.perf_counter()
        answer = httpx.post(base + "/api/impact", json={**body, "text": text}, headers=HEADERS,
                            timeout=120)  # fmt: skip
        studio_s.append(time.perf_counter() - started)
        answer.raise_for_status()
        edited = where / "edited.tiers"
        edited.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "tierline", "diff", str(folder / "synthesis.tiers"),
             str(edited), "--data", str(sample), "--format", "json"],
            capture_output=True, text=True, timeout=300, check=True, cwd=ROOT,
        )  # fmt: skip
        cli_s.append(time.perf_counter() - started)
        ours = {(m["from"], m["to"]): m["count"] for m in answer.json()["matrix"]}
        theirs = {(m["from"], m["to"]): m["count"] for m in json.loads(done.stdout)["matrix"]}
        if ours != theirs or sum(ours.values()) != ROWS:
            raise SystemExit(f"benchmarks.studio_speed: studio {ours} != tierline diff {theirs}")
    rows = [
        ("impact on 100,000 rows, first (stages the sample)", f"{staged * 1000:,.0f} ms"),
        ("impact of an edit on 100,000 rows (POST /api/impact)", _median_ms(studio_s)),
        ("  the same, tierline diff --data (a process, reads the file)", _median_ms(cli_s)),
        ("  matrices equal in every round", "yes"),
    ]
    return rows, answer.json()


def main() -> Rows:
    if shutil.which("chromium") is None:
        return [("studio_speed", "skipped: Debian's chromium is not installed")]
    with tempfile.TemporaryDirectory() as where_name:
        where = Path(where_name)
        folder = where / "rules"
        shutil.copytree(ROOT / "rules", folder)
        sample = where / "accounts.csv"
        make_sample(sample)
        with studio(folder, "--data", str(sample)) as base:
            rows, _ = _impact_rounds(base, folder, sample, where)
            on_screen = _impact_page_rounds(base, folder, sample, where)
            loaded, checked, squiggles = _page_rounds(base)
        return [
            ("first page load to the file in the editor (fresh context)", _median_ms(loaded)),
            ("  to the first check's examples on screen", _median_ms(checked)),
            ("diagnostic on screen after typing stops (incl. 120 ms wait)", _median_ms(squiggles)),
            *rows,
            ("impact matrix on screen after typing stops (impact tab open)", _median_ms(on_screen)),
            ("  the page's matrix equal to tierline diff --data's in every round", "yes"),
        ]
