"""Saying the engine's texts in another language than English, at the edge.

English is what every stage makes and what the CLI, gRPC and the language server
print. A caller that shows a person German (the studio) renders each text again:

- a `Phrase` (a catalogued text: a diagnostic's message or hint, a summary, "did you
  mean") from the German catalogue (`german.py`), by its key, with its fields said in
  German too (a type described, "always", a number as German writes it);
- a text of the syntax explainer (`mistakes.py`, `syntax_errors.py`), whose sentences
  are a closed set, by its German pattern (`SYNTAX`);
- numbers written by the engine in English (10,000; 3.5%) as German writes them
  (10.000; 3,5 %), outside quoted texts and code in backticks.

What is the rule language (names, keywords, literals in backticks or quotes) stays as
it is. A text the German catalogue does not know is given back in English: better an
English sentence than a wrong German one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from string import Formatter
from typing import Any, Final

from engine.language import german
from engine.language.phrase import Phrase

LANGUAGES: Final = ("en", "de")


def language_of(requested: str | None) -> str:
    """The language to answer in for a request's `?lang=` or Accept-Language value
    ("de-DE,de;q=0.9,en;q=0.8" → "de"): the first listed that is known, else English."""
    for part in (requested or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"


# ------------------------------------------------------------------ numbers

# An English-written number: 10,000 / 3.5 / -2 / 3.5% (not part of a name such as
# rate_2, nor a literal of the rules such as 10k or 1_000, nor 1.8e308).
_NUMBER = re.compile(r"(?<![\w.,])(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(%?)(?![\w%]|\.\d|,\d)")
# What is not prose: quoted texts and code in backticks.
_VERBATIM = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`\n]*`')


# German writes a space before the percent sign; a no-break one, so that a line of a
# table never breaks between 4,2 and %.
PERCENT: Final = "\u00a0%"


def german_number(text: str) -> str:
    """One English-written number ("10,000", "3.5%") as German writes it."""
    match = _NUMBER.fullmatch(text)
    return _german(match) if match else text


def _german(match: re.Match[str]) -> str:
    sign, whole, decimals, percent = match.groups()
    out = sign + whole.replace(",", ".")
    if decimals:
        out += "," + decimals
    return out + (PERCENT if percent else "")


def german_numbers(text: str) -> str:
    """Every English-written number of a text in German form, except in quoted texts
    and in code between backticks."""
    out, last = [], 0
    for verbatim in _VERBATIM.finditer(text):
        out.append(_NUMBER.sub(_german, text[last : verbatim.start()]))
        out.append(verbatim.group(0))
        last = verbatim.end()
    out.append(_NUMBER.sub(_german, text[last:]))
    return "".join(out)


_SWAP: Final = str.maketrans(",.", ".,")


def format_number(value: float, spec: str = "") -> str:
    """A number formatted by a `str.format` spec, then written German (10.000; 3,5)."""
    return format(value, spec).translate(_SWAP)


class _Code:
    """A field marked `!c` in a German template: the rule language's spelling."""

    def __init__(self, value: Any):
        self.value = value

    def __format__(self, spec: str) -> str:
        return str(format(self.value, spec))


