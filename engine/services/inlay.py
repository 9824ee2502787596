"""Inlay hints: what a rule owner would otherwise work out in their head, shown in line.

Three kinds, each only where it tells something the text does not say:
- a number written with a suffix, its value: `10k` = 10,000, `1.5M` = 1,500,000,
  `3.5%` = 0.035 (the API takes percents as fractions); `10_000` and `0%` need none;
- a `let` without a declared type, the type the checker gives it (`: number`);
- where a condition uses a band (`engagement high`, `engagement is not low`), the
  values that band takes of its source, bands above it subtracted (first band
  wins): `medium` of `high at least 3.5%, medium at least 1%` is "at least 1%
  and below 3.5%", which the level's declaration, far away, says only together.
The second and third need the checked ruleset, so a file with errors gets only
the first (a broken file is still read statement by statement).

A German editor (`language="de"`) reads the words of labels and tooltips in German;
the values stay as the rule language writes them (`3.5%`, a type's name), a fraction
the API takes as JSON writes it (0.035), and only the value of a suffixed count is
grouped the German way (`10k` = 10.000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from engine.checker.bands import band_interval
from engine.checker.intervals import Interval, Union
from engine.checker.model import CheckedRuleset, Let, Level
from engine.checker.types import show_value
from engine.language import ast
from engine.language.languages import german_number
from engine.services.answers import number_value
from engine.services.core import DocumentCore
from engine.services.positions import Position, Range

T = ast.TypeName


@dataclass(frozen=True, slots=True)
class InlayHint:
    """A hint shown at `position` (after the thing it is about)."""

    position: Position
    label: str
    kind: Literal["value", "type", "band"]
    tooltip: str = ""


# What the hints say, in each language the editor may speak; the same keys and fields.
SAID: dict[str, dict[str, str]] = {
    "en": {
        "let-type": "the type the checker gives this let",
        "band": "the values of band '{band}' of level '{level}' (a value is in the first "
        "band it meets)",
        "percent": "percent: the API takes it as this fraction",
        "exactly": "exactly {value}",
        "at least": "at least {value}",
        "above": "above {value}",
        "at most": "at most {value}",
        "below": "below {value}",
        "and": " and ",
        "or": " or ",
        "any value": "any value",
        "no value": "no value",
    },
    "de": {
        "let-type": "der Typ, den die Prüfung diesem let gibt",
        "band": "die Werte von Band '{band}' des Levels '{level}' (ein Wert gehört zum "
        "ersten Band, das er erreicht)",
        "percent": "Prozent: die API nimmt ihn als diesen Bruchteil",
        "exactly": "genau {value}",
        "at least": "mindestens {value}",
        "above": "über {value}",
        "at most": "höchstens {value}",
        "below": "unter {value}",
        "and": " und ",
        "or": " oder ",
        "any value": "jeder Wert",
        "no value": "kein Wert",
    },
}


def _say(language: str, key: str, **fields: str) -> str:
    return SAID.get(language, SAID["en"])[key].format(**fields)


def inlay_hints(
    doc: DocumentCore, within: Range | None = None, language: str = "en"
) -> list[InlayHint]:
    """The hints of the statements that meet `within` (all of them when None), their
    words in `language`."""
    lo, hi = 0, len(doc.text)
    if within is not None:
        lo, hi = doc.lines.offset(within.start), doc.lines.offset(within.end)
    checked = doc.checked
    regions = _Regions(checked, language) if checked is not None else None
    found: list[InlayHint] = []
    for stmt in doc.rule_file.statements:
        if stmt.span.end < lo or stmt.span.start > hi:
            continue
        if isinstance(stmt, ast.LetDecl) and stmt.type is None and checked is not None:
            let = next((d for d in checked.derived if d.name == stmt.name.name), None)
            if isinstance(let, Let):
                found.append(
                    InlayHint(
                        doc.lines.position(stmt.name.span.end),
                        f": {let.type.value}",
                        "type",
                        _say(language, "let-type"),
                    )
                )
        in_condition = isinstance(stmt, ast.TierRule | ast.LabelRule)
        for node in ast.walk(stmt):
            if isinstance(node, ast.Number):
                hint = _number(doc, node, language)
                if hint is not None:
                    found.append(hint)
            elif isinstance(node, ast.LevelIs) and in_condition and regions is not None:
                shown = regions.shown(node.value.name, node.band.name)
                if shown is not None:
                    found.append(
                        InlayHint(
                            doc.lines.position(node.band.span.end),
                            f"({shown})",
                            "band",
                            _say(language, "band", band=node.band.name, level=node.value.name),
                        )
                    )
    return [h for h in found if lo <= doc.lines.offset(h.position) <= hi]


def _number(doc: DocumentCore, node: ast.Number, language: str = "en") -> InlayHint | None:
    """`= 10,000` after `10k` (German: 10.000), `= 0.035` after `3.5%` (the fraction as
    the API takes it, in every language); nothing where the text is the value already
    (`10000`, `10_000`) or the value is 0."""
    if node.text[-1:] not in ("k", "K", "m", "M", "b", "B", "%") or node.value == 0:
        return None
    value = number_value(node)
    if language == "de" and not node.is_percent:
        value = german_number(value)
    tooltip = _say(language, "percent") if node.is_percent else ""
    return InlayHint(doc.lines.position(node.span.end), f"= {value}", "value", tooltip)


class _Regions:
    """The values each band of each level takes, shown as a rule author writes them."""

    def __init__(self, checked: CheckedRuleset, language: str = "en"):
        self.checked = checked
        self.language = language
        self._shown: dict[str, dict[str, str | None]] = {}

    def shown(self, level_name: str, band: str) -> str | None:
        level = self.checked.levels.get(level_name)
        if level is None:
            return None
        if level_name not in self._shown:
            self._shown[level_name] = self._level(level)
        return self._shown[level_name].get(band)

    def _level(self, level: Level) -> dict[str, str | None]:
        type_ = self._type(level.source)
        taken = Union()
        out: dict[str, str | None] = {}
        unreadable = False
        for band in level.bands:
            interval = band_interval(band.op, band.low, band.high)
            if interval is None or unreadable:  # `!=`: the bands below it are not runs
                unreadable = True
                out.setdefault(band.name, None)
                continue
            region = taken.minus(interval)
            taken.add(interval)
            out.setdefault(band.name, _words(region, type_, self.language))
        return out

    def _type(self, source: str) -> T | None:
        if source in self.checked.inputs:
            return self.checked.inputs[source].type
        for item in self.checked.derived:
            if item.name == source and isinstance(item, Let):
                return item.type
        return None


def _words(region: list[Interval], type_: T | None, language: str = "en") -> str:
    """`at least 1% and below 3.5%`, `below 1%`, `any value`, `no value` (the values as
    the rules write them, the words in `language`)."""
    parts = []
    for piece in region:
        if piece.empty:
            continue
        low = None if math.isinf(piece.lo) else show_value(piece.lo, type_)
        high = None if math.isinf(piece.hi) else show_value(piece.hi, type_)
        if low is not None and high is not None and piece.lo == piece.hi:
            parts.append(_say(language, "exactly", value=low))
            continue
        said = []
        if low is not None:
            said.append(_say(language, "at least" if piece.lo_closed else "above", value=low))
        if high is not None:
            said.append(_say(language, "at most" if piece.hi_closed else "below", value=high))
        parts.append(_say(language, "and").join(said) or _say(language, "any value"))
    return _say(language, "or").join(parts) or _say(language, "no value")
