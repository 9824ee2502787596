"""The engine's texts in German (issue 28): the German catalogue against the English
one, every catalogued text rendered in German with no English left, and golden German
renderings of the diagnostics of tests/golden/*.tiers and of the reasons and
explanations of the shipped rule files' examples (tests/german/*.txt).

Set TIERLINE_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change,
then read the diff (a German reader should).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from string import Formatter
from typing import Any

import pytest

from engine.language import codes, german
from engine.language.codes import CATALOGUE, TEXTS, fields
from engine.language.diagnostics import RuleError, bounded, did_you_mean
from engine.language.grammar import keywords
from engine.language.languages import (
    explanation,
    field_text,
    fix_title,
    german_numbers,
    language_of,
    localized,
    refusal,
    syntax,
)
from engine.language.phrase import Phrase
from engine.language.source import Source
from engine.load import check_source
from engine.python.values import InputError
from engine.ruleset import load_ruleset, rule_changes
from engine.services import hover as hover_module
from tierline.tables.why import why

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "german"
CASES = sorted((Path(__file__).parent / "golden").glob("*.tiers"))
RULE_FILES = sorted((ROOT / "rules").glob("*.tiers"))

# English words that German also writes, or that name the rule language's own things.
SHARED = {
    "text", "texts", "level", "band", "name", "solver", "budget", "optional", "default",
    "tier", "label", "none", "otherwise", "input", "percent", "count", "number", "let",
    "true", "false", "from", "bytes", "between", "least", "most", "above", "below",
    "tierline", "check", "unique", "policy", "instagram", "platform", "followers", "micro",
    "type", "ruleset", "version", "labels", "expect", "example", "when", "fashion", "byte",
    "grpc", "rest", "alternative", "million", "operator",
}  # fmt: skip


def spec_fields(template: str) -> set[str]:
    """The fields of a template, ignoring conversions (`{x!c}` is field x)."""
    return {name for _t, name, _s, _c in Formatter().parse(template) if name is not None}


def english_words(template: str) -> set[str]:
    """The prose words of an English template: not placeholders, nor code in backticks
    or quotes, nor the rule language's words."""
    literal = "".join(text for text, *_ in Formatter().parse(template))
    literal = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'", " ", literal)
    return {w for w in re.findall(r"[a-z]{4,}", literal.lower()) if w not in SHARED}


def dummy(name: str) -> Any:
    """A value for a field of any template: a number where a spec formats one."""
    if name in {"size", "limit", "offset", "byte", "whole", "depth", "line", "count", "max"}:
        return 12345
    if name in {"value"}:
        return 3.5
    if name == "budget":
        return 1000
    return f"«{name}»"


# ------------------------------------------------------------------ the catalogue


def test_every_code_has_german_templates_with_the_english_fields() -> None:
    for name, code in CATALOGUE.items():
        de_messages = german.MESSAGES.get(name)
        assert de_messages is not None, f"{name}: no German messages"
        assert set(de_messages) == set(code.messages), name
        for variant, english in code.messages.items():
            assert spec_fields(de_messages[variant]) == fields(english), (name, variant)
        de_hints = german.HINTS.get(name, {})
        assert set(de_hints) == set(code.hints), f"{name}: hint variants differ"
        for variant, english in code.hints.items():
            assert spec_fields(de_hints[variant]) == fields(english), (name, variant, "hint")
        assert code.counted in german.COUNTED, name
    assert set(german.MESSAGES) == set(CATALOGUE)
    assert set(german.TEXTS) == set(TEXTS)
    for key, english in TEXTS.items():
        assert spec_fields(german.TEXTS[key]) == fields(english), key
    assert set(german.HOVER) == set(hover_module.SAID)
    for key, english in hover_module.SAID.items():
        assert spec_fields(german.HOVER[key]) == fields(english), key


def catalogued() -> list[tuple[str, str, str, str]]:
    """(code, kind, variant, English template) of every text of the catalogue."""
    out = []
    for name, code in CATALOGUE.items():
        out += [(name, "message", v, t) for v, t in code.messages.items()]
        out += [(name, "hint", v, t) for v, t in code.hints.items()]
    out += [("", "text", key, t) for key, t in TEXTS.items()]
    return out