class _GermanFormatter(Formatter):
    """`str.format` for German templates: numbers German, `!c` fields as code."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "c":
            return _Code(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format_number(value, format_spec)
        return str(super().format_field(value, format_spec))


_FORMATTER: Final = _GermanFormatter()


def fill(template: str, fields: Mapping[str, Any]) -> str:
    """A German template filled: numbers German, `{x!c}` as the rule language writes x."""
    return _FORMATTER.vformat(template, (), dict(fields))


# ------------------------------------------------------------------ catalogued texts

# Plain English fields (not phrases), said by pattern: (pattern, German replacement).
# An input's range as the checker words it (engine/checker/bands.py).
_RANGES: Final[list[tuple[re.Pattern[str], str]]] = [
    (re.compile(r"^from (\S+) to (\S+)$"), r"von \1 bis \2"),
    (re.compile(r"^between (\S+) and (\S+)$"), r"zwischen \1 und \2"),
    (
        re.compile(r"^at least (\S+) \(and at most (\S+)\)$"),
        r"von mindestens \1 (und höchstens \2)",
    ),
    (re.compile(r"^at least (\S+)$"), r"von mindestens \1"),
    (re.compile(r"^at most (\S+)$"), r"von höchstens \1"),
    (re.compile(r"^above (\S+)$"), r"über \1"),
    (re.compile(r"^below (\S+)$"), r"unter \1"),
]

# Plain English fields (not phrases), said by pattern: (pattern, German replacement).
_FIELD_PATTERNS: Final[list[tuple[re.Pattern[str], str]]] = [
    (re.compile(r"^: for example (.*)$", re.S), r": zum Beispiel \1"),
    (re.compile(r"^ or (\S+)$"), r" oder \1"),
    (re.compile(r"^(.*) \((\d+) digits\)$"), r"\1 (\2 Stellen)"),
    *_RANGES,
    # what the solver could not decide (engine/analysis/prove.py)
    (re.compile(r"^tier '(.*)' can match$"), r"Stufe '\1' zutreffen kann"),
    (
        re.compile(r"^tiers '(.*)' and '(.*)' can match one account$"),
        r"die Stufen '\1' und '\2' auf ein Konto zutreffen können",
    ),
    (re.compile(r"^tier '(.*)' is reached$"), r"Stufe '\1' erreicht wird"),
    (re.compile(r"^label '(.*)' can hold$"), r"Merkmal '\1' gelten kann"),
    (re.compile(r"^label '(.*)' always holds$"), r"Merkmal '\1' immer gilt"),
    (
        re.compile(r"^every account gets one of the (\S+) tiers$"),
        r"jedes Konto eine der \1 Stufen erhält",
    ),
    (re.compile(r"^every account gets a tier$"), "jedes Konto eine Stufe erhält"),
]

# Fields whose value is a number or values written in English (a range, an example
# account): their numbers are said German. Others (names, literals) stay as written.
_VALUE_FIELDS: Final = frozenset({"value", "allowed", "example", "low", "high"})
# ... except where the field is a literal of the rules ("100k is more than 10k").
_KINDS: Final = {"tier": "Stufe", "label": "Merkmal"}
_LITERAL_FIELDS: Final = frozenset({("empty-range", "low"), ("empty-range", "high")})


def range_words(text: str) -> str:
    """An input's range as the checker words it ("from 0% to 100%") in German words
    (its numbers still English-written: `german_numbers` says them)."""
    for pattern, replacement in _RANGES:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return text


def _field(code: str, name: str, value: Any) -> Any:
    if isinstance(value, Phrase):
        return localized(value, "de")
    if isinstance(value, list):  # the items of a listed text (codes.listed)
        return ", ".join(str(_field(code, name, item)) for item in value)
    if not isinstance(value, str):
        return value
    if name == "kind" and value in _KINDS:
        return _KINDS[value]
    if value in german.WORDS:
        return german.WORDS[value]
    for pattern, replacement in _FIELD_PATTERNS:
        if pattern.match(value):
            value = pattern.sub(replacement, value)
            break
    if name in _VALUE_FIELDS and (code, name) not in _LITERAL_FIELDS:
        return german_numbers(value)
    return value


def field_text(text: str, language: str) -> str:
    """A text the engine words outside the catalogue (a range, what the solver could
    not decide) in `language`, its numbers German."""
    if language != "de":
        return text
    return german_numbers(_field("", "value", text))


def fix_title(title: str, language: str) -> str:
    """A quick fix's title (engine/services/fixes.py) in `language`."""
    if language != "de":
        return title
    if match := re.fullmatch(r"replace '(.*)' by (.*)", title, re.S):
        return f"'{match.group(1)}' durch {match.group(2)} ersetzen"
    if match := re.fullmatch(r"write (.*)", title, re.S):
        return f"{match.group(1)} schreiben"
    return title


def _template(phrase: Phrase) -> str | None:
    code, kind, variant = phrase.key
    if kind == "text":
        return german.TEXTS.get(variant)
    table = german.MESSAGES if kind == "message" else german.HINTS
    return table.get(code, {}).get(variant)


def _phrase(phrase: Phrase) -> str:
    template = _template(phrase)
    if template is None:
        return str(phrase)
    code = phrase.key[0]
    fields = {name: _field(code, name, value) for name, value in phrase.fields.items()}
    if phrase.key == ("", "text", "omitted"):
        fields["counted"] = german.COUNTED.get(str(fields["counted"]), german.COUNTED["findings"])
    if code == "syntax" and "message" in fields:
        fields["message"] = syntax(str(phrase.fields["message"]))
    try:
        return fill(template, fields)
    except (KeyError, ValueError, IndexError):  # a field the template cannot take
        return str(phrase)


