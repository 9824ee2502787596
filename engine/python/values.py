"""Account values checked against a ruleset's `input` declarations.

The compiled evaluator checks exact types inline and falls back to
`validate` for anything else, which coerces what is safe (an integral float
for a count, a list for a set) and otherwise raises one InputError naming
every bad field. Both refuse the same values: among them a count past 64 bits
(arithmetic with a float would overflow, and the gRPC API carries int64) and
a number that is not finite.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.checker.model import MAX_COUNT as MAX_COUNT  # the checker's bound, too
from engine.checker.model import Input, Value
from engine.language.ast import TypeName

T = TypeName
MAX_NUMBER = sys.float_info.max  # a number (or percent) must be finite
EXPECTED = {
    T.COUNT: "a count (a whole number, 0 or more)",
    T.NUMBER: "a number",
    T.PERCENT: "a percentage as a fraction (0.042 is 4.2%)",
    T.TEXT: "a text",
    T.FLAG: "true or false",
    T.TEXT_SET: "a list of texts",
}


class ClassifyError(Exception):
    """An account could not be classified."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    expected: str
    given: str  # "missing", or the value and its kind: '"45k" (a text)'
    kind: str = ""  # the kind alone, in the language's words: "a text", "true/false"
    hint: str = ""  # what was probably meant: "did you mean 'followers'?", "4.2 is 420%"

    def __str__(self) -> str:
        if self.given == "missing":
            return f"{self.field}: missing, expected {self.expected}"
        hint = f"; {self.hint}" if self.hint else ""
        if self.given == "undeclared":
            return f"{self.field}: not an input of these rules{hint}"
        return f"{self.field}: expected {self.expected}, got {self.given}{hint}"


class InputError(ClassifyError):
    """Bad account values; `problems` names each bad field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("invalid account: " + "; ".join(str(p) for p in problems))


class RuleConflict(ClassifyError):
    """Under `policy unique`, two tiers matched the same account."""

    def __init__(self, ruleset: str, first: tuple[str, int], second: tuple[str, int]):
        self.rules = (first, second)
        super().__init__(
            f"ruleset {ruleset} has policy unique, but tiers '{first[0]}' (line {first[1]}) "
            f"and '{second[0]}' (line {second[1]}) both match this account"
        )


def kind_of(value: object) -> str:
    """What a value is, in the words of the language and of JSON, not Python's: a caller
    in Go or Node reads "a text" and "true/false", not "str" and "bool"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "a value of another kind"


