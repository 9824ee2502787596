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
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.checker.model import MAX_COUNT as MAX_COUNT  # the checker's bound, too
from engine.checker.model import Input, Value
from engine.language.ast import TypeName

T = TypeName
MAX_NUMBER = sys.float_info.max  # a number (or percent) must be finite
# One wording of input errors. The Python API fills these templates; the SQL compiler
# (engine/sql/compile.py) builds each row's `error` column from the same ones, so that a
# table and the API refuse a value in the same words (tests/test_sql.py compares them).
INVALID = "invalid account: {problems}"
SEPARATOR = "; "  # between the problems of one account
MISSING = "{field}: missing, expected {expected}"
WRONG = "{field}: expected {expected}, got {given}"
UNDECLARED = "{field}: not an input of these rules"
HINTED = "{problem}; {hint}"
IN_RANGE = "{expected} {range}"  # the range as its declaration says it: "at most 100%"
NO_LARGER = "{expected} no larger than {largest}"  # a count past what int64 holds
NOT_A_NUMBER, INFINITY, MINUS_INFINITY = "NaN (not a number)", "infinity", "-infinity"
# What a percent out of its range probably meant (DESIGN, "Input units"): the value read
# as a percentage; then, above 100%, the same number written as a percent (4.2 for 4.2%),
# or, far above, a count where a rate was wanted (average engagement instead of a rate).
PERCENT_IS = "{value} is {percent}%"
AS_A_PERCENT = "; a percentage is a fraction: {value}% is {fraction}"
AS_A_COUNT = "; a percentage is a fraction (0.042 is 4.2%): is this a count, not a rate?"
CELL_GIVEN = '"{cell}" (a text)'  # a table's cell no reading fits, as written (as JSON quotes)
SEND_A_NUMBER = "send it as a number: {number}"  # "45k" or "4.2%" given as a text
CONFLICT = (
    "ruleset {ruleset} has policy unique, but tiers '{first}' (line {first_line}) "
    "and '{second}' (line {second_line}) both match this account"
)
# Numbers in these texts: an int as its digits, a float as the shortest text that reads
# back (Python's repr, DuckDB's too) without a trailing ".0" (637000, not 637000.0, and
# the same for an engine that writes 637000). A percent's hint shows value * 100 and
# value / 100 rounded to TIDY_DIGITS decimals where they are below TIDY_BELOW
# (4.2 * 100 is 420.00000000000006); past it the rounding could not be exact in SQL.
TIDY_DIGITS = 9
TIDY_BELOW = 1e6

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
    given: str  # "missing", the value and its kind ('"45k" (a text)'), or a number: "4.2"
    kind: str = ""  # the kind alone, in the language's words: "a text", "true/false"
    hint: str = ""  # what was probably meant: "did you mean 'followers'?", "4.2 is 420%"

    def __str__(self) -> str:
        if self.given == "missing":
            return MISSING.format(field=self.field, expected=self.expected)
        if self.given == "undeclared":
            problem = UNDECLARED.format(field=self.field)
        else:
            problem = WRONG.format(field=self.field, expected=self.expected, given=self.given)
        return HINTED.format(problem=problem, hint=self.hint) if self.hint else problem


class InputError(ClassifyError):
    """Bad account values; `problems` names each bad field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__(INVALID.format(problems=SEPARATOR.join(str(p) for p in problems)))


class RuleConflict(ClassifyError):
    """Under `policy unique`, two tiers matched the same account."""

    def __init__(self, ruleset: str, first: tuple[str, int], second: tuple[str, int]):
        self.rules = (first, second)
        super().__init__(
            CONFLICT.format(
                ruleset=ruleset,
                first=first[0],
                first_line=first[1],
                second=second[0],
                second_line=second[1],
            )
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
        return number_text(value)
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
            problems.append(_unfit(decl, value))
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


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unfit(decl: Input, value: Any) -> FieldProblem:
    """A value its type refuses. A number given for a number is shown without its kind
    (what is wrong is its value: negative, a fraction, not finite), as SQL shows it."""
    expected = EXPECTED[decl.type]
    if decl.type is T.COUNT and _is_number(value) and value > MAX_COUNT:
        expected = NO_LARGER.format(expected=expected, largest=f"{MAX_COUNT:,}")
    numeric = decl.type in (T.COUNT, T.NUMBER, T.PERCENT)
    given = number_text(value) if numeric and _is_number(value) else _shown(value)
    hint = _number_in_text(decl, value) if numeric and isinstance(value, str) else ""
    return FieldProblem(decl.name, expected, given, kind_of(value), hint)


_WRITTEN_NUMBER = re.compile(r"\s*([+-]?\d[\d,_]*(?:\.\d+)?)\s*([kKmMbB%]?)\s*")
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "%": 0.01}


def _number_in_text(decl: Input, text: str) -> str:
    """A number sent as a text ("45k", "1,200", "4.2%"): the number to send instead, in
    the input's units (a percent's "4.2" is 0.042 when 4.2 is out of its range). Refused
    all the same: the API takes numbers as numbers."""
    found = _WRITTEN_NUMBER.fullmatch(text)
    if found is None:
        return ""
    digits, suffix = found.group(1).replace(",", "").replace("_", ""), found.group(2).lower()
    if suffix == "%" and decl.type is not T.PERCENT:
        return ""
    number = tidy(float(digits) * _SCALE[suffix])
    if decl.type is T.PERCENT and not within(decl, number):
        number = tidy(number / 100)  # "4.2" meant as 4.2%
    fits = coerce(decl.type, number)
    if not math.isfinite(number) or fits is None or not within(decl, fits):
        return ""
    return SEND_A_NUMBER.format(number=number_text(number))


def _out_of_range(decl: Input, value: Any) -> FieldProblem:
    hint = percent_hint(decl, value) if decl.type is T.PERCENT else ""
    expected = IN_RANGE.format(expected=EXPECTED[decl.type], range=decl.range_text)
    return FieldProblem(decl.name, expected, number_text(value), kind_of(value), hint)


def percent_hint(decl: Input, value: int | float) -> str:
    """What a percent outside its range probably meant (the SQL compiler asks the same
    questions of a cell, in `_percent_hint`)."""
    number = float(value)
    shown = number_text(value)
    hint = PERCENT_IS.format(value=shown, percent=number_text(tidy(number * 100)))
    if number > 1 and decl.range is not None and decl.range.contains(number / 100):
        return hint + AS_A_PERCENT.format(value=shown, fraction=number_text(tidy(number / 100)))
    if number > 100 and number.is_integer():
        return hint + AS_A_COUNT
    return hint


def tidy(number: float) -> float:
    """A hint's computed number without the last bits of binary arithmetic."""
    return round(number, TIDY_DIGITS) if -TIDY_BELOW < number < TIDY_BELOW else number


def number_text(value: int | float) -> str:
    """A number as the input error texts write it (see TIDY_DIGITS above)."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else _shown(value)
    if math.isnan(value):
        return NOT_A_NUMBER
    if math.isinf(value):
        return MINUS_INFINITY if value < 0 else INFINITY
    return repr(value).removesuffix(".0")


def json_value(value: Value) -> Any:
    """A value as JSON: sets become sorted lists (of plain texts: the fast path lets a
    list of StrEnum members through, which behave as their texts)."""
    if isinstance(value, frozenset | set | list | tuple):
        return sorted({str.__str__(item) for item in value})
    return value