def localized(text: str | None, language: str) -> str | None:
    """`text` (an engine text) said in `language`; English and None as they are."""
    if text is None or language != "de":
        return text
    if isinstance(text, Phrase):
        return _phrase(text)
    return syntax(text)


# ------------------------------------------------------------------ the syntax explainer

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _expected(words: str) -> str:
    """ "'a', 'b' or …" / "a name, a number" said German (the words quoted stay)."""
    out = words.replace(" or …", " oder …").replace(" or ", " oder ")
    for english, german_ in (
        ("a name", "ein Name"),
        ("a number", "eine Zahl"),
        ('a quoted text ("…")', 'ein Text in Anführungszeichen ("…")'),
        ("a statement", "eine Anweisung"),
    ):
        out = out.replace(english, german_)
    return out


def _found(found: str) -> str:
    for english, german_ in (
        ("found the name ", "gefunden wurde der Name "),
        ("found the number ", "gefunden wurde die Zahl "),
        ("found the text ", "gefunden wurde der Text "),
        ("found ", "gefunden wurde "),
        ("the statement ends here", "hier endet die Anweisung"),
    ):
        if found.startswith(english):
            return german_ + found[len(english) :]
    return found


_QUANTITY: Final = {
    "M for a million": "M für eine Million",
    "B for a billion": "B für eine Milliarde",
    "k for a thousand": "k für tausend",
}

SYNTAX: Final[list[_Rule]] = [
    (
        re.compile(r"^'(.*)' is not a quote the rules read$"),
        r"'\1' ist kein Anführungszeichen, das die Regeln lesen",
    ),
    (re.compile(r"^'(.*)' is not an operator$"), r"'\1' ist kein Operator"),
    (
        re.compile(r"^'(.*)' is not a word of the rule language here$"),
        r"'\1' ist hier kein Wort der Regelsprache",
    ),
    (
        re.compile(r"^'(.*)' is not a word of the rule language$"),
        r"'\1' ist kein Wort der Regelsprache",
    ),
    (
        re.compile(r"^keywords are lower case: (.*)$"),
        r"Schlüsselwörter werden kleingeschrieben: \1",
    ),
    (
        re.compile(r"^(\S+): a comma does not group digits here$"),
        r"\1: ein Komma gruppiert hier keine Ziffern",
    ),
    (
        re.compile(r"^(\S+): points do not group digits here$"),
        r"\1: Punkte gruppieren hier keine Ziffern",
    ),
    (re.compile(r"^(.+): a comma is not a decimal point$"), r"\1: ein Komma ist kein Dezimalpunkt"),
    (re.compile(r"^write (\S+) as (\S+) or (\S+)$"), r"schreiben Sie \1 als \2 oder \3"),
    (re.compile(r"^write (\S+) as (\S+)$"), r"schreiben Sie \1 als \2"),
    (re.compile(r"^write (\S+) or (\S+)$"), r"schreiben Sie \1 oder \2"),
    (
        re.compile(r"^write (\S+) with a point and no space$"),
        r"schreiben Sie \1 mit Punkt und ohne Leerzeichen",
    ),
    (re.compile(r"^write (\S+) with a point$"), r"schreiben Sie \1 mit Punkt"),
    (re.compile(r"^write (\S+) without a space$"), r"schreiben Sie \1 ohne Leerzeichen"),
    (re.compile(r"^write (\S+) \(or (.+)\)$"), r"schreiben Sie \1 (oder \2)"),
    (re.compile(r"^write (\S+)$"), r"schreiben Sie \1"),
    (
        re.compile(r"^write (\S+): (.+) \(k is a thousand\)$"),
        lambda m: (
            f"schreiben Sie {m.group(1)}: {_QUANTITY.get(m.group(2), m.group(2))} (k ist tausend)"
        ),
    ),
    (re.compile(r"^'(.*)' is not a comparison here$"), r"'\1' ist hier kein Vergleich"),
    (
        re.compile(r"^use `above` for more than \(or `at least` to include the number\)$"),
        "verwenden Sie `above` für „mehr als“ (oder `at least`, um die Zahl einzuschließen)",
    ),
    (
        re.compile(r"^use `below` for less than \(or `at most` to include the number\)$"),
        "verwenden Sie `below` für „weniger als“ (oder `at most`, um die Zahl einzuschließen)",
    ),
    (
        re.compile(r"^a percent sign belongs to its number$"),
        "ein Prozentzeichen gehört direkt an seine Zahl",
    ),
    (
        re.compile(r"^'(.*)' is not a number the rules read$"),
        r"'\1' ist keine Zahl, die die Regeln lesen",
    ),
    (
        re.compile(r"^this text has no closing quote$"),
        "diesem Text fehlt das schließende Anführungszeichen",
    ),
    (re.compile(r'^close it with "$'), 'schließen Sie ihn mit "'),
    (
        re.compile(r"^a (\w+) is a quoted text$"),
        r"der Wert von `\1` ist ein Text in Anführungszeichen",
    ),
    (re.compile(r"^put it in quotes: (.*)$"), r"setzen Sie ihn in Anführungszeichen: \1"),
    (
        re.compile(r"^use straight double quotes: (.*)$"),
        r"verwenden Sie gerade doppelte Anführungszeichen: \1",
    ),
    (re.compile(r"^a ruleset name is one word$"), "ein Regelwerksname ist ein einziges Wort"),
    (re.compile(r"^write it as one: (.*)$"), r"schreiben Sie ihn als ein Wort: \1"),
    (
        re.compile(r"^an example names the tier it expects before its labels$"),
        "ein Beispiel nennt die erwartete Stufe vor seinen Merkmalen",
    ),
    (
        re.compile(
            r"^expect micro labels fashion_expert "
            r"\(or `expect none labels none`: no tier, no label\)$"
        ),
        "expect micro labels fashion_expert (oder `expect none labels none`: keine Stufe, "
        "kein Merkmal)",
    ),
    (
        re.compile(r"^expected a statement \((.*)\); (.*)$"),
        lambda m: f"erwartet wurde eine Anweisung ({m.group(1)}); {_found(m.group(2))}",
    ),
    (
        re.compile(r"^expected (.*); (found .*|the statement ends here)$"),
        lambda m: f"erwartet wurde {_expected(m.group(1))}; {_found(m.group(2))}",
    ),
    (
        re.compile(r"^a level needs bands, one per indented line, such as (`.*`)$"),
        r"ein Level braucht Bänder, eines je eingerückter Zeile, etwa \1",
    ),
    (re.compile(r"^did you mean '(.*)'\?$"), r"meinten Sie '\1'?"),
    (re.compile(r"^a statement starts with (.*)$"), r"eine Anweisung beginnt mit \1"),
    (
        re.compile(r"^indent a line that continues the statement above$"),
        "rücken Sie eine Zeile ein, die die Anweisung darüber fortsetzt",
    ),
]