@pytest.mark.parametrize(
    "key", catalogued(), ids=[f"{c or 'text'}:{k}:{v}" for c, k, v, _t in catalogued()]
)
def test_every_catalogued_text_renders_in_german_without_english(
    key: tuple[str, str, str, str],
) -> None:
    code, kind, variant, english = key
    values = {name: dummy(name) for name in fields(english)}
    if code == "syntax":  # the explainer's own sentence, said by pattern
        values["message"] = "this text has no closing quote"
    if key[2] == "omitted":
        values["counted"] = "rules that can never match"
    said = Phrase(english.format(**values), (code, kind, variant), values)
    shown = localized(said, "de")
    assert (shown is not None and shown != str(said)) or not english_words(english)
    words = re.sub(r"«[^»]*»", " ", str(shown)).lower()  # the fields' values aside
    left = {w for w in english_words(english) if re.search(rf"\b{w}\b", words)}
    assert not left, f"{shown!r} still says {left}"
    for name, value in values.items():  # every field is said
        if isinstance(value, str) and value.startswith("«"):
            assert value in str(shown), (name, shown)


@pytest.mark.parametrize("key", sorted(hover_module.SAID))
def test_every_hover_text_renders_in_german_without_english(key: str) -> None:
    english = hover_module.SAID[key]
    values = {name: dummy(name) for name in fields(english)}
    shown = german.HOVER[key].format(**values)
    words = re.sub(r"«[^»]*»|\*\*\w+\*\*", " ", shown).lower()  # **input**: a keyword
    left = {w for w in english_words(english) if re.search(rf"\b{w}\b", words)}
    assert not left, f"{shown!r} still says {left}"


def test_numbers_are_german_and_rule_literals_are_not() -> None:
    assert german_numbers("followers 45,000, engagement_rate 3.5%") == (
        "followers 45.000, engagement_rate 3,5\u00a0%"
    )
    # code in backticks, quoted texts, names with digits and literals such as 10k stay
    assert german_numbers('`x at least 3.5%` "1,000" rate_2 10k 1_000') == (
        '`x at least 3.5%` "1,000" rate_2 10k 1_000'
    )
    message = CATALOGUE["ambiguous-number"].message(token="10.000", value=10.0)
    assert localized(message, "de") == (
        "10.000 wird hier als 10 gelesen (ein Punkt leitet Nachkommastellen ein)"
    )
    summary = bounded([CATALOGUE["no-tiers"].at(Source("x", "f").span(0, 1))] * 25, 20)[-1]
    assert localized(summary.message, "de") == (
        "… und 5 weitere Befunde (no-tiers): nur die ersten 20 jeder Art werden aufgeführt"
    )


def test_english_is_unchanged_and_phrases_survive_pickling() -> None:
    message = CATALOGUE["unknown-name"].message(name="folowers")
    assert message == "unknown name 'folowers'" and isinstance(message, str)
    assert localized(message, "en") is message
    copied = pickle.loads(pickle.dumps(message))
    assert localized(copied, "de") == "unbekannter Name 'folowers'"
    hint = did_you_mean("folowers", ["followers"])
    assert hint == "did you mean 'followers'?"
    assert localized(hint, "de") == "meinten Sie 'followers'?"
    assert localized(None, "de") is None


def test_language_of_a_request() -> None:
    assert language_of("de-DE,de;q=0.9,en;q=0.8") == "de"
    assert language_of("fr-FR,de;q=0.5") == "de"
    assert language_of("en-GB") == "en"
    assert language_of(None) == "en" and language_of("xx") == "en"


def test_small_texts_outside_the_catalogue() -> None:
    assert fix_title("replace 'folowers' by followers", "de") == (
        "'folowers' durch followers ersetzen"
    )
    assert fix_title("write 3.5%", "de") == "3.5% schreiben"
    assert field_text("tier 'odd' can match", "de") == "Stufe 'odd' zutreffen kann"
    assert syntax("3,5%: a comma is not a decimal point") == "3,5%: ein Komma ist kein Dezimalpunkt"
    assert refusal("invalid account: followers: missing, expected a count (a whole number, "
                   "0 or more)", "de") == ("ungültiges Konto: followers: fehlt, erwartet wird "
                                           "eine Anzahl (ganze Zahl, 0 oder mehr)")  # fmt: skip


