"""`tierline lsp` on a 1,000-tier file (issue 27), through the real server over stdio.

Data: the 1,000-tier ruleset of `check_speed` (each tier a band of followers, high
engagement, and topics or a platform), opened in a `tierline lsp` subprocess by
the test client (tests/lsp_client.py), as an editor does. Each round edits one
tier's bound in the middle of the file, side by side in two ways, interleaved:
an incremental change (the range and the new digits, as editors send it) and a
full change (the whole text); both must publish the same diagnostics (checked).
Figures, medians of ROUNDS: from sending the change to the checker's diagnostics
(syntax and check errors: the first round, after the 30 ms debounce) and to the
analysis's (overlaps, unreachable rules, gaps: the second round); completion and
hover requests answered (client to client); the server's resident memory with the
file open (VmRSS from /proc).
Also over the protocol: semantic tokens of the whole file and of one screen (60
lines), and inlay hints of one screen. In process, side by side in interleaved
rounds: the analysis of an edited version with the memo of the earlier versions
(engine/analysis/memo.py, what the server does) and from scratch, with their
diagnostics compared (witnesses included).
Targets: diagnostics within 150 ms of a change, completion and hover within 30 ms.

Run: `.venv/bin/python -m benchmarks.run lsp_speed`.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.check_speed import generated
from engine.services import Document, StatementCache
from engine.services.tokens import semantic_tokens
from tests.lsp_client import LspClient

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 9
TIERS = 1_000
Rows = list[tuple[str, str]]


def _ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.0f} ms (min {min(seconds) * 1000:.0f})"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rounds(client: LspClient, uri: str, version: int) -> tuple[float, float, list[Any]]:
    """Seconds to the first and the second diagnostics of `version` since now."""
    started = time.perf_counter()

    def of_version(params: dict[str, Any]) -> bool:
        return params["uri"] == uri and params.get("version") == version

    before = len(client.notifications("textDocument/publishDiagnostics"))
    client.wait_notification("textDocument/publishDiagnostics", of_version, before, timeout=120)
    first = time.perf_counter() - started
    seen = [
        i
        for i, p in enumerate(client.notifications("textDocument/publishDiagnostics"))
        if of_version(p)
    ]
    final = client.wait_notification(
        "textDocument/publishDiagnostics", of_version, seen[0] + 1, timeout=120
    )
    return first, time.perf_counter() - started, final["diagnostics"]


def _analysis_side_by_side(
    text: str, target: int, column: int
) -> tuple[list[float], list[float], bool]:
    """Seconds to analyse each edited version (its checker run first, not timed) with
    the memo of the versions before, and from scratch, alternating which goes first;
    whether both gave the same diagnostics, witnesses included, every time."""
    cache = StatementCache()
    Document(text, "lsp-speed.tiers", cache=cache).diagnostics()
    lines = text.splitlines(keepends=True)
    kept_s: list[float] = []
    fresh_s: list[float] = []
    same = True
    for round_ in range(ROUNDS):
        line = lines[target]
        lines[target] = line[:column] + f"{(round_ * 37) % 1000:03d}" + line[column + 3 :]
        edited = "".join(lines)
        answers = {}
        for mode in ("kept", "fresh") if round_ % 2 == 0 else ("fresh", "kept"):
            document = Document(edited, "lsp-speed.tiers", cache=cache if mode == "kept" else None)
            document.diagnostics(analysis=False)
            began = time.perf_counter()
            found = document.diagnostics()
            (kept_s if mode == "kept" else fresh_s).append(time.perf_counter() - began)
            answers[mode] = [(d, d.witness) for d in found]
        same = same and answers["kept"] == answers["fresh"]
    return kept_s, fresh_s, same


def main() -> Rows:
    text = generated(TIERS)
    uri = (ROOT / "benchmarks" / f"lsp-generated-{TIERS}.tiers").as_uri()  # never written
    lines = text.splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if line.startswith(f"tier t{TIERS // 2} "))
    column = lines[target].index(" and ", lines[target].index("between")) - 3  # last digits
    timings: dict[str, list[float]] = {"incremental": [], "full": []}
    analysed: dict[str, list[float]] = {"incremental": [], "full": []}
    agree = True
    last: dict[str, tuple[str, list[Any]]] = {}
    with LspClient() as client:
        client.initialize()
        started = time.perf_counter()
        client.open(uri, text)
        _, opened, _ = _rounds(client, uri, 1)
        rss_open = _rss_mb(client.process.pid)
        version = 1
        current = lines[:]
        for round_ in range(ROUNDS):
            for mode in ("incremental", "full") if round_ % 2 == 0 else ("full", "incremental"):
                version += 1
                digits = f"{(version * 7) % 1000:03d}"
                line = current[target]
                current[target] = line[:column] + digits + line[column + 3 :]
                if mode == "incremental":
                    at = {"line": target, "character": column}
                    end = {"line": target, "character": column + 3}
                    change: dict[str, Any] = {"range": {"start": at, "end": end}, "text": digits}
                else:
                    change = {"text": "".join(current)}
                client.notify(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
                )
                first, second, diagnostics = _rounds(client, uri, version)
                timings[mode].append(first)
                analysed[mode].append(second)
                last[mode] = ("".join(current), diagnostics)
        hover_at = {"line": target, "character": lines[target].index("followers") + 2}
        complete_at = {"line": target, "character": lines[target].index("followers")}
        hovers, completions = [], []
        for _ in range(ROUNDS * 3):
            for method, position, out in (
                ("textDocument/hover", hover_at, hovers),
                ("textDocument/completion", complete_at, completions),
            ):
                began = time.perf_counter()
                answer = client.request(
                    method, {"textDocument": {"uri": uri}, "position": position}
                )
                out.append(time.perf_counter() - began)
                agree = agree and answer is not None
        screen = {
            "start": {"line": target, "character": 0},
            "end": {"line": target + 60, "character": 0},
        }
        tokens_full, tokens_screen, hints_screen = [], [], []
        for _ in range(ROUNDS):
            for method, params, out in (
                ("textDocument/semanticTokens/full", {}, tokens_full),
                ("textDocument/semanticTokens/range", {"range": screen}, tokens_screen),
                ("textDocument/inlayHint", {"range": screen}, hints_screen),
            ):
                began = time.perf_counter()
                answer = client.request(method, {"textDocument": {"uri": uri}, **params})
                out.append(time.perf_counter() - began)
                agree = agree and bool(answer)
        rss = _rss_mb(client.process.pid)
    kept_s, fresh_s, same = _analysis_side_by_side(text, target, column)
    document = Document(text, "lsp-speed.tiers")
    document.diagnostics(analysis=False)
    tokens_made = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        semantic_tokens(document)  # made anew: the server keeps them for one version
        tokens_made.append(time.perf_counter() - began)
    agree = agree and same
    for edited, diagnostics in last.values():  # as the services say in this process
        expected = [(d.code, d.range.start.line) for d in Document(edited).diagnostics()]
        got = [(d["code"], d["range"]["start"]["line"]) for d in diagnostics]
        agree = agree and got == expected
    return [
        (f"open a {TIERS:,}-tier file: to the analysis's diagnostics", f"{opened:.2f} s"),
        (
            "change, incremental sync: checker diagnostics published (target < 150 ms)",
            _ms(timings["incremental"]),
        ),
        ("change, full sync: checker diagnostics published", _ms(timings["full"])),
        ("change, incremental sync: analysis diagnostics published", _ms(analysed["incremental"])),
        ("change, full sync: analysis diagnostics published", _ms(analysed["full"])),
        ("hover, answered (target < 30 ms)", _ms(hovers)),
        ("completion, answered (target < 30 ms)", _ms(completions)),
        ("semantic tokens, whole file, answered (kept for the version)", _ms(tokens_full)),
        ("in process: semantic tokens of the whole file, made", _ms(tokens_made)),
        ("semantic tokens, 60 lines, answered", _ms(tokens_screen)),
        ("inlay hints, 60 lines, answered", _ms(hints_screen)),
        ("in process: analysis of an edit with the memo of earlier versions", _ms(kept_s)),
        ("in process: analysis of the same version from scratch", _ms(fresh_s)),
        (
            f"server memory (VmRSS) with the file open / after {ROUNDS * 2} edits",
            f"{rss_open:.0f} MB / {rss:.0f} MB",
        ),
        (
            "both syncs publish what Document gives in process; all answered",
            "yes" if agree else "NO",
        ),
        ("(wall time of this benchmark)", f"{time.perf_counter() - started:.0f} s"),
    ]


if __name__ == "__main__":
    for name, value in main():
        print(f"{name:70} {value}")