def syntax(text: str) -> str:
    """A sentence of the syntax explainer in German, or as it is if not one of them."""
    for pattern, replacement in SYNTAX:
        match = pattern.match(text)
        if match:
            if callable(replacement):
                return replacement(match)
            return match.expand(replacement)
    return text


# ------------------------------------------------------------------ explanations

_GAP = re.compile(r"^(.*): (-?[\d,.]+(?:e[+-]?\d+)?%?) (short|over)$|^(.*): off by (\S+)$", re.S)
_HEADER = re.compile(r"^tier (.*?): rule '(.*)' at (.*):(\d+) \(ruleset (.*)\)$")
_OTHERWISE = re.compile(
    r"^tier (.*?): no tier rule matched, so `otherwise (.*)` at (.*):(\d+) applies "
    r"\(ruleset (.*)\)$"
)
_NONE = re.compile(r"^tier none: no tier rule matched \(ruleset (.*)\)$")
_NEEDS = re.compile(r"^  ✗ (\S+) \(line (\d+)\) needs (.*)$", re.S)
_DIVISION = re.compile(r"^  division by zero in (`.*`) \((.*) is 0\): taken as 0$")
_HEADS: Final = {
    "tiers tried:": "Geprüfte Stufen:",
    "tiers tried first:": "Zuvor geprüfte Stufen:",
    "other tiers:": "Weitere Stufen:",
    "notes:": "Hinweise:",
    "labels: none": "Merkmale: keine",
}


