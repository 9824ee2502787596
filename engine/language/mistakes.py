"""The mistakes rule authors make, recognised in a statement that failed to parse.

A parser knows which token it expected; a rule author needs to hear what to
write instead. Each check here looks for one habit from other tools or
languages (keywords in capitals, a decimal comma, `more than`, `≥`, smart
quotes from a word processor, an unquoted version) and, when the statement
shows it, says where and how to write it. Only statements that did not parse
are looked at, so a name that happens to be spelled `Text` costs nothing
until it breaks something.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from engine.language.grammar import keywords

Found = tuple[int, int, str, str]  # start, end (in the statement), message, hint
_OUTSIDE_TEXTS = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def mistakes(text: str) -> Iterator[Found]:
    """Every recognised mistake in a statement's text, earliest first."""
    blanked = _OUTSIDE_TEXTS.sub(lambda m: " " * len(m.group(0)), text)  # texts are the author's
    found = [hit for check in _CHECKS for hit in check(text, blanked)]
    yield from sorted(found, key=lambda hit: hit[0])


def _smart_quotes(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"[“”„‘’«»]", text):  # noqa: RUF001
        inner = re.match(r"[^“”„‘’«»\n]*", text[match.end() :])  # noqa: RUF001
        word = inner.group(0) if inner and inner.group(0).strip() else "instagram"
        yield (
            match.start(),
            match.end(),
            f"'{match.group(0)}' is not a quote the rules read",
            f'use straight double quotes: "{word}"',
        )
        return  # one is enough: the closing one is the same mistake


_SYMBOLS = {"≥": ">= (or at least)", "≤": "<= (or at most)", "≠": "!=", "=>": ">=", "=<": "<="}


def _symbols(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"[≥≤≠]|=>|=<", blanked):
        symbol = match.group(0)
        yield (
            match.start(),
            match.end(),
            f"'{symbol}' is not an operator",
            f"write {_SYMBOLS[symbol]}",
        )


def _capitals(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"\b[A-Za-z]+\b", blanked):
        word = match.group(0)
        if word != word.lower() and word.lower() in keywords():
            yield (
                match.start(),
                match.end(),
                f"'{word}' is not a word of the rule language",
                f"keywords are lower case: {word.lower()}",
            )


def _commas(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"(?<![\w.])\d+(?:,\d+)+%?", blanked):
        number = match.group(0)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", number):
            value = int(number.replace(",", ""))
            message = f"{number}: a comma does not group digits here"
            hint = f"write {number} as {value:_}" + (
                f" or {value // 1000:_}k" if value % 1000 == 0 else ""
            )
        else:
            written = number.replace(",", ".", 1)
            message = f"{number}: a comma is not a decimal point"
            hint = f"write {written} with a point"
        yield match.start(), match.end(), message, hint


def _dotted(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"(?<![\w.])[1-9]\d{0,2}(?:\.\d{3}){2,}(?![\w.])", blanked):
        number = match.group(0)
        value = int(number.replace(".", ""))
        yield (
            match.start(),
            match.end(),
            f"{number}: points do not group digits here",
            f"write {number} as {value:_}" + (f" or {value / 1e6:g}M" if value >= 10**6 else ""),
        )


_MORE = r"more|greater|larger|higher|bigger"
_LESS = r"less|fewer|smaller|lower"


def _than(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(rf"\b(?:(?:is\s+)?({_MORE})|(?:is\s+)?({_LESS}))\s+than\b", blanked):
        if match.group(1):
            hint = "use `above` for more than (or `at least` to include the number)"
        else:
            hint = "use `below` for less than (or `at most` to include the number)"
        yield match.start(), match.end(), f"'{match.group(0)}' is not a comparison here", hint


def _spaced_percent(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"(\d[\d_.]*)\s+%", blanked):
        yield (
            match.start(),
            match.end(),
            "a percent sign belongs to its number",
            f"write {match.group(1)}% without a space",
        )


_SUFFIXES = {
    "m": "M for a million",
    "mn": "M for a million",
    "mio": "M for a million",
    "b": "B for a billion",
    "bn": "B for a billion",
    "thousand": "k for a thousand",
    "million": "M for a million",
    "billion": "B for a billion",
}


def _suffixes(text: str, blanked: str) -> Iterator[Found]:
    pattern = r"\b(\d[\d_]*(?:\.\d+)?)\s?(m|mn|mio|b|bn|thousand|million|billion)\b"
    for match in re.finditer(pattern, blanked, flags=re.IGNORECASE):
        suffix = match.group(2)
        if suffix in ("M", "B"):
            continue  # `1M`, `1B` parse; here only when spaced: `1 M`
        wanted = _SUFFIXES[suffix.lower()]
        yield (
            match.start(),
            match.end(),
            f"'{match.group(0)}' is not a number the rules read",
            f"write {match.group(1)}{wanted.split()[0]}: {wanted} (k is a thousand)",
        )


def _unclosed_quote(text: str, blanked: str) -> Iterator[Found]:
    offset = 0
    for line in text.split("\n"):
        rest = _OUTSIDE_TEXTS.sub(lambda m: " " * len(m.group(0)), line)
        if '"' in rest:
            start = offset + rest.index('"')
            yield (
                start,
                offset + len(line.rstrip()),
                "this text has no closing quote",
                'close it with "',
            )
        offset += len(line) + 1


def _unquoted_header(text: str, blanked: str) -> Iterator[Found]:
    match = re.match(r"\s*(version|title)\s+([^\"\s#][^#\n]*?)\s*(?:#.*)?$", text)
    if match:
        word, value = match.group(1), match.group(2)
        yield (
            match.start(2),
            match.end(2),
            f"a {word} is a quoted text",
            f'put it in quotes: {word} "{value}"',
        )
    match = re.match(r"\s*ruleset\s+([A-Za-z_]\w*(?:[ \t-]+[A-Za-z_0-9]\w*)+)\s*(?:#.*)?$", text)
    if match:
        name = re.sub(r"[ \t-]+", "_", match.group(1))
        yield (
            match.start(1),
            match.end(1),
            "a ruleset name is one word",
            f"write it as one: ruleset {name}",
        )


def _example_without_tier(text: str, blanked: str) -> Iterator[Found]:
    match = re.search(r"\bexpect\s+(labels)\b", blanked)
    if match:
        yield (
            match.start(1),
            match.end(1),
            "an example names the tier it expects before its labels",
            "expect micro labels fashion_expert (or `expect none labels none`: no tier, no label)",
        )


_CHECKS: list[Callable[[str, str], Iterator[Found]]] = [
    _smart_quotes,
    _symbols,
    _capitals,
    _commas,
    _dotted,
    _than,
    _spaced_percent,
    _suffixes,
    _unclosed_quote,
    _unquoted_header,
    _example_without_tier,
]
