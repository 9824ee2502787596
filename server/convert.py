"""proto <-> engine values. Nothing else: no decisions are made here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from engine import ClassifyError, Decision, InputError, RuleError, Ruleset
from engine.checker.model import Input, Rule
from engine.decision import Decider
from engine.language.ast import TypeName
from engine.language.diagnostics import Diagnostic
from engine.language.source import Source
from engine.load import check_source
from engine.python.values import MAX_COUNT
from engine.registry import Entry, LoadFailure, LoadState
from server import shown
from server.pb import pb

_STATE = {
    LoadState.SERVING: pb.LOAD_STATE_SERVING,
    LoadState.REJECTED: pb.LOAD_STATE_REJECTED_SERVING_PREVIOUS,
    LoadState.FAILED: pb.LOAD_STATE_FAILED,
}


def account_values(account: pb.Account) -> dict[str, Any]:
    """An Account's attributes as plain Python values (a list for string_list)."""
    attributes = account.attributes
    # not .items(): a generator in Python, a third of the time
    return {name: value_of(attributes[name]) for name in attributes}


def value_of(value: pb.Value) -> Any:
    """One Value as a plain Python value: None when no kind is set."""
    kind = value.WhichOneof("kind")
    if kind == "string_list":
        return value.string_list.values[:]  # a list; a slice is a third of list()'s cost
    return None if kind is None else getattr(value, kind)


# The field each declared type is read from first. A oneof's other fields read as their
# default, so a value that is not the default proves its kind without WhichOneof (a
# third of a batch's reading); a default value (0, "", false, []) goes to value_of.
_FIELD = {
    TypeName.COUNT: "int_value",
    TypeName.NUMBER: "double_value",
    TypeName.PERCENT: "double_value",
    TypeName.TEXT: "string_value",
    TypeName.FLAG: "bool_value",
    TypeName.TEXT_SET: "string_list.values[:]",
}


def account_reader(inputs: Mapping[str, Input]) -> Callable[[pb.Account], dict[str, Any]]:
    """`account_values` generated for one ruleset's declared inputs: each is looked up
    by name and read from the field of its type. An account with other fields is read
    whole, so that they are reported as ignored; a value of another kind is read as
    `value_of` reads it, so the engine refuses it in the same words."""
    return _reader(tuple((name, declared.type) for name, declared in inputs.items()))


@functools.lru_cache(maxsize=256)  # one per ruleset version, not one per batch
def _reader(inputs: tuple[tuple[str, TypeName], ...]) -> Callable[[pb.Account], dict[str, Any]]:
    lines = ["def read(account):", "    attributes = account.attributes", "    out = {}"]
    for name, type_name in inputs:
        key = repr(name)
        lines += [
            f"    if {key} in attributes:",  # not attributes[name] alone: it adds the key
            f"        v = attributes[{key}]",
            f"        x = v.{_FIELD[type_name]}",
            f"        out[{key}] = x if x else value_of(v)",
        ]
    lines.append("    return out if len(out) == len(attributes) else account_values(account)")
    scope: dict[str, Any] = {"value_of": value_of, "account_values": account_values}
    exec(compile("\n".join(lines), "<account reader>", "exec"), scope)
    read: Callable[[pb.Account], dict[str, Any]] = scope["read"]
    return read


def to_value(value: Any) -> pb.Value:
    message = pb.Value()
    set_value(message, value)
    return message


def set_value(message: pb.Value, value: Any) -> None:
    """Fill a Value in place (a map entry of a response): no message built, then copied."""
    if value is None:
        return
    if isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        if -MAX_COUNT - 1 <= value <= MAX_COUNT:  # int64
            message.int_value = value
        else:  # a let can outgrow int64 (followers * followers): shown, not failed
            message.string_value = str(value)
    elif isinstance(value, float):
        message.double_value = value
    elif isinstance(value, str):
        message.string_value = value
    else:
        message.string_list.values.extend(sorted(value))


def timestamp(seconds: float) -> Timestamp:
    """A registry time (time.time()) as a protobuf Timestamp."""
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


_OUTCOMES = 4096  # cached (ruleset, rule, labels) outcomes; cleared when full