def gap(text: str) -> str:
    """By how much a failed test missed ("55,000 short"), in German ("55.000 zu wenig")."""
    match = re.fullmatch(r"(-?[\d,.]+(?:e[+-]?\d+)?%?) (short|over)|off by (\S+)", text)
    if match is None:
        return text
    if match.group(3):
        return f"um {german_numbers(match.group(3))} daneben"
    amount = german_numbers(match.group(1))
    return f"{amount} zu wenig" if match.group(2) == "short" else f"{amount} zu viel"


def _ruleset(said: str) -> str:
    name, _, version = said.partition(", version ")
    return f"Regelwerk {name}" + (f", Version {version}" if version else "")


def _held(rest: str, conditions: list[str]) -> str | None:
    """`COND (name value, …)`: the condition as written, the values German."""
    for condition in conditions:
        if rest.startswith(condition + " (") and rest.endswith(")"):
            return f"{condition} ({german_numbers(rest[len(condition) + 2 : -1])})"
    return None


def _label_line(rest: str, conditions: list[str]) -> str | None:
    """`COND (values); COND (values)` of a label that held."""
    out: list[str] = []
    while rest:
        for condition in conditions:
            if rest.startswith(condition + " ("):
                end = rest.find("); ", len(condition))
                part, rest = (rest, "") if end < 0 else (rest[: end + 1], rest[end + 3 :])
                shown = _held(part, [condition])
                if shown is None:
                    return None
                out.append(shown)
                break
        else:
            return None
    return "; ".join(out)


def _needs(match: re.Match[str], conditions: list[str]) -> str | None:
    rule, line, rest = match.groups()
    missed = ""
    found = _GAP.match(rest)
    if found:
        rest, missed = (found.group(1), f"{found.group(2)} {found.group(3)}")
        if found.group(4) is not None:
            rest, missed = found.group(4), f"off by {found.group(5)}"
    for condition in sorted(conditions, key=len, reverse=True):
        if rest == condition or rest.startswith(condition + "; has "):
            has = rest[len(condition) + len("; has ") :] if rest != condition else ""
            out = f"  ✗ {rule} (Zeile {line}) braucht {condition}"
            if has:
                out += f"; hat {german_numbers(has)}"
            return out + (f": {gap(missed)}" if missed else "")
    return None


def explanation(text: str, language: str, conditions: list[str]) -> str:
    """`Decision.explain()` said in `language`. `conditions` are the texts of the
    conditions the decision evaluated (its reasons'), which stay as the rules write
    them; a line this does not recognise is left in English."""
    if language != "de":
        return text
    known = sorted(set(conditions), key=len, reverse=True)
    out = []
    for line in text.split("\n"):
        out.append(_explained(line, known) or line)
    return "\n".join(out)


def _explained(line: str, conditions: list[str]) -> str | None:
    if line in _HEADS:
        return _HEADS[line]
    if line.startswith("why ") and line.endswith(":"):
        return f"Warum {line[4:-1]}:"
    if match := _HEADER.match(line):
        tier, rule, file, at, ruleset = match.groups()
        return f"Stufe {tier}: Regel '{rule}' in {file}:{at} ({_ruleset(ruleset)})"
    if match := _OTHERWISE.match(line):
        tier, rule, file, at, ruleset = match.groups()
        head = "keine Stufe" if tier == "none" else f"Stufe {tier}"
        return (
            f"{head}: keine Stufenregel traf zu, daher gilt `otherwise {rule}` in "
            f"{file}:{at} ({_ruleset(ruleset)})"
        )
    if match := _NONE.match(line):
        return f"keine Stufe: keine Stufenregel traf zu ({_ruleset(match.group(1))})"
    if line.startswith("labels: "):
        return "Merkmale: " + line[len("labels: ") :]
    if match := _NEEDS.match(line):
        return _needs(match, conditions)
    if match := _DIVISION.match(line):
        return f"  Division durch null in {match.group(1)} ({match.group(2)} ist 0): als 0 gewertet"
    if line.startswith(("  ✓ ", "  ✗ ")):
        mark, rest = line[:4], line[4:]
        shown = _held(rest, conditions)
        if shown is not None:
            return mark + shown
        name, sep, reasons = rest.partition(": ")
        if sep and mark == "  ✓ ":
            said = _label_line(reasons, conditions)
            if said is not None:
                return f"{mark}{name}: {said}"
    return None


# ------------------------------------------------------------------ refused accounts

