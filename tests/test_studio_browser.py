"""The studio in a real browser: Playwright drives Debian's Chromium (never a downloaded
browser) against a real `tierline studio` subprocess, as a rule owner would use it:
typing, clicking a fix, breaking and fixing an example, dropping a CSV, reading the
impact matrix, saving (with a running `tierline serve` on the same folder picking the
save up), a conflicting save, and the German interface."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import tierline
from tests.real_server import start_serve, wait_until
from tests.studio_server import rules_folder, studio
from tests.test_studio import SYNTHESIS, sample_csv

CHROMIUM = "/usr/bin/chromium"
# CI installs chromium and sets TIERLINE_REQUIRE_CHROMIUM: there a missing browser fails the
# tests instead of skipping them; on a developer's machine without it they skip and say why
_MISSING = shutil.which(CHROMIUM) is None and not os.environ.get("TIERLINE_REQUIRE_CHROMIUM")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING, reason="Debian's chromium is not installed"),
]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == []  # no script error on the page, whatever the test did


def open_file(page: Any, base: str, name: str = SYNTHESIS) -> None:
    page.goto(f"{base}/?file={name}")
    page.wait_for_selector(f"button.file.current[data-file='{name}']")
    page.click("#tab-examples")
    page.wait_for_selector("[data-testid=examples-summary]")


def type_at_end(page: Any, text: str) -> None:
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def word_at(page: Any, line: str, word: str) -> tuple[float, float]:
    """The middle of `word` on the editor's line that starts with `line`, on screen
    (scrolled there first)."""
    found = page.evaluate(
        """([line, word]) => {
          const el = [...document.querySelectorAll(".cm-line")]
            .find((l) => l.textContent.startsWith(line));
          el.scrollIntoView({ block: "center" });
          const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          for (let node; (node = walk.nextNode()); ) {
            const at = node.textContent.indexOf(word);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + word.length);
            const box = range.getBoundingClientRect();
            return [box.x + box.width / 2, box.y + box.height / 2];
          }
          return null;
        }""",
        [line, word],
    )
    assert found is not None, f"{word!r} is not on the line {line!r}"
    return found[0], found[1]


def test_a_diagnostic_appears_and_its_fix_works(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    with studio(folder) as base:
        open_file(page, base)
        page.click("#tab-problems")
        type_at_end(page, "\nlabel big when folowers above 1M\n")
        page.wait_for_selector(".cm-lintRange-error")
        fix = page.wait_for_selector("[data-testid=fix]")
        assert fix.inner_text() == "Fix: replace 'folowers' with 'followers'"
        fix.click()
        page.wait_for_selector("text=No problems: the file checks clean.")
        assert "label big when followers above 1M" in page.inner_text(".cm-content")
        assert page.query_selector(".cm-lintRange-error") is None
        # hover and completion come from the language services
        x, y = word_at(page, "tier micro when", "followers")
        page.mouse.move(x, y)
        hover = page.wait_for_selector("[data-testid=hover]").inner_text()
        assert "input followers: count" in hover
        page.click(".cm-line:has-text('tier nano')")
        page.keyboard.press("End")
        page.keyboard.type(" and eng")
        page.keyboard.press("Control+Space")
        options = page.wait_for_selector(".cm-tooltip-autocomplete").inner_text()
        assert "engagement_rate" in options
        page.click(".cm-tooltip-autocomplete li:has-text('engagement_rate')")
        assert "and engagement_rate" in page.inner_text(".cm-line:has-text('tier nano')")


def test_completion_of_a_new_statement_after_the_last_example(page: Any, tmp_path: Path) -> None:
    """Enter at the end of the file's last example keeps its indentation (CodeMirror's
    default); `ti` typed there must offer `tier` (the completion answered nothing)."""
    folder = rules_folder(tmp_path, SYNTHESIS)
    with studio(folder) as base:
        assert (folder / SYNTHESIS).read_text(encoding="utf-8").endswith("suspicious\n")
        open_file(page, base)
        page.click(".cm-content")
        for key in ("Control+End", "ArrowUp", "End", "Enter"):  # the example's last line
            page.keyboard.press(key)
        page.keyboard.type("ti")
        page.wait_for_selector(".cm-tooltip-autocomplete", timeout=10_000)
        labels = page.eval_on_selector_all(
            ".cm-tooltip-autocomplete .cm-completionLabel", "ls => ls.map((l) => l.textContent)"
        )
        assert "tier" in labels, labels
        page.click(".cm-tooltip-autocomplete li:has-text('tier')")
        assert page.inner_text(".cm-activeLine").strip() == "tier"


def test_break_and_fix_an_example(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    with studio(folder) as base:
        open_file(page, base)
        type_at_end(
            page,
            '\nexample "typed in the browser"\n'
            '  given followers 45k, engagement_rate 4.2%, topics {}, platform "x"\n'
            "  expect nano",
        )
        page.wait_for_selector(".examples li.fail >> text=typed in the browser")
        failed = page.inner_text(".examples li.fail")
        assert "expected: nano" in failed and "got: micro" in failed
        assert "micro" in page.inner_text(".examples li.fail pre")  # the explanation
        assert page.is_disabled("#save")
        for _ in range(4):
            page.keyboard.press("Backspace")
        page.keyboard.type("micro")
        page.wait_for_selector("[data-testid=examples-summary].good")
        assert page.query_selector(".examples li.fail") is None
        page.wait_for_function("!document.querySelector('#save').disabled")


def drop(page: Any, name: str, content: str) -> None:
    """A real drop event carrying a file, as dragging it from the desktop makes."""
    transfer = page.evaluate_handle(
        """([name, content]) => { const dt = new DataTransfer();
           dt.items.add(new File([content], name, { type: "text/csv" })); return dt; }""",
        [name, content],
    )
    page.dispatch_event("body", "drop", {"dataTransfer": transfer})


def test_drop_a_csv_and_see_the_tier_counts(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    data = sample_csv(tmp_path / "dropped.csv", 140)
    with studio(folder) as base:
        open_file(page, base)
        drop(page, "dropped.csv", data.read_text(encoding="utf-8"))
        page.wait_for_selector("[data-testid=tier-counts]")
        assert "140 rows" in page.inner_text("[data-testid=sample-rows]")
        shown = {
            bar.get_attribute("data-tier"): bar.query_selector(".value").inner_text()
            for bar in page.query_selector_all("[data-testid=tier-counts] .bar")
        }
        out = tmp_path / "out.csv"
        done = tierline("classify", str(folder / SYNTHESIS), str(data), "-o", str(out))
        assert done.returncode == 0, done.stderr
        tiers = [line.split(",")[1] for line in out.read_text().splitlines()[1:]]
        expected = {t or "no tier": str(tiers.count(t)) for t in set(tiers)}
        assert {k: v for k, v in shown.items() if v != "0"} == expected
        page.click("[data-testid=rows] tr:nth-child(2)")
        explanation = page.wait_for_selector("[data-testid=explanation]").inner_text()
        assert "followers" in explanation
        page.click("[data-testid=make-example]")
        page.click("#tab-examples")
        page.wait_for_selector(".examples li >> text=acc0")


def matrix_in_page(page: Any) -> dict[tuple[str, str], int]:
    cells = page.query_selector_all("[data-testid=matrix] td[data-from]")
    return {
        (c.get_attribute("data-from"), c.get_attribute("data-to")): int(
            c.inner_text().replace(",", "")
        )
        for c in cells
        if c.inner_text().strip()
    }


def test_impact_matrix_agrees_with_tierline_diff(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    data = sample_csv(tmp_path / "accounts.csv")
    with studio(folder, "--data", str(data)) as base:
        open_file(page, base)
        page.click(".cm-line:has-text('high   at least 3.5%')")
        page.keyboard.press("End")
        for _ in range(4):
            page.keyboard.press("Backspace")
        page.keyboard.type("3%")
        page.click("#tab-impact")
        page.wait_for_selector("[data-testid=matrix] td.moved")
        page.wait_for_selector("[data-testid=witnesses]")
        shown = matrix_in_page(page)
        edited = tmp_path / "edited.tiers"
        text = (folder / SYNTHESIS).read_text().replace("at least 3.5%", "at least 3%", 1)
        edited.write_text(text)
        # the matrix on screen is the one for the text in the editor, not an earlier keystroke's
        from engine.language.source import Source

        assert page.get_attribute("[data-testid=matrix]", "data-digest") == Source(text, "x").digest
        done = tierline(
            "diff", str(folder / SYNTHESIS), str(edited), "--data", str(data), "--format", "json"
        )
        cli = {(m["from"], m["to"]): m["count"] for m in json.loads(done.stdout)["matrix"]}
        assert shown == cli
        assert "nano → micro" in page.inner_text("[data-testid=witnesses]")
        # Σ: each tier before (the saved file, last column) and after (the edit, last row)
        for side, index in (("before", 0), ("after", 1)):
            totals = {
                td.get_attribute(f"data-{side}"): int(td.inner_text().replace(",", ""))
                for td in page.query_selector_all(f"[data-testid=matrix] td[data-{side}]")
            }
            expected: dict[str, int] = {}
            for pair, count in cli.items():
                expected[pair[index]] = expected.get(pair[index], 0) + count
            assert {k: v for k, v in totals.items() if v} == expected, side
        # whether any account can move is in sight above the long list of moved accounts
        assert page.evaluate(
            """() => !!(document.querySelector("[data-testid=from-rules]")
              .compareDocumentPosition(document.querySelector("[data-testid=moved]"))
              & Node.DOCUMENT_POSITION_FOLLOWING)"""
        )


def served_digest(port: int) -> str:
    from server.pb import pb, pb_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        listed = pb_grpc.ClassifierStub(channel).ListRulesets(pb.ListRulesetsRequest(), timeout=5)
    return next(r.digest for r in listed.rulesets if r.name == "synthesis")


def test_save_is_served_and_recorded_and_a_conflict_refused(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS, git=True)
    serve, port = start_serve(folder, "--decision-log", str(tmp_path / "decisions.jsonl"))
    try:
        before = served_digest(port)
        with studio(folder) as base:
            open_file(page, base)
            page.fill("#author", "Anna Analyst")
            page.dispatch_event("#author", "change")
            page.click(".cm-line:has-text('medium at least 1%')")
            page.keyboard.press("End")
            page.keyboard.press("Backspace")
            page.keyboard.type(".5%")
            page.wait_for_function("!document.querySelector('#save').disabled")
            page.click("#save")
            page.wait_for_selector("#notice.ok >> text=as Anna Analyst")
            saved = (folder / SYNTHESIS).read_text()
            assert "medium at least 1.5%" in saved
            log = subprocess.run(
                ["git", "-C", str(folder), "log", "-1", "--format=%an %s"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert log.stdout.startswith("Anna Analyst studio: save synthesis.tiers")
            from engine.language.source import Source

            new = Source(saved, "x").digest
            assert wait_until(lambda: served_digest(port) == new, 30), "serve kept the old rules"
            assert new != before
            page.click("#tab-history")
            page.wait_for_selector("[data-testid=history] >> text=Anna Analyst")
            # someone else saves the file behind the page's back: the page's save is refused
            (folder / SYNTHESIS).write_text(saved.replace("2026-11-25", "2026-12-24"))
            page.click(".cm-line:has-text('medium at least 1.5%')")
            page.keyboard.press("End")
            page.keyboard.press("Backspace")
            page.keyboard.type("6%")
            page.wait_for_function("!document.querySelector('#save').disabled")
            page.click("#save")
            page.wait_for_selector("#notice.error >> text=changed on disk since you opened it")
            assert "2026-12-24" in (folder / SYNTHESIS).read_text()
            assert "1.56%" in page.inner_text(".cm-content")  # the text is kept in the page
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_the_german_interface(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    data = sample_csv(tmp_path / "accounts.csv", 2_345)
    with studio(folder, "--data", str(data)) as base:
        open_file(page, base)
        page.select_option("#lang", "de")
        assert page.inner_text("#save") == "Speichern"
        assert page.inner_text("#tab-sample") == "Stichprobe"
        page.click("#tab-sample")
        page.wait_for_selector("[data-testid=tier-counts]")
        assert page.inner_text("[data-testid=sample-rows]") == "2.345 Zeilen"  # German digits
        assert "Konten je Stufe" in page.inner_text("#panel-sample")
        assert "keine Stufe" in page.inner_text("[data-testid=tier-counts]")
        page.reload()  # the choice is remembered
        page.wait_for_selector("#tab-beispiele, #tab-examples")
        assert page.inner_text("#tab-examples") == "Beispiele"


def test_the_engine_speaks_german(page: Any, tmp_path: Path) -> None:
    """Switched to German, what the engine says is German too: a diagnostic with its
    fix, a hover, a row's reason and its explanation (issue 28); what the rules write
    stays as written."""
    folder = rules_folder(tmp_path, SYNTHESIS)
    data = sample_csv(tmp_path / "accounts.csv", 40)
    with studio(folder, "--data", str(data)) as base:
        open_file(page, base)
        page.click("#tab-problems")
        type_at_end(page, "\nlabel big when folowers above 1M\n")
        page.wait_for_selector("#panel-problems >> text=unknown name 'folowers'")
        page.select_option("#lang", "de")  # the server is asked again, in German
        page.wait_for_selector("#panel-problems >> text=unbekannter Name 'folowers'")
        problems = page.inner_text("#panel-problems")
        assert "meinten Sie 'followers'?" in problems and "unknown name" not in problems
        fix = page.wait_for_selector("[data-testid=fix]")
        assert fix.inner_text() == "Beheben: 'folowers' durch 'followers' ersetzen"
        fix.click()
        page.wait_for_selector("text=Keine Probleme: die Datei ist fehlerfrei.")
        x, y = word_at(page, "tier micro when", "engagement")
        page.mouse.move(x, y)
        hover = page.wait_for_selector("[data-testid=hover]").inner_text()
        assert "das erste Band, das zutrifft, wird gewählt (high, medium, low)" in hover
        assert "level engagement from engagement_rate" in hover  # the rule file, as written
        page.mouse.move(5, 5)
        page.click("#tab-sample")
        page.wait_for_selector("[data-testid=rows]")
        first = page.inner_text("[data-testid=rows] tr:nth-child(2) td.reason")
        assert first.startswith("keine Stufe: mega braucht followers at least 1M (followers 500:")
        assert "999.500 zu wenig" in first
        page.click("[data-testid=rows] tr:nth-child(2)")
        explanation = page.wait_for_selector("[data-testid=explanation]").inner_text()
        assert explanation.startswith("keine Stufe: keine Stufenregel traf zu")
        assert "Geprüfte Stufen:" in explanation and "Merkmale: keine" in explanation
        assert "needs" not in explanation


def test_sign_in_with_a_token_and_view_only(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    tokens = tmp_path / "tokens"
    made = tierline("token", "new", "viktor", "--roles", "view", "--add-to", str(tokens))
    assert made.returncode == 0, made.stderr
    with studio(folder, "--auth-tokens", str(tokens)) as base:
        page.goto(base + "/")
        page.fill("#token", "wrong")
        page.click("form.signin button")
        page.wait_for_selector("form.signin >> text=A valid access token is needed.")
        page.fill("#token", made.stdout.strip())
        page.click("form.signin button")
        page.wait_for_selector(f"button.file.current[data-file='{SYNTHESIS}']")
        page.wait_for_selector("text=No problems: the file checks clean.")
        assert page.is_disabled("#save")
        assert page.get_attribute("#save", "title") == "You may view; saving needs the edit role."
        assert page.is_hidden("#author")  # a token's name is the author


class Dialogs:
    """Every dialog the page opens, answered OK or Cancel as `accept` says at the time,
    and listed as (type, message)."""

    def __init__(self, page: Any) -> None:
        self.accept = False
        self.seen: list[tuple[str, str]] = []
        page.on("dialog", self._answer)

    def _answer(self, dialog: Any) -> None:
        self.seen.append((dialog.type, dialog.message))
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _message in self.seen]


def test_opening_another_file_with_unsaved_edits_asks_first(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS, "agency.tiers")
    agency = folder / "agency.tiers"  # written on Windows: opened, it has no unsaved changes
    agency.write_bytes(agency.read_bytes().replace(b"\n", b"\r\n"))
    with studio(folder) as base:
        open_file(page, base)
        dialogs = Dialogs(page)  # Cancel
        page.click("button.file[data-file='agency.tiers']")  # clean: no question
        page.wait_for_selector("button.file.current[data-file='agency.tiers']")
        page.wait_for_selector(".cm-content:has-text('ruleset agency')")
        assert page.inner_text("#dirty") == "saved"
        assert dialogs.seen == []
        page.click("button.file[data-file='synthesis.tiers']")
        page.wait_for_selector(".cm-content:has-text('ruleset synthesis')")
        type_at_end(page, "\n# my unsaved note\n")
        page.wait_for_selector("#dirty:has-text('unsaved changes')")
        page.click("button.file[data-file='agency.tiers']")  # Cancel: the edit stays
        assert dialogs.seen == [
            ("confirm", "synthesis.tiers has unsaved changes. Open the other file and drop them?")
        ]
        page.wait_for_timeout(300)
        assert "# my unsaved note" in page.inner_text(".cm-content")
        assert page.is_visible("button.file.current[data-file='synthesis.tiers']")
        assert page.inner_text("#dirty") == "unsaved changes"
        dialogs.accept = True
        page.click("button.file[data-file='agency.tiers']")  # OK: the edit is dropped
        page.wait_for_selector("button.file.current[data-file='agency.tiers']")
        page.wait_for_selector(".cm-content:has-text('ruleset agency')")
        assert dialogs.kinds == ["confirm", "confirm"]
        page.click("button.file[data-file='synthesis.tiers']")  # clean again: no question
        page.wait_for_selector(".cm-content:has-text('ruleset synthesis')")
        assert len(dialogs.seen) == 2
        assert "# my unsaved note" not in page.inner_text(".cm-content")
        assert "# my unsaved note" not in (folder / SYNTHESIS).read_text(encoding="utf-8")


def test_leaving_or_reloading_with_unsaved_edits_asks_first(page: Any, tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    with studio(folder) as base:
        open_file(page, base)
        dialogs = Dialogs(page)  # Cancel
        page.reload()  # nothing typed: no question
        page.wait_for_selector(".cm-content:has-text('ruleset synthesis')")
        assert dialogs.seen == []
        type_at_end(page, "\n# my unsaved note\n")
        page.wait_for_selector("#dirty:has-text('unsaved changes')")
        page.evaluate("() => location.reload()")  # Cancel: the page and the edit stay
        page.wait_for_timeout(500)
        assert dialogs.kinds == ["beforeunload"]
        assert "# my unsaved note" in page.inner_text(".cm-content")
        page.evaluate("() => { location.href = '/help/en'; }")  # leaving: Cancel again
        page.wait_for_timeout(500)
        assert dialogs.kinds == ["beforeunload", "beforeunload"]
        assert "# my unsaved note" in page.inner_text(".cm-content")
        assert page.url.startswith(base + "/?")
        dialogs.accept = True
        page.reload()  # OK: the page reloads with the saved text
        page.wait_for_selector(".cm-content:has-text('ruleset synthesis')")
        assert dialogs.kinds == ["beforeunload"] * 3
        assert "# my unsaved note" not in page.inner_text(".cm-content")
        assert page.inner_text("#dirty") == "saved"