def _shown(value: object) -> str:
    """The value as JSON would write it, cut short, and its kind."""
    value = plain(value)
    kind = kind_of(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**30:  # str() of a huge int is slow or refused
        return f"{kind} of {value.bit_length() * 30103 // 100000 + 1:,} digits"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN (not a number)" if math.isnan(value) else f"{'-' * (value < 0)}infinity"
    if value is None or isinstance(value, Mapping) or kind == "a value of another kind":
        return kind
    return f"{preview(value)} ({kind})"


def preview(value: object, room: int = 40) -> str:
    """`value` as JSON writes it, cut to `room` characters ("…" marks the cut). Written
    piece by piece and stopped once past `room`, so that a list nested 1,000 deep (on
    which json.dumps raised RecursionError) or a text of 16 MiB costs only what is shown."""
    pieces: list[str] = []
    size = 0
    for piece in _json_pieces(value, room):
        pieces.append(piece)
        size += len(piece)
        if size > room:
            break
    text = "".join(pieces)
    return text if len(text) <= room else text[: room - 1] + "…"


def _json_pieces(value: object, room: int) -> Iterator[str]:
    """The JSON text of `value` in pieces; each list or object opens with a piece of its
    own before its items, so a reader that stops after `room` characters stops the
    recursion within `room` levels."""
    if value is None or isinstance(value, bool):
        yield "null" if value is None else "true" if value else "false"
    elif isinstance(value, int):
        number = int.__int__(value)
        yield str(number) if abs(number) < 10**30 else "…"
    elif isinstance(value, float):
        yield json.dumps(float.__float__(value))
    elif isinstance(value, str):
        yield json.dumps(str.__getitem__(value, slice(room + 1)), ensure_ascii=False)
    elif isinstance(value, Mapping):
        yield "{"
        for n, (key, item) in enumerate(value.items()):
            yield ", " if n else ""
            yield from _json_pieces(key if isinstance(key, str) else "…", room)
            yield ": "
            yield from _json_pieces(item, room)
        yield "}"
    elif isinstance(value, list | tuple | set | frozenset):
        if isinstance(value, set | frozenset) and all(isinstance(v, str) for v in value):
            value = sorted(value)  # a set's order is not the caller's: sorted when it can be
        yield "["
        for n, item in enumerate(value):
            yield ", " if n else ""
            yield from _json_pieces(item, room)
        yield "]"
    else:
        yield "…"


def plain(value: object) -> object:
    """A subclass of int, float or str (an IntEnum, a StrEnum, numpy's float64 and str_),
    or a numpy scalar of another kind (int64, bool_, float32), as the plain value it
    holds, read by the base type's own method (a subclass may override `__str__` or
    `__int__`). The generated evaluator checks exact types and
    hands anything else to `validate`; what `validate` gives back must pass that check,
    or the two call each other until RecursionError."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # bool has no subclasses: this is an IntEnum or the like
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    return _numpy_plain(value)


# numpy's kinds of scalar read as plain values (booleans, signed and unsigned integers,
# floats, texts), by the dtype's one-letter kind. Dates ("M") and time spans ("m") are
# left out: Python reads a timedelta64 as an integer, which would make a span a count.
_NUMPY_KINDS = frozenset("biufU")


def _numpy_plain(value: object) -> object:
    """A numpy scalar (np.int64, np.bool_, np.float32, np.str_) as its plain value, and a
    one-dimensional numpy array of texts as a list, read through `.item()`/`.tolist()`;
    anything else as it is. numpy is not imported: an account from a DataFrame row holds
    numpy values whether or not tierline depends on numpy."""
    if type(value).__module__ != "numpy":
        return value
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    shape = getattr(value, "shape", None)
    if shape == () and kind in _NUMPY_KINDS:
        return value.item()  # type: ignore[attr-defined]
    if shape is not None and len(shape) == 1 and kind in ("U", "O"):
        return value.tolist()  # type: ignore[attr-defined]  # its items are read as any list's
    return value


def coerce(type_: TypeName, value: object) -> Value | None:
    """The value as `type_` wants it, of exactly the type the evaluator checks for (see
    `plain`), or None if it does not fit."""
    value = plain(value)
    kind = type(value)
    if type_ is T.TEXT:
        return value if isinstance(value, str) else None
    if type_ is T.FLAG:
        return value if isinstance(value, bool) else None
    if type_ is T.TEXT_SET:
        if isinstance(value, list | tuple | set | frozenset) and all(
            isinstance(v, str) for v in value
        ):
            return frozenset(str.__str__(v) for v in value)
        return None
    if kind is bool or not isinstance(value, int | float) or not -MAX_NUMBER <= value <= MAX_NUMBER:
        return None  # NaN and infinities fail the comparison; so do ints past a float's range
    if type_ is T.COUNT:
        if not 0 <= value <= MAX_COUNT or (isinstance(value, float) and not value.is_integer()):
            return None
        return int(value)
    return value


def validate(inputs: Mapping[str, Input], account: Mapping[str, Any]) -> dict[str, Value]:
    """Every declared input, checked and coerced, defaults filled; or InputError."""
    if not isinstance(account, Mapping):
        given = FieldProblem(
            "account", "an object of named values", _shown(account), kind_of(account)
        )
        raise InputError([given])
    facts: dict[str, Value] = {}
    problems: list[FieldProblem] = []
    for name, decl in inputs.items():
        value = plain(account.get(name))  # what follows sees no subclass's overrides
        if value is None:
            if decl.optional:
                assert decl.default is not None
                facts[name] = decl.default
            else:
                problems.append(FieldProblem(name, EXPECTED[decl.type], "missing", "missing"))
            continue
        fitted = coerce(decl.type, value)
        if fitted is not None and not within(decl, fitted):
            problems.append(_out_of_range(decl, value))
        elif fitted is None:
            expected = EXPECTED[decl.type]
            if decl.type is T.COUNT and isinstance(value, int | float) and value > MAX_COUNT:
                expected += f" no larger than {MAX_COUNT:,}"
            problems.append(FieldProblem(name, expected, _shown(value), kind_of(value)))
        else:
            facts[name] = fitted
    if problems:
        raise InputError(problems)
    return facts


def undeclared(
    inputs: Mapping[str, Input], account: Mapping[str, Any], hint: Callable[[str], str | None]
) -> list[FieldProblem]:
    """Strict mode: every field the rules do not declare, each a problem."""
    named = [(field_name(name), value) for name, value in account.items() if name not in inputs]
    named.sort(key=lambda item: item[0])
    return [
        FieldProblem(name, "no field", "undeclared", kind_of(value), hint(name) or "")
        for name, value in named
    ]


def field_name(key: object) -> str:
    """A field's name as messages show it: a text as it is, any other key (a tuple nested
    1,000 deep, whose str() raises RecursionError) as a short preview."""
    return str.__str__(key) if isinstance(key, str) else preview(key)


def within(decl: Input, value: Value) -> bool:
    """A number inside its input's range, if it has one."""
    return decl.range is None or (isinstance(value, int | float) and decl.range.contains(value))


def _out_of_range(decl: Input, value: Any) -> FieldProblem:
    hint = ""
    if decl.type is T.PERCENT and isinstance(value, int | float):
        hint = f"{value:g} is {value * 100:g}%"
        if value > 1 and decl.range is not None and decl.range.contains(value / 100):
            hint += f"; percentages are fractions: {value:g}% is {value / 100:g}"
    expected = f"{EXPECTED[decl.type]} {decl.range_text}"
    return FieldProblem(decl.name, expected, _shown(value), kind_of(value), hint)


def json_value(value: Value) -> Any:
    """A value as JSON: sets become sorted lists (of plain texts: the fast path lets a
    list of StrEnum members through, which behave as their texts)."""
    if isinstance(value, frozenset | set | list | tuple):
        return sorted({str.__str__(item) for item in value})
    return value