# The pieces of a refusal (engine/python/values.py, the SQL's copy of them), in order:
# the types expected first, so that "expected a count (…)" is said whole. A number the
# account gave, or one to send instead (`0.042`), is a value of the account's JSON: it
# stays as JSON writes it, as code; every other number (a percentage read, a bound of a
# range) is said German.
_REFUSAL_WORDS: Final = (
    ("a count (a whole number, 0 or more)", "eine Anzahl (ganze Zahl, 0 oder mehr)"),
    (
        "a percentage as a fraction (0.042 is 4.2%)",
        "ein Prozentwert als Bruchteil (`0.042` ist 4,2\u00a0%)",
    ),
    (
        "; a percentage is a fraction (0.042 is 4.2%): is this a count, not a rate?",
        "; ein Prozentwert ist ein Bruchteil (`0.042` ist 4,2\u00a0%): ist das eine Anzahl "
        "statt einer Rate?",
    ),
    ("; a percentage is a fraction: ", "; ein Prozentwert ist ein Bruchteil: "),
    ("invalid account: ", "ungültiges Konto: "),
    (": missing, expected ", ": fehlt, erwartet wird "),
    (": not an input of these rules", ": keine Eingabe dieser Regeln"),
    (" no larger than ", " nicht größer als "),
    ("NaN (not a number)", "NaN (keine Zahl)"),
    # what a value given is (values.kind_of), after it
    (" (a text)", " (ein Text)"),
    (" (a whole number)", " (eine ganze Zahl)"),
    (" (a number)", " (eine Zahl)"),
    (" (a list)", " (eine Liste)"),
    (" (an object)", " (ein Objekt)"),
    (" (true/false)", " (ein Wahrheitswert)"),
    (" (null)", " (kein Wert)"),
    (" (a value of another kind)", " (ein Wert anderer Art)"),
    ("send it as a number: ", "geben Sie den Wert als Zahl an: "),
    ("did you mean ", "meinten Sie "),
)
# values.kind_of's words, where a refusal names what was given rather than showing it
_KIND_OF: Final = {"whole number": "eine ganze Zahl", "number": "eine Zahl"}
_NUM = r"-?[\d.,_]+(?:e[+-]?\d+)?"
# A value as JSON writes it (the account's, or one to send), not a bound of the engine's.
_JSON_NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
_REFUSAL: Final[list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]]] = [
    *((re.compile(re.escape(english)), german_) for english, german_ in _REFUSAL_WORDS),
    (re.compile(rf" from ({_NUM}%?) to ({_NUM}%?), got "), r" von \1 bis \2, got "),
    (re.compile(rf" between ({_NUM}%?) and ({_NUM}%?), got "), r" zwischen \1 und \2, got "),
    (re.compile(rf" at least ({_NUM}%?), got "), r" von mindestens \1, got "),
    (re.compile(rf" at most ({_NUM}%?), got "), r" von höchstens \1, got "),
    (re.compile(rf" above ({_NUM}%?), got "), r" über \1, got "),
    (re.compile(rf" below ({_NUM}%?), got "), r" unter \1, got "),
    (re.compile(r": expected (.+?), got "), r": erwartet wird \1, erhalten "),
    # what was given, when it is not shown itself (values._shown)
    (re.compile(r"(?<=erhalten )an object\b"), "ein Objekt"),
    (re.compile(r"(?<=erhalten )a value of another kind\b"), "einen Wert anderer Art"),
    (
        re.compile(r"(?<=erhalten )an? ([\w ]+?) of ([\d,]+) digits\b"),
        lambda m: f"{_KIND_OF.get(m.group(1), m.group(1))} mit {german_number(m.group(2))} Stellen",
    ),
    # a number the account gave, as it gave it
    (re.compile(rf"(?<=erhalten )({_JSON_NUMBER})(?=[;,]|$| \()"), r"`\1`"),
    # the hint of a percent out of its range: "4.2 is 420%; … 4.2% is 0.042"
    (
        re.compile(rf"(?<![\w.`])an? ([\w ]+?) of ([\d,]+) digits is ({_NUM})%"),
        lambda m: (
            f"{_KIND_OF.get(m.group(1), m.group(1))} mit {german_number(m.group(2))} Stellen "
            f"ist {_german_float(m.group(3))}{PERCENT}"
        ),
    ),
    (
        re.compile(rf"(?<![\w.`])({_JSON_NUMBER}) is ({_NUM})%"),
        lambda m: f"`{m.group(1)}` ist {_german_float(m.group(2))}{PERCENT}",
    ),
    (
        re.compile(rf"(?<![\w.`])({_NUM})% is ({_JSON_NUMBER})(?![\w.])"),
        lambda m: f"{german_number(m.group(1))}{PERCENT} ist `{m.group(2)}`",
    ),
    (re.compile(rf"(?<=: )({_JSON_NUMBER})$"), r"`\1`"),  # "… als Zahl an: 45000"
    (
        re.compile(
            r"^ruleset (.*) has policy unique, but tiers '(.*)' \(line (\d+)\) and '(.*)' "
            r"\(line (\d+)\) both match this account$"
        ),
        r"Regelwerk \1 hat `policy unique`, aber die Stufen '\2' (Zeile \3) und '\4' "
        r"(Zeile \5) treffen beide auf dieses Konto zu",
    ),
]
_EXPECTED_WORDS: Final = {
    "a number": "eine Zahl",
    "a text": "ein Text",
    "true or false": "true oder false",
    "a list of texts": "eine Liste von Texten",
}