# ------------------------------------------------------------------ golden renderings


def diagnostics_in_german() -> str:
    """Each diagnostic of tests/golden/*.tiers: where, code, German message and hint."""
    lines = []
    for case in CASES:
        source = Source(case.read_text(encoding="utf-8", errors="replace"), case.name)
        try:
            found = list(check_source(source).warnings)
        except RuleError as error:
            found = list(error.diagnostics)
        for d in found:
            lines.append(f"{case.stem}:{d.span.line}:{d.span.col} [{d.code}]")
            lines.append(f"  {localized(d.message, 'de')}")
            if d.hint:
                lines.append(f"  = {localized(d.hint, 'de')}")
    return "\n".join(lines) + "\n"


def reasons_in_german() -> str:
    """Each example of the shipped rule files: its one-line reason and its explanation."""
    lines = []
    for path in RULE_FILES:
        ruleset = load_ruleset(path)
        for result in ruleset.run_examples():
            decision = result.decision
            if decision is None:
                continue
            lines.append(f"{path.stem}: {result.example.description}")
            lines.append(f"  {why(ruleset, decision, 'de')}")
            said = explanation(decision.explain(), "de", [r.text for r in decision.reasons])
            lines += [f"  | {line}" for line in said.replace(str(ROOT) + "/", "").split("\n")]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("name", "render"),
    [("diagnostics", diagnostics_in_german), ("reasons", reasons_in_german)],
)
def test_german_renderings_match_golden_files(name: str, render: Any) -> None:
    path = GOLDEN / f"{name}.txt"
    got = render()
    if os.environ.get("TIERLINE_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


# English that German renderings must not contain (outside code and quoted texts).
LEFT_OVER = re.compile(
    r"\b(needs|tried|matched|short|over|applies|why|labels:|unknown|expected|found|"
    r"did you mean|write|means|never|always|should|must|account|because|cannot)\b"
)


def prose(line: str) -> str:
    return re.sub(r"`[^`]*`|\"[^\"]*\"|\{[^}]*\}", " ", line)


def test_reasons_and_explanations_leave_no_english() -> None:
    for path in RULE_FILES:
        ruleset = load_ruleset(path)
        for result in ruleset.run_examples():
            decision = result.decision
            if decision is None:
                continue
            conditions = sorted({r.text for r in decision.reasons}, key=len, reverse=True)
            said = explanation(decision.explain(), "de", conditions)
            for line in [why(ruleset, decision, "de"), *said.split("\n")]:
                text = line
                for condition in conditions:  # the conditions as the rules write them
                    text = text.replace(condition, " ")
                assert not LEFT_OVER.search(prose(text)), (path.name, line)


BASE = """ruleset r
input followers: count
input topics: set of text
input platform: text
"""


@pytest.mark.parametrize(
    ("rules", "german_message"),
    [
        (
            'tier a when topics is "x"\n',
            '`is "…"` prüft einen Text, dies ist aber eine Menge von Texten',
        ),
        ("tier a when platform + 1 at least 2\n", "'+' rechnet mit Zahlen, dies ist aber Text"),
        ("let n: count = platform\ntier a when n at least 1\n", None),
    ],
)
def test_checker_paths_beyond_the_golden_files_are_german(
    rules: str, german_message: str | None
) -> None:
    source = Source(BASE + rules, "t.tiers")
    with pytest.raises(RuleError) as raised:
        check_source(source)
    first = raised.value.diagnostics[0]
    said = str(localized(first.message, "de"))
    if german_message is not None:
        assert said == german_message
    english = {w for w in english_words(str(first.message)) if re.search(rf"\b{w}\b", said)}
    assert said != first.message and not english, said


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_every_golden_diagnostic_is_german(case: Path) -> None:
    """Every diagnostic of tests/golden/*.tiers, the syntax explainer's sentences (said
    by pattern, not catalogued) included: German, with no English prose left. A new
    sentence of mistakes.py without its German pattern fails here."""
    source = Source(case.read_text(encoding="utf-8", errors="replace"), case.name)
    try:
        found = list(check_source(source).warnings)
    except RuleError as error:
        found = list(error.diagnostics)
    # the rule language's words: the keywords, and whatever the file itself writes
    own = {w.lower() for w in re.findall(r"[A-Za-z]+", source.text)} | set(keywords())
    for d in found:
        for english in (d.message, d.hint):
            if english is None:
                continue
            said = str(localized(english, "de"))
            prose = re.sub(r"`[^`]*`|\"[^\"]*\"|'[^']*'", " ", str(english)).lower()
            words = {w for w in re.findall(r"[a-z]{4,}", prose) if w not in SHARED | own}
            left = {w for w in words if re.search(rf"\b{w}\b", said.lower())}
            assert not left, f"{case.stem}: {said!r} still says {left}"


# ------------------------------------------------------------------ beyond the catalogue's own


SHADOWED = """ruleset s
input followers: count
input likes: count
let r = likes / followers
tier big when r at least 0.5 or followers at least 1000
tier mid when r at least 0.6
otherwise none
"""


def test_a_shadowed_tier_names_the_tiers_above_and_its_example_in_german() -> None:
    """The solver's finding is a phrase whose parts are phrases too ('big' (line 5),
    ": for example … goes to an earlier tier"), said whole by the German catalogue,
    also after crossing a process (pickled)."""
    with pytest.raises(RuleError) as raised:
        check_source(Source(SHADOWED, "s.tiers"))
    [found] = [d for d in raised.value.diagnostics if d.code == "unreachable-rule"]
    english = str(found.message)
    assert english.startswith("tier 'mid' can never match: 'big' (line 5) take every account")
    assert english.endswith(" goes to an earlier tier")
    said = str(localized(pickle.loads(pickle.dumps(found.message)), "de"))
    assert said.startswith(
        "Stufe 'mid' kann nie zutreffen: 'big' (Zeile 5) nehmen jedes Konto, das sie nehmen "
        "würde: zum Beispiel erhält followers "
    ), said
    assert said.endswith(" eine frühere Stufe"), said
    assert not LEFT_OVER.search(prose(said)) and not re.search(r"\b(line|goes|earlier)\b", said)


def test_the_tiers_above_when_many_are_listed_in_german() -> None:
    listed = codes.listed([codes.text("tier-at", tier=t, line=n) for t, n in (("a", 3), ("b", 4))])
    assert listed == "'a' (line 3), 'b' (line 4)"
    message = CATALOGUE["unreachable-rule"].message(
        "shadowed",
        tier="c",
        takers=listed,
        example=codes.text("shadowed-example", example="any account"),
    )
    assert localized(message, "de") == (
        "Stufe 'c' kann nie zutreffen: 'a' (Zeile 3), 'b' (Zeile 4) nehmen jedes Konto, das sie "
        "nehmen würde: zum Beispiel erhält jedes Konto eine frühere Stufe"
    )


def test_what_an_edit_leaves_undecided_is_german(tmp_path: Path) -> None:
    """What the solver could not decide about an edit (the studio's impact panel says
    "… nicht entschieden, ob {what}"): nonlinear conditions and a 1 ms budget leave
    tier moves, to and from no tier, and a label lost undecided."""
    head = (
        "ruleset r\ninput followers: count\ninput likes: count\n"
        "let r = likes * likes / followers\nlabel star when r * r at least {bound}\n"
    )
    old = load_ruleset(
        text=head.format(bound=7.3) + "tier micro when r * likes at least 0.5\notherwise none\n"
    )
    new = load_ruleset(
        text=head.format(bound=7.4) + "tier nano when r * followers at least 0.6 and "
        "likes * likes below followers * 3\notherwise none\n"
    )
    found = rule_changes(old, new, solver_ms=1)
    assert found.undecided, "the budget decided everything: make the conditions harder"
    said = {str(w): field_text(w, "de") for w in found.undecided}
    german_of = {
        "whether an account goes from micro to nano": "ob ein Konto von micro zu nano wechselt",
        "whether an account goes from micro to no tier": "ob ein Konto von micro zu keiner "
        "Stufe wechselt",
        "whether an account goes from no tier to nano": "ob ein Konto von keiner Stufe zu nano "
        "wechselt",
        "whether label star is lost": "ob ein Konto das Merkmal star verliert",
        "whether label star is gained": "ob ein Konto das Merkmal star hinzugewinnt",
    }
    for english, german_ in said.items():
        assert german_of[english] == german_
    assert field_text(codes.text("label-gained", label="x"), "en") == ("whether label x is gained")


REFUSED = {"followers": 3.5, "topics": "x", "platform": 5, "engagement_rate": 4.2}


def refused(account: dict[str, Any]) -> str | None:
    """Why the synthesis rules refuse `account` (in English), or None if they take it."""
    try:
        load_ruleset(ROOT / "rules" / "synthesis.tiers").classify(account)
    except InputError as error:
        return str(error)
    return None


def test_a_refusal_says_every_kind_of_value_in_german() -> None:
    """The kinds of values given (values.kind_of) in German; a number the account gave
    or should send as JSON writes it, as code; every other number German."""
    assert refusal(str(refused(REFUSED)), "de") == (
        "ungültiges Konto: followers: erwartet wird eine Anzahl (ganze Zahl, 0 oder mehr), "
        "erhalten `3.5`; engagement_rate: erwartet wird ein Prozentwert als Bruchteil "
        "(`0.042` ist 4,2\u00a0%) von 0\u00a0% bis 100\u00a0%, erhalten `4.2`; `4.2` ist "
        "420\u00a0%; ein Prozentwert ist ein Bruchteil: 4,2\u00a0% ist `0.042`; topics: "
        'erwartet wird eine Liste von Texten, erhalten "x" (ein Text); platform: erwartet '
        "wird ein Text, erhalten `5` (eine ganze Zahl)"
    )
    base = {"followers": 1000, "topics": [], "platform": "x", "engagement_rate": 0.01}
    given: list[Any] = [1.5, [1], {"a": 1}, 2**200, True, "45k", 400]
    for value in given:
        for name in ("platform", "followers", "engagement_rate"):
            english = refused({**base, name: value})
            if english is None:
                continue
            said = refusal(english, "de")
            outside = re.sub(r"`[^`]*`|\"[^\"]*\"", " ", said)
            # no English decimal in prose (a point grouping thousands is German)
            assert not re.search(r"\d\.(?!\d{3}(?!\d))\d", outside), said
            words = re.sub(r"\b(true|false|null|NaN|API)\b", " ", outside)
            assert not re.search(
                r"\b(a|of|whole|number|list|object|kind|another|digits|got|expected|"
                r"percentage|fraction|send|is|this|count|rate|no larger)\b",
                words,
            ), said


def test_the_rarer_kinds_of_a_refusal_in_german() -> None:
    """Kinds values.kind_of names that the synthesis rules do not reach."""
    for english, german_ in (
        (" (a value of another kind)", " (ein Wert anderer Art)"),
        (" (true/false)", " (ein Wahrheitswert)"),
        (" (null)", " (kein Wert)"),
        (" (an object)", " (ein Objekt)"),
        (" (a number)", " (eine Zahl)"),
    ):
        said = refusal(f"invalid account: x: expected a text, got 1{english}", "de")
        assert said == f"ungültiges Konto: x: erwartet wird ein Text, erhalten `1`{german_}"
    assert refusal("invalid account: x: expected a text, got a value of another kind", "de") == (
        "ungültiges Konto: x: erwartet wird ein Text, erhalten einen Wert anderer Art"
    )


def test_a_hover_counts_the_rules_as_german_writes_numbers() -> None:
    assert hover_module._say("de", "rules", count=1000) == ": 1.000 Regeln vergeben sie"
    assert hover_module._say("en", "rules", count=1000) == ": 1,000 rules give it"
