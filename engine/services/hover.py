"""Hover: what the name or number under the cursor is, in Markdown.

An input shows its declaration, type, range and default; a level its bands; a
let its expression and type; a tier or label every rule that gives it, whole;
a band its test; a number literal its exact value (`10k` = 10,000, `3.5%` =
0.035). Answers come from the parse (so a broken file still hovers) and, when
the file checks, from the checker (a let's inferred type, an input's range).
"""

from __future__ import annotations

from typing import Any

from engine.language import ast, german
from engine.language.languages import fill, german_number, german_numbers, range_words
from engine.services.answers import Hover, number_value
from engine.services.core import DocumentCore
from engine.services.names import path_at

# What a hover says around the rule file's own text; german.HOVER has the same keys
# and fields (tests/test_german.py checks it).
SAID: dict[str, str] = {
    "percent-api": " (the API takes percents as fractions)",
    "input": "**input** `{name}`: {type}",
    "values": "values: {range}",
    "no-default": "no default",
    "default": "default {value}",
    "optional": "optional ({default})",
    "required": "required: every account gives it",
    "level": "**level** `{name}` from `{source}`: the first band that holds is chosen ({bands})",
    "let": "**let** `{name}`: {type}",
    "type-unknown": "type unknown (the file has errors)",
    "band": "**band** `{name}` of level `{level}`: `{test}`",
    "band-otherwise": "**band** `{name}` of level `{level}`: when no band above holds",
    "tier": "**tier** `{name}`",
    "label": "**label** `{name}`",
    "rules": ": {count:,} rules give it",
    "otherwise": " (`otherwise`: every account no tier above takes)",
}


def _say(language: str, key: str, **fields: Any) -> str:
    if language == "de":  # numbers as German writes them (1.000)
        return fill(german.HOVER[key], fields)
    return SAID[key].format(**fields)


def _code(text: str) -> str:
    return f"```tierline\n{text.strip()}\n```"


def hover(doc: DocumentCore, offset: int, language: str = "en") -> Hover | None:
    """The hover at `offset`; `language="de"` says it in German (the studio), the rule
    file's own text as it is."""
    occurrence = doc.names.at(offset)
    if occurrence is not None:
        text = _name_hover(doc, occurrence.key, language)
        if text is not None:
            return Hover(text, doc.lines.span_range(occurrence.span))
    for node in reversed(path_at(doc.rule_file.statements, offset)):
        if isinstance(node, ast.Number):
            value = number_value(node)
            shown = f"`{node.text}` = {german_number(value) if language == 'de' else value}"
            if node.is_percent:
                shown += _say(language, "percent-api")
            return Hover(shown, doc.lines.span_range(node.span))
    return None


def _name_hover(doc: DocumentCore, key: tuple[str, ...], language: str) -> str | None:
    declarations = doc.names.declarations(key)
    if not declarations:
        return None
    first = declarations[0]
    stmt = first.statement
    checked = doc.checked
    match first.kind:
        case "input":
            assert isinstance(stmt, ast.InputDecl)
            lines = [
                _code(doc.statement_text(stmt.span)),
                _say(language, "input", name=key[-1], type=stmt.type.value),
            ]
            decl = checked.inputs.get(key[-1]) if checked else None
            if decl is not None and decl.range_text:
                range_text = decl.range_text
                if language == "de":
                    range_text = german_numbers(range_words(range_text))
                lines.append(_say(language, "values", range=range_text))
            if stmt.optional:
                default = (
                    _say(language, "no-default")
                    if stmt.default is None
                    else _say(language, "default", value=doc.statement_text(stmt.default.span))
                )
                lines.append(_say(language, "optional", default=default))
            else:
                lines.append(_say(language, "required"))
            return "\n\n".join(lines)
        case "level":
            assert isinstance(stmt, ast.LevelDecl)
            return "\n\n".join(
                [
                    _code(doc.statement_text(stmt.span)),
                    _say(
                        language,
                        "level",
                        name=key[-1],
                        source=stmt.source.name,
                        bands=", ".join(b.name.name for b in stmt.bands),
                    ),
                ]
            )
        case "let":
            assert isinstance(stmt, ast.LetDecl)
            type_ = stmt.type.value if stmt.type else None
            let = checked.lets.get(key[-1]) if checked else None
            if let is not None:
                type_ = let.type.value
            return "\n\n".join(
                [
                    _code(doc.statement_text(stmt.span)),
                    _say(
                        language, "let", name=key[-1], type=type_ or _say(language, "type-unknown")
                    ),
                ]
            )
        case "band":
            assert isinstance(stmt, ast.LevelDecl)
            band = next(b for b in stmt.bands if b.name.name == key[-1])
            test = doc.statement_text(band.bound.span).strip() or "otherwise"
            if test == "otherwise":
                return _say(language, "band-otherwise", name=key[-1], level=stmt.name.name)
            return _say(
                language,
                "band",
                name=key[-1],
                level=stmt.name.name,
                test=f"{stmt.source.name} {test}",
            )
        case "tier" | "label":
            rules = [_code(doc.statement_text(d.statement.span)) for d in declarations]
            count = len(rules)
            head = _say(language, first.kind, name=key[-1]) + (
                _say(language, "rules", count=count) if count > 1 else ""
            )
            if any(isinstance(d.statement, ast.OtherwiseRule) for d in declarations):
                head += _say(language, "otherwise")
            return "\n\n".join([head, *rules])
    return None