def _german_float(text: str) -> str:
    """A number of the engine's ("4.2", "1.6e+62") as German writes it (1,6e+62)."""
    mantissa, e, exponent = text.partition("e")
    return german_number(mantissa) + e + exponent


def refusal(text: str, language: str) -> str:
    """Why the rules refused an account (a row of a sample), in `language`."""
    if language != "de":
        return text
    for pattern, replacement in _REFUSAL:
        text = pattern.sub(replacement, text)
    # the bounds of a range (written by the engine, not the account's values)
    text = re.sub(
        r"(von|zwischen|mindestens|höchstens|über|unter|bis|und|als) "
        r"(-?\d+(?:,\d{3})*(?:\.\d+)?%?)(?=[ ,;]|$)",
        lambda m: f"{m.group(1)} {german_number(m.group(2))}",
        text,
    )
    for english, german_ in _EXPECTED_WORDS.items():
        text = re.sub(rf"(erwartet wird ){re.escape(english)}\b", rf"\g<1>{german_}", text)
    return text


# ------------------------------------------------------------------ a table's columns

_LACKING = re.compile(
    r"^no column for the input (?P<name>\S+)"
    r"(?:, which ruleset (?P<one>\S+) requires|, which rulesets (?P<many>.+?) require)?"
    r": the files have (?P<have>.*?); use --map (?P=name)=COLUMN"
    r"(?:; or, since no tier of (?P<of>.+?) reads it, declare it optional "
    r"(?P<where>there|in each): (?P<code>`.*`))?$",
    re.S,
)


def table_problem(text: str, language: str) -> str:
    """Why a sample's columns cannot be read as the rules' inputs (tierline/tables),
    in `language`: the one a rule owner meets first, a column the rules need and the
    file lacks, is said in German; others stay as they are."""
    match = _LACKING.match(text) if language == "de" else None
    if match is None:
        return text
    name = match["name"]
    who = ""
    if match["one"]:
        who = f", die das Regelwerk {match['one']} braucht"
    elif match["many"]:
        who = f", die die Regelwerke {match['many']} brauchen"
    said = (
        f"keine Spalte für die Eingabe {name}{who}: die Datei hat {match['have']}; "
        f"ordnen Sie unter „Spalte je Eingabe“ eine Spalte zu (--map {name}=SPALTE)"
    )
    if match["code"]:
        where = "dort" if match["where"] == "there" else "in jedem"
        said += (
            f"; oder, da keine Stufe von {match['of']} sie liest, deklarieren Sie sie "
            f"{where} als optional: {match['code']}"
        )
    return said


# ------------------------------------------------------------------ completion

_DETAILS: Final = {
    "no tier": "keine Stufe",
    "no label": "kein Merkmal",
    "a text in this file": "ein Text aus dieser Datei",
    "the labels the example must get": "die Merkmale, die das Beispiel bekommen muss",
    "give another input": "eine weitere Eingabe angeben",
    "level NAME from VALUE, then bands": "level NAME from WERT, darunter die Bänder",
}


def completion_detail(detail: str | None, language: str) -> str | None:
    """What a completion item says beside its label (engine/services/complete.py)."""
    if detail is None or language != "de":
        return detail
    if detail in _DETAILS:
        return _DETAILS[detail]
    if detail.startswith("a text compared with "):
        return "ein Text, mit dem " + detail[len("a text compared with ") :] + " verglichen wird"
    return detail
