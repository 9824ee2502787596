"""Hover: what the name or number under the cursor is, in Markdown.

An input shows its declaration, type, range and default; a level its bands; a
let its expression and type; a tier or label every rule that gives it, whole;
a band its test; a number literal its exact value (`10k` = 10,000, `3.5%` =
0.035). Answers come from the parse (so a broken file still hovers) and, when
the file checks, from the checker (a let's inferred type, an input's range).
"""

from __future__ import annotations

from engine.language import ast
from engine.services.answers import Hover, number_value
from engine.services.core import DocumentCore
from engine.services.names import path_at


def _code(text: str) -> str:
    return f"```tierline\n{text.strip()}\n```"


def hover(doc: DocumentCore, offset: int) -> Hover | None:
    occurrence = doc.names.at(offset)
    if occurrence is not None:
        text = _name_hover(doc, occurrence.key)
        if text is not None:
            return Hover(text, doc.lines.span_range(occurrence.span))
    for node in reversed(path_at(doc.rule_file.statements, offset)):
        if isinstance(node, ast.Number):
            value = number_value(node)
            shown = f"`{node.text}` = {value}"
            if node.is_percent:
                shown += " (the API takes percents as fractions)"
            return Hover(shown, doc.lines.span_range(node.span))
    return None


def _name_hover(doc: DocumentCore, key: tuple[str, ...]) -> str | None:
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
                f"**input** `{key[-1]}`: {stmt.type.value}",
            ]
            decl = checked.inputs.get(key[-1]) if checked else None
            if decl is not None and decl.range_text:
                lines.append(f"values: {decl.range_text}")
            if stmt.optional:
                default = (
                    "no default"
                    if stmt.default is None
                    else f"default {doc.statement_text(stmt.default.span)}"
                )
                lines.append(f"optional ({default})")
            else:
                lines.append("required: every account gives it")
            return "\n\n".join(lines)
        case "level":
            assert isinstance(stmt, ast.LevelDecl)
            return "\n\n".join(
                [
                    _code(doc.statement_text(stmt.span)),
                    f"**level** `{key[-1]}` from `{stmt.source.name}`: the first band that "
                    f"holds is chosen ({', '.join(b.name.name for b in stmt.bands)})",
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
                    f"**let** `{key[-1]}`: {type_ or 'type unknown (the file has errors)'}",
                ]
            )
        case "band":
            assert isinstance(stmt, ast.LevelDecl)
            band = next(b for b in stmt.bands if b.name.name == key[-1])
            test = doc.statement_text(band.bound.span).strip() or "otherwise"
            return (
                f"**band** `{key[-1]}` of level `{stmt.name.name}`: `{stmt.source.name} {test}`"
                if test != "otherwise"
                else f"**band** `{key[-1]}` of level `{stmt.name.name}`: when no band above holds"
            )
        case "tier" | "label":
            rules = [_code(doc.statement_text(d.statement.span)) for d in declarations]
            count = len(rules)
            head = f"**{first.kind}** `{key[-1]}`" + (
                f": {count} rules give it" if count > 1 else ""
            )
            if any(isinstance(d.statement, ast.OtherwiseRule) for d in declarations):
                head += " (`otherwise`: every account no tier above takes)"
            return "\n\n".join([head, *rules])
    return None
