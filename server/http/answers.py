"""The HTTP port's answers in the proto3 JSON mapping, written without json_format.

`json_format.MessageToDict` walks every field of every message through generic
Python (descriptor look-ups, a call per value): 93 ms for the JSON of a 1,000-account
ClassifyBatch answer, twice the whole gRPC call (BENCHMARKS.md, `secure_speed`).
Here each message type gets a function generated once from its descriptor that
reads its fields by name and builds the same dict `MessageToDict` builds with the
options the port has always used (`always_print_fields_with_no_presence=True`):
lowerCamelCase names, int64 as strings, enums by name (an unknown number as the
number), NaN and Infinity as json_format spells them, bytes as base64, maps with
their keys as text, well-known types (a Timestamp) in their own JSON form, fields
with presence only when set, the others always. The keys come in json_format's
order too (set fields by number, then fields at their default), so that orjson
writes the same bytes; tests/test_http_answers.py checks that for any message.
"""

from __future__ import annotations

import base64
import functools
import keyword
import math
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

ToJson = Callable[[Message], dict[str, Any]]

_INT64 = {
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT64,
}
_FLOATS = {FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE}


def encode(message: Message) -> bytes:
    """The proto3 JSON mapping of `message`, fields at their defaults written out: the
    bytes `orjson.dumps(MessageToDict(message, always_print_fields_with_no_presence=True))`
    gives, several times faster."""
    return orjson.dumps(converter(message.DESCRIPTOR)(message))


def _double(value: float) -> float | str:
    """A double as json_format writes it: NaN and the infinities as strings."""
    if value - value == 0.0:  # finite: the common case in one comparison
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _float(value: float) -> float | str:
    """A 32-bit float as json_format writes it: the shortest text that reads back."""
    if value - value == 0.0:
        return json_format.type_checkers.ToShortestFloat(value)  # type: ignore[attr-defined,no-any-return]
    return _double(value)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _well_known(message: Message) -> Any:
    """A well-known type (Timestamp, Duration, Struct, ...) in its own JSON form."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _timestamp(message: Any) -> str:
    text: str = message.ToJsonString()  # what json_format calls for a Timestamp
    return text


@functools.cache
def converter(descriptor: Descriptor) -> ToJson:
    """The function that maps a message of `descriptor` to its JSON dict."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp  # type: ignore[return-value]  # a str, as json_format gives
    if descriptor.full_name.startswith("google.protobuf."):
        return _well_known
    return _generate(descriptor)


def _generate(descriptor: Descriptor) -> ToJson:
    scope: dict[str, Any] = {
        "_double": _double,
        "_float": _float,
        "_bytes": _bytes,
        "_copysign": math.copysign,
    }
    names: dict[str, str] = {}

    def value_of(field: FieldDescriptor, expression: str) -> str:
        """The expression of one value of `field` (not repeated) in JSON form."""
        kind = field.cpp_type
        if field.message_type is not None:
            name = f"_m{len(names)}"
            names[name] = field.message_type.full_name
            scope[name] = _Lazy(field.message_type, scope, name)
            return f"{name}({expression})"
        if field.enum_type is not None:
            if field.enum_type.full_name == "google.protobuf.NullValue":
                return "None"
            table = f"_e{len(scope)}"
            scope[table] = {v.number: v.name for v in field.enum_type.values}
            return f"{table}.get({expression}, {expression})"
        if kind == FieldDescriptor.CPPTYPE_STRING:
            return (
                f"_bytes({expression})" if field.type == FieldDescriptor.TYPE_BYTES else expression
            )
        if kind in _INT64:
            return f"str({expression})"
        if kind == FieldDescriptor.CPPTYPE_DOUBLE:
            return f"_double({expression})"
        if kind == FieldDescriptor.CPPTYPE_FLOAT:
            return f"_float({expression})"
        return expression  # bool, int32, uint32

    lines = ["def to_json(m):", "    js = {}", "    late = []"]
    # json_format: ListFields (set fields, by number), then the no-presence fields at
    # their defaults in declaration order
    for field in sorted(descriptor.fields, key=lambda f: f.number):
        key = repr(field.json_name)
        read = f"getattr(m, {field.name!r})" if keyword.iskeyword(field.name) else f"m.{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            key_field = field.message_type.fields_by_name["key"]
            if key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
                text = "('true' if k else 'false')"
            elif key_field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
                text = "k"
            else:
                text = "str(k)"
            lines += [
                f"    v = {read}",
                f"    if v: js[{key}] = {{{text}: {value_of(value_field, 'v[k]')} for k in v}}",
                f"    else: late.append(({key}, {{}}))",
            ]
        elif field.is_repeated:
            one = value_of(field, "x")
            listed = "list(v)" if one == "x" else f"[{one} for x in v]"
            lines += [
                f"    v = {read}",
                f"    if v: js[{key}] = {listed}",
                f"    else: late.append(({key}, []))",
            ]
        elif field.has_presence:
            lines += [f"    if m.HasField({field.name!r}): js[{key}] = {value_of(field, read)}"]
        else:
            # -0.0 is set (its bits are not zero)
            test = "v or _copysign(1.0, v) < 0" if field.cpp_type in _FLOATS else "v"
            default = value_of(field, repr(field.default_value))
            lines += [
                f"    v = {read}",
                f"    if {test}: js[{key}] = {value_of(field, 'v')}",
                f"    else: late.append(({key}, {default}))",
            ]
    lines += ["    if late: js.update(late)", "    return js"]
    code = compile("\n".join(lines), f"<json of {descriptor.full_name}>", "exec")
    exec(code, scope)
    to_json: ToJson = scope["to_json"]
    return to_json


class _Lazy:
    """A nested message's converter, generated at its first use (messages may nest
    themselves, so they cannot all be generated up front); it then puts the converter
    in its place in the caller's scope, so later calls go straight to it."""

    __slots__ = ("descriptor", "name", "scope")

    def __init__(self, descriptor: Descriptor, scope: dict[str, Any], name: str):
        self.descriptor = descriptor
        self.scope = scope
        self.name = name

    def __call__(self, message: Message) -> Any:
        convert = self.scope[self.name] = converter(self.descriptor)
        return convert(message)
