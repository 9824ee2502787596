"""The OpenAPI 3.1 description of the HTTP/JSON port, served at `/openapi.json`.

Made from the proto's descriptors when the server starts, so that it cannot drift
from the messages: each message a schema in the proto3 JSON mapping (lowerCamelCase
names; int64 as a decimal string, or a number on input; a double as a number or
"NaN"/"Infinity"/"-Infinity"; an enum by name; a Timestamp as RFC 3339 text; a map as
an object; a `oneof` of a `Value` at most one property; null for any field, which is
its default), each route with its
request, its answer, the error answers of the statuses it can return, and the
bearer token it takes. Messages are open to no field they do not declare (the
server refuses unknown fields)."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from server.pb import pb

INT64 = (
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
)
INT32 = (
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
)
REF = "#/components/schemas/"
NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$"


def _scalar(field: FieldDescriptor) -> dict[str, Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return {"type": "string"}
    if kind == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if kind in INT64:  # a decimal string, or a number (exponents and ".0" too)
        low, high = (0, 2**64 - 1) if "UINT" in _type_name(kind) else (-(2**63), 2**63 - 1)
        return {
            "oneOf": [
                {"type": "string", "pattern": NUMBER_TEXT, "format": "int64"},
                {"type": "number", "minimum": low, "maximum": high},
            ]
        }
    if kind in INT32:
        return {"type": "number", "minimum": -(2**31), "maximum": 2**31 - 1}
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return {
            "oneOf": [
                {"type": "number", "format": "double"},
                {"type": "string", "pattern": f"{NUMBER_TEXT}|^(NaN|-?Infinity)$"},
            ]
        }
    if kind == FieldDescriptor.TYPE_ENUM:  # by name; a number is taken too
        assert field.enum_type is not None
        number = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
        return {"anyOf": [{"$ref": REF + field.enum_type.full_name}, number]}
    if kind == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return {"type": "string", "format": "date-time"}
        return {"$ref": REF + field.message_type.full_name}
    raise ValueError(f"no JSON schema for {field.full_name}")  # pragma: no cover


def _type_name(kind: int) -> str:
    names = {value: key for key, value in vars(FieldDescriptor).items() if key.startswith("TYPE_")}
    return names.get(kind, "")


def _field(field: FieldDescriptor) -> dict[str, Any]:
    """A field's schema; null is its default value (proto3 JSON), so it is taken too."""
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        schema = {"type": "object", "additionalProperties": _scalar(value)}
    elif field.is_repeated:
        schema = {"type": "array", "items": _scalar(field)}
    else:
        schema = _scalar(field)
    return {"anyOf": [schema, {"type": "null"}]}


