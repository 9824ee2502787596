"""The mistakes rule authors make, recognised in a statement that failed to parse.

A parser knows which token it expected; a rule author needs to hear what to
write instead. Each check here looks for one habit from other tools or
languages (keywords in capitals, a decimal comma, `more than`, `≥`, smart
quotes from a word processor, an unquoted version) and, when the statement
shows it, says where and how to write it. Only statements that did not parse
are looked at, so a name that happens to be spelled `Text` costs nothing
until it breaks something.

Every mistake of a statement is reported, not only the first, and each carries
its repair where the intended spelling is certain (`3,5%` is `3.5%`, `≥` is
`>=`): `recover.py` applies the repairs and parses again, so the rest of the
statement is still read and the author sees every mistake in one run. A
mistake whose fix needs the author's choice (which tier an example expects)
has no repair, and the statement is not read further.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from engine.language.draft import Edit
from engine.language.grammar import keywords


class Found(NamedTuple):
    """One mistake: where (offsets in the statement), what, the hint, and the repair."""

    start: int
    end: int
    message: str
    hint: str
    repair: tuple[Edit, ...] | None  # None: the fix needs the author's choice


_TEXT = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_COMMENT = re.compile(r"#[^\n]*")


def blank_texts(text: str) -> str:
    """The statement with its quoted texts and comments blanked (same length): what
    the author wrote there is data, never a mistake."""
    blanked = _TEXT.sub(lambda m: " " * len(m.group(0)), text)
    return _COMMENT.sub(lambda m: " " * len(m.group(0)), blanked)


def mistakes(text: str) -> list[Found]:
    """Every recognised mistake in a statement's text, earliest first. Where two
    checks see the same characters (`3,0 %` is a decimal comma and a spaced percent
    sign), the one that starts first, then the longer, speaks for them."""
    blanked = blank_texts(text)  # texts and comments are the author's
    found = sorted(
        (hit for check in _CHECKS for hit in check(text, blanked)),
        key=lambda hit: (hit.start, -hit.end),
    )
    kept: list[Found] = []
    for hit in found:
        if not kept or hit.start >= max(kept[-1].end, kept[-1].start + 1):
            kept.append(hit)
    return kept


def _smart_quotes(text: str, blanked: str) -> Iterator[Found]:
    quotes = list(re.finditer(r"[“”„‘’«»]", blanked))  # noqa: RUF001
    if not quotes:
        return
    first = quotes[0]
    inner = re.match(r"[^“”„‘’«»\n]*", text[first.end() :])  # noqa: RUF001
    word = inner.group(0) if inner and inner.group(0).strip() else "instagram"
    yield Found(  # one is enough: the closing one is the same mistake, and repaired with it
        first.start(),
        first.end(),
        f"'{first.group(0)}' is not a quote the rules read",
        f'use straight double quotes: "{word}"',
        tuple((q.start(), q.end(), '"') for q in quotes),
    )


_SYMBOLS = {"≥": ">=", "≤": "<=", "≠": "!=", "=>": ">=", "=<": "<="}
_SYMBOL_WORDS = {"≥": " (or at least)", "≤": " (or at most)"}


def _symbols(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"[≥≤≠]|=>|=<", blanked):
        symbol = match.group(0)
        yield Found(
            match.start(),
            match.end(),
            f"'{symbol}' is not an operator",
            f"write {_SYMBOLS[symbol]}{_SYMBOL_WORDS.get(symbol, '')}",
            ((match.start(), match.end(), _SYMBOLS[symbol]),),
        )


def _capitals(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"\b[A-Za-z]+\b", blanked):
        word = match.group(0)
        if word != word.lower() and word.lower() in keywords():
            yield Found(
                match.start(),
                match.end(),
                f"'{word}' is not a word of the rule language",
                f"keywords are lower case: {word.lower()}",
                ((match.start(), match.end(), word.lower()),),
            )


def _commas(text: str, blanked: str) -> Iterator[Found]:
    """`3,5%`, `3,0 %`, `1,000`: the hint is a spelling that parses, in one step (a
    spaced percent sign is part of the same mistake, not a second one to find later)."""
    pattern = r"(?<![\w.,])(\d+(?:,\d+)+)([kKMB]|[ \t]*%)?(?!\w|,\d)"
    for match in re.finditer(pattern, blanked):
        number, suffix = match.group(1), (match.group(2) or "").strip()
        if not suffix and re.fullmatch(r"\d{1,3}(?:,\d{3})+", number):
            value = int(number.replace(",", ""))
            message = f"{number}: a comma does not group digits here"
            written = f"{value:_}"
            hint = f"write {number} as {written}" + (
                f" or {value // 1000:_}k" if value % 1000 == 0 else ""
            )
        else:
            whole, _, decimals = number.partition(",")
            written = f"{whole}.{decimals.replace(',', '')}{suffix}"
            message = f"{match.group(0)}: a comma is not a decimal point"
            if set(decimals) <= {"0", ","}:
                hint = f"write {whole}{suffix} or {written}"
            elif suffix == (match.group(2) or ""):
                hint = f"write {written} with a point"
            else:
                hint = f"write {written} with a point and no space"
        yield Found(match.start(), match.end(), message, hint, ((*match.span(), written),))


def _dotted(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"(?<![\w.])[1-9]\d{0,2}(?:\.\d{3}){2,}(?![\w.])", blanked):
        number = match.group(0)
        value = int(number.replace(".", ""))
        yield Found(
            match.start(),
            match.end(),
            f"{number}: points do not group digits here",
            f"write {number} as {value:_}" + (f" or {value / 1e6:g}M" if value >= 10**6 else ""),
            ((match.start(), match.end(), f"{value:_}"),),
        )


_MORE = r"more|greater|larger|higher|bigger"
_LESS = r"less|fewer|smaller|lower"


def _than(text: str, blanked: str) -> Iterator[Found]:
    pattern = rf"\b(?:(?:is\s+)?({_MORE})|(?:is\s+)?({_LESS}))\s+than\b"
    for match in re.finditer(pattern, blanked, flags=re.IGNORECASE):
        if match.group(1):
            hint = "use `above` for more than (or `at least` to include the number)"
        else:
            hint = "use `below` for less than (or `at most` to include the number)"
        word = "above" if match.group(1) else "below"
        yield Found(
            match.start(),
            match.end(),
            f"'{match.group(0)}' is not a comparison here",
            hint,
            ((match.start(), match.end(), word),),
        )


def _spaced_percent(text: str, blanked: str) -> Iterator[Found]:
    for match in re.finditer(r"(?<![\w.,])(\d[\d_.]*)\s+%", blanked):
        written = f"{match.group(1)}%"
        yield Found(
            match.start(),
            match.end(),
            "a percent sign belongs to its number",
            f"write {written} without a space",
            ((match.start(), match.end(), written),),
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
    pattern = r"\b(\d[\d_]*(?:\.\d+)?)[ \t]?(m|mn|mio|b|bn|thousand|million|billion)\b"
    for match in re.finditer(pattern, blanked, flags=re.IGNORECASE):
        suffix = match.group(2)
        if suffix in ("M", "B"):
            continue  # `1M`, `1B` parse; here only when spaced: `1 M`
        wanted = _SUFFIXES[suffix.lower()]
        written = match.group(1) + wanted.split()[0]
        yield Found(
            match.start(),
            match.end(),
            f"'{match.group(0)}' is not a number the rules read",
            f"write {written}: {wanted} (k is a thousand)",
            ((match.start(), match.end(), written),),
        )


def _unclosed_quote(text: str, blanked: str) -> Iterator[Found]:
    offset = 0
    for line, rest in zip(text.split("\n"), blank_texts(text).split("\n"), strict=True):
        if '"' in rest:
            start = offset + rest.index('"')
            end = offset + len(line.rstrip())
            yield Found(
                start, end, "this text has no closing quote", 'close it with "', ((end, end, '"'),)
            )
        offset += len(line) + 1


def _unquoted_header(text: str, blanked: str) -> Iterator[Found]:
    match = re.match(r"\s*(version|title)\s+([^\"\s#][^#\n]*?)\s*(?:#.*)?$", text)
    if match:
        word, value = match.group(1), match.group(2)
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        yield Found(
            match.start(2),
            match.end(2),
            f"a {word} is a quoted text",
            f'put it in quotes: {word} "{value}"',
            ((*match.span(2), quoted),),
        )
    match = re.match(r"\s*ruleset\s+([A-Za-z_]\w*(?:[ \t-]+[A-Za-z_0-9]\w*)+)\s*(?:#.*)?$", text)
    if match:
        name = re.sub(r"[ \t-]+", "_", match.group(1))
        yield Found(
            match.start(1),
            match.end(1),
            "a ruleset name is one word",
            f"write it as one: ruleset {name}",
            ((*match.span(1), name),),
        )


def _example_without_tier(text: str, blanked: str) -> Iterator[Found]:
    match = re.search(r"\bexpect\s+(labels)\b", blanked)
    if match:
        yield Found(
            match.start(1),
            match.end(1),
            "an example names the tier it expects before its labels",
            "expect micro labels fashion_expert (or `expect none labels none`: no tier, no label)",
            None,  # which tier: only the author knows
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