class DecisionEncoder:
    """Fills Decision messages in place (no intermediate copies: this is the hot path)."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[int, int, tuple[str, ...]], tuple[Decider, bytes]] = {}

    def _outcome(self, rs: Decider, rule: Rule | None, labels: tuple[str, ...]) -> bytes:
        """What every decision of `rs` with this rule and these labels has in common
        (ruleset, version, digest, tier, labels, rule), encoded once and merged in: one
        C call instead of eight field writes, a third of a BASIC answer's cost (and
        merging bytes is a quarter faster than merging a message)."""
        key = (id(rs), 0 if rule is None else rule.id, labels)  # Rule.id: never 0
        cached = self._outcomes.get(key)
        if cached is None or cached[0] is not rs:
            if len(self._outcomes) >= _OUTCOMES:
                self._outcomes.clear()
            message = pb.Decision(ruleset=rs.name, version=rs.version, digest=rs.digest)
            if rule is not None:
                if rule.tier is not None:
                    message.tier = rule.tier
                    message.has_tier = True
                message.rule.name, message.rule.kind = rule.name, rule.kind
                message.rule.file = shown.relative(rule.file)  # as ListRulesets shows it
                message.rule.line = rule.line
            message.labels.extend(labels)
            cached = self._outcomes[key] = (rs, message.SerializeToString())
        return cached[1]

    def fill(self, message: pb.Decision, d: Decision, account_id: str, full: bool) -> None:
        rs = d.ruleset
        message.MergeFromString(self._outcome(rs, d.rule, d.labels))
        message.decision_id = d.decision_id
        message.account_id = account_id
        if not rs.program.checked.inputs.keys() >= d.account.keys():  # every view says so
            ignored = d.ignored_fields
            message.ignored_fields.extend(ignored)
            for name in ignored:
                hint = rs.hint_for(name)
                if hint:
                    message.ignored_hints.add(field=name, description=hint)
        if full:
            ns = d.time_ns
            message.decided_at.seconds = ns // 1_000_000_000
            message.decided_at.nanos = ns % 1_000_000_000
            add = message.reasons.add
            for r in d.reasons:
                reason = add(
                    rule=r.rule, kind=r.kind, text=r.text, result=r.result, gap=r.gap or ""
                )
                observed = reason.observed
                for name, value in r.observed.items():
                    set_value(observed[name], value)
            message.notes.extend(d.notes)
            message.explanation = d.explain()

    def response(self, d: Decision, account_id: str, full: bool) -> pb.ClassifyResponse:
        response = pb.ClassifyResponse(account_id=account_id)
        self.fill(response.decision, d, account_id, full)
        return response


def masked(error: ClassifyError, hidden: frozenset[str]) -> ClassifyError:
    """An InputError as a caller sees it when fields are masked: each field, what it
    expected and the type it got, never a masked value (error texts end up in logs)."""
    if not hidden or not isinstance(error, InputError):
        return error
    return InputError(
        [
            replace(p, given=f"{p.kind} (masked)", hint="")  # a hint quotes the value
            if p.field in hidden and p.given != "missing"
            else p
            for p in error.problems
        ]
    )


def field_violations(error: InputError) -> list[pb.FieldViolation]:
    return [pb.FieldViolation(field=p.field, description=str(p)) for p in error.problems]


def diagnostic(d: Diagnostic, file: str) -> pb.Diagnostic:
    return pb.Diagnostic(
        severity=d.severity.value,
        code=d.code,
        message=shown.cut(d.message, 1024),
        file=file,
        line=d.span.line,
        column=d.span.col,
        length=max(1, d.span.end - d.span.start),
        hint=shown.cut(d.hint or "", 1024),
        witness={name: to_value(value) for name, value in (d.witness or {}).items()},
    )


def ruleset_info(rs: Ruleset) -> pb.RulesetInfo:
    return pb.RulesetInfo(
        name=rs.name,
        version=rs.version,
        title=rs.title,
        digest=rs.digest,
        path=shown.relative(rs.path),
        policy=rs.policy,
        inputs=rs.inputs,
        tiers=rs.tiers,
        labels=rs.labels,
    )


def archived_info(text: str, path: str, digest: str) -> pb.RulesetInfo:
    """What an older version said of itself: its own version, title, inputs and tiers,
    never the serving version's (state: not serving)."""
    try:
        checked = check_source(Source(text, path), analyse=False)
    except RuleError:  # it served once, so it checked then; an older checker is the only way
        return pb.RulesetInfo(digest=digest, path=shown.relative(path))
    return pb.RulesetInfo(
        name=checked.name,
        version=checked.version,
        title=checked.title,
        digest=checked.digest,
        path=shown.relative(path),
        policy=checked.policy,
        inputs={name: decl.type.value for name, decl in checked.inputs.items()},
        tiers=checked.tier_names(),
        labels=[r.name for r in checked.labels],
    )


def entry_info(entry: Entry) -> pb.RulesetInfo:
    """What callers of ListRulesets and GetRuleset learn of one ruleset: its path relative
    to the rules folder, and its last load error bounded (`server/shown.py`)."""
    info = ruleset_info(entry.serving) if entry.serving else pb.RulesetInfo(name=entry.name)
    info.path = shown.relative(entry.path)
    info.state = _STATE[entry.state]
    if entry.loaded_at is not None:
        info.loaded_at.CopyFrom(timestamp(entry.loaded_at))
    info.previous_digest = entry.previous_digest or ""
    failure = entry.last_error
    if failure is not None:
        info.last_error.MergeFromString(_load_error(failure, entry.path))
    return info


_LOAD_ERRORS: dict[tuple[int, str], tuple[LoadFailure, bytes]] = {}  # by id: cheap to look up


def _load_error(failure: LoadFailure, path: str) -> bytes:
    """The bounded LoadError of a failure, encoded once: ListRulesets is asked often, and
    a failure may hold tens of thousands of diagnostics to sort and render."""
    key = (id(failure), path)
    cached = _LOAD_ERRORS.get(key)
    if cached is not None and cached[0] is failure:
        return cached[1]
    first, _more = shown.first_diagnostics(failure.diagnostics)
    file = shown.relative(path)
    message = pb.LoadError(
        at=timestamp(failure.at),
        digest=failure.digest,
        message=shown.failure_message(failure, path),
        diagnostics=[diagnostic(d, file) for d in first],
    )
    if len(_LOAD_ERRORS) >= 256:
        _LOAD_ERRORS.clear()
    encoded = message.SerializeToString()
    _LOAD_ERRORS[key] = (failure, encoded)
    return encoded