def _message(descriptor: Descriptor, schemas: dict[str, Any]) -> None:
    name = descriptor.full_name
    if name in schemas or name == "google.protobuf.Timestamp":
        return
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
    schemas[name] = schema
    if descriptor.GetOptions().HasField("deprecated"):  # pragma: no cover
        schema["deprecated"] = True
    for field in descriptor.fields:
        schema["properties"][field.json_name] = _field(field)
        if field.enum_type is not None:
            enum = field.enum_type
            schemas.setdefault(
                enum.full_name, {"type": "string", "enum": [v.name for v in enum.values]}
            )
        target = field.message_type
        if target is not None:
            if target.GetOptions().map_entry:
                target = target.fields_by_name["value"].message_type
            if target is not None:
                _message(target, schemas)
    oneofs = [o for o in descriptor.oneofs if not o.name.startswith("_")]
    if oneofs and len(oneofs[0].fields) == len(descriptor.fields):
        schema["maxProperties"] = 1  # the whole message is one oneof (Value)


ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message"],
            "properties": {
                "code": {"type": "integer", "description": "the HTTP status"},
                "status": {
                    "type": "string",
                    "description": "the gRPC status code's name, e.g. INVALID_ARGUMENT",
                },
                "message": {
                    "type": "string",
                    "description": "as the gRPC status: the field first when one is at fault",
                },
                "details": {
                    "type": "array",
                    "items": {"type": "object", "additionalProperties": True},
                    "description": "google.rpc details (BadRequest: each field at fault)",
                },
            },
        }
    },
}
ERRORS = {
    "400": "a request the service refuses (INVALID_ARGUMENT, FAILED_PRECONDITION)",
    "401": "no caller: no, malformed or unknown token (UNAUTHENTICATED)",
    "403": "the caller lacks the role (PERMISSION_DENIED)",
    "404": "an unknown ruleset or digest (NOT_FOUND)",
    "413": "a body larger than the server takes",
    "429": "too much at once: batch size, answer size, validations (RESOURCE_EXHAUSTED)",
    "500": "an internal error (INTERNAL)",
    "503": "stopping, or the decision log cannot take decisions (UNAVAILABLE)",
    "504": "the caller's X-Server-Timeout passed (DEADLINE_EXCEEDED)",
}
ROUTES = (  # path, HTTP method, rpc, request (None: parameters), response, summary, role
    ("/v1/classify", "post", "Classify", pb.ClassifyRequest, pb.ClassifyResponse,
     "Classify one account", "classify"),
    ("/v1/classify:batch", "post", "ClassifyBatch", pb.ClassifyBatchRequest,
     pb.ClassifyBatchResponse, "Classify many accounts; a bad one gets its own error",
     "classify"),
    ("/v1/rulesets", "get", "ListRulesets", None, pb.ListRulesetsResponse,
     "The rulesets served: names, versions, digests, load state", "classify or read"),
    ("/v1/rulesets/{name}", "get", "GetRuleset", None, pb.GetRulesetResponse,
     "One ruleset and its source (or an archived version's, by digest)", "read"),
    ("/v1/rules:validate", "post", "ValidateRules", pb.ValidateRulesRequest,
     pb.ValidateRulesResponse, "Check a candidate rule file without loading it", "validate"),
)  # fmt: skip


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP/JSON port."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for path, verb, rpc, request, response, summary, role in ROUTES:
        _message(response.DESCRIPTOR, schemas)
        operation: dict[str, Any] = {
            "operationId": rpc,
            "summary": summary,
            "description": f"The gRPC method tierline.v1.Classifier/{rpc}. Role: {role}.",
            "responses": {
                "200": {
                    "description": "the answer",
                    "content": {"application/json": {"schema": {"$ref": REF + _name(response)}}},
                },
                **{
                    status: {
                        "description": why,
                        "content": {"application/json": {"schema": {"$ref": REF + "Error"}}},
                    }
                    for status, why in ERRORS.items()
                },
            },
            "parameters": [
                {
                    "name": "X-Server-Timeout",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "number", "exclusiveMinimum": 0},
                    "description": "seconds the caller waits (DEADLINE_EXCEEDED after)",
                },
            ],
        }
        if rpc.startswith("Classify"):
            operation["parameters"].append(
                {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 4096},
                    "description": "the caller's request id for the decision log, when the "
                    "body's requestId is empty",
                }
            )
        if request is not None:
            _message(request.DESCRIPTOR, schemas)
            operation["requestBody"] = {  # none is the empty message, as `{}` is
                "required": False,
                "content": {"application/json": {"schema": {"$ref": REF + _name(request)}}},
            }
        if rpc == "GetRuleset":
            operation["parameters"] += [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "digest",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "an archived version's sha256 digest",
                },
            ]
        paths[path] = {verb: operation}
    schemas["Error"] = ERROR
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tierline",
            "version": "v1",
            "description": "Influencer tiers by rule files: the gRPC service tierline.v1."
            "Classifier as HTTP/JSON (the proto3 JSON mapping of the same messages).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }


def _name(message: Any) -> str:
    return str(message.DESCRIPTOR.full_name)
