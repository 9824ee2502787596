"""Literals as input values: an example's `given` and an optional input's `default`.

A literal fits an input of a type or it does not; when it does not, the
diagnostic says what the input is and, where an author's likely intent is
plain, the spelling that fits (`4.2` for a percent: did you mean 4.2%?).
"""

from __future__ import annotations

from engine.checker.model import MAX_COUNT, Value
from engine.checker.types import describe_type
from engine.language import ast, codes
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source

T = ast.TypeName


def literal_value(
    literal: ast.Literal, type_: T, name: str, source: Source
) -> tuple[Value | None, Diagnostic | None]:
    """The value of `literal` for the input `name` of `type_`, or why it does not fit."""
    ok: Value | None = None
    match literal, type_:
        case ast.Number(value=v), T.COUNT if isinstance(v, int) and 0 <= v <= MAX_COUNT:
            ok = v
        case ast.Number(value=v) as number, T.PERCENT if number.is_percent or v == 0:
            ok = float(v)
        case ast.Number(value=v) as number, T.NUMBER if not number.is_percent:
            ok = v
        case ast.Text(value=v), T.TEXT:
            ok = v
        case ast.Flag(value=v), T.FLAG:
            ok = v
        case ast.TextSet() as items, T.TEXT_SET:
            ok = items.values
    if ok is not None:
        return ok, None
    hint = None
    if isinstance(literal, ast.Number) and type_ is T.PERCENT:
        hint = codes.TYPE_MISMATCH.hint("percent", percent=_as_percent(literal.value))
    elif isinstance(literal, ast.Number) and type_ is T.COUNT and literal.value > MAX_COUNT:
        hint = codes.TYPE_MISMATCH.hint("count-max", max=MAX_COUNT)
    elif isinstance(literal, ast.Text) and type_ is T.TEXT_SET:
        hint = codes.TYPE_MISMATCH.hint("write-set", text=literal.value)
    return None, codes.TYPE_MISMATCH.at(
        literal.span,
        "literal",
        hint=hint,
        name=name,
        type=describe_type(type_),
        text=source.text_of(literal.span) or "this",
    )


def _as_percent(value: float) -> str:
    return f"{value:g}%" if value > 1 else f"{value * 100:g}%"
