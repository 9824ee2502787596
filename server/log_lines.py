"""Decision-log lines: recompute reasons, mask, and write one JSON line a decision.

Used in the writer process (`server/log_writer.py`), so that serialising
reasons never competes with classification for the GIL, and by `tierline eval
--log`. Every ruleset version arrives as source text before its decisions,
so each decision is replayed with the exact rules that made it; the line is
what `tierline audit` reads back.

Lines have the shape structlog's JSON renderer gives the server's own events
(`event`, `level`, `logger`, `ts`), but do not pass through its per-event
chain: that chain, and BytesLogger's flush after every line, cost more than
the whole decision. Lines are built by per-ruleset generated code and written
a thousand at a time; the writer's own events go through structlog to stderr.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from engine.decision import Decider, Decision, iso_ts_bytes
from engine.python.codegen import division_notes
from engine.python.log_encoder import compile_log_encoder
from server.log_bounds import bounded_lines
from server.logs import get_logger

log = get_logger("tierline.decision_log")


@dataclass(frozen=True)
class WriterConfig:
    target: str  # a path, or "-" for stdout
    mask_fields: tuple[str, ...] = ()
    hash_fields: tuple[str, ...] = ()
    hash_key: str = ""
    signing_key: bytes = b""  # PEM of an Ed25519 private key: chain and sign the lines
    checkpoint_s: float = 10.0  # with a key: the longest time between checkpoints


def _safe_dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """orjson stops at 64-bit integers; the rules do not, so neither may the log."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        text = json.dumps(
            value, default=str, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys
        )
        return text.encode()


class Masker:
    """Personal data need not sit in logs: fields logged as '***' or a keyed hash."""

    def __init__(self, config: WriterConfig):
        self.redact = frozenset(config.mask_fields)
        self.hashed = frozenset(config.hash_fields)
        self.key = config.hash_key.encode()
        self.active = bool(self.redact or self.hashed)

    def hides(self, name: str) -> bool:
        return name in self.redact or name in self.hashed

    def value(self, name: str, value: Any) -> Any:
        if name in self.redact:
            return "***"
        if name in self.hashed:
            digest = hmac.new(self.key, _safe_dumps(value, sort_keys=True), hashlib.sha256)
            return "hmac-sha256:" + digest.hexdigest()[:32]
        return value

    def which(self, names: Iterable[str]) -> dict[str, str]:
        """The log says which fields it masked, and how."""
        return {
            name: "redacted" if name in self.redact else "hmac-sha256"
            for name in names
            if self.hides(name)
        }


def _redacted(_value: Any) -> str:
    return "***"


def open_log(target: str) -> IO[bytes]:
    if target == "-":
        return sys.stdout.buffer
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    return open(target, "ab", buffering=1024 * 1024)


_EVENT = b',"event":"decision","level":"info","logger":"tierline.decisions"}\n'


class LineEncoder:
    """Decision-log lines of one ruleset version: one JSON object a line, in the shape
    structlog's JSON renderer gives every other event (`event`, `level`, `logger`).

    The reasons and input come from code generated for this version
    (`engine/python/log_encoder.py`); everything fixed per version (name, digest, each rule,
    which fields are masked) is serialised here once."""

    def __init__(self, ruleset: Decider, masker: Masker, dumps: Callable[[Any], bytes]):
        self.ruleset = ruleset
        program = ruleset.program
        checked = program.checked
        hidden = [n for n in checked.inputs if masker.hides(n)]
        masks: dict[str, Callable[[Any], Any]] = {
            n: functools.partial(masker.value, n) for n in hidden
        }
        derived = sorted(checked.depending_on(hidden).difference(hidden))  # levels, lets
        masks.update((name, _redacted) for name in derived)
        self.parts = compile_log_encoder(checked, dumps, masks).parts
        self.dumps = dumps
        self.divisions = program.divisions
        self.declared = frozenset(checked.inputs)
        fixed = {"ruleset": ruleset.name, "version": ruleset.version, "digest": ruleset.digest}
        self.fixed = b"," + orjson.dumps(fixed)[1:-1]
        self.rules: dict[int, bytes] = {0: b',"tier":null,"rule":null'}  # by Rule.id; 0: none
        for rule in checked.tiers:
            shown = {"name": rule.name, "kind": rule.kind, "file": rule.file, "line": rule.line}
            self.rules[rule.id] = b"," + orjson.dumps({"tier": rule.tier, "rule": shown})[1:-1]
        self.labels: dict[tuple[str, ...], bytes] = {}
        self.masked = b""
        if masker.active:
            shown = {**masker.which(checked.inputs), **dict.fromkeys(derived, "redacted")}
            self.masked = b',"masked":' + orjson.dumps(shown)

    def line(
        self, decision_id: str, time_ns: int, account_id: str, account: Any, context: bytes
    ) -> bytes:
        dumps = self.dumps
        rule, labels, pieces, notes = self.parts(account)
        labelled = self.labels.get(labels)
        if labelled is None:
            labelled = self.labels[labels] = b',"labels":' + dumps(labels)
        said = dumps(division_notes(self.divisions, notes)) if notes else b"[]"
        ignored = b"[]"
        if not self.declared.issuperset(account):
            ignored = dumps(sorted(str(k) for k in account if k not in self.declared))
        return b"".join(
            [
                b'{"decision_id":',
                dumps(decision_id),
                b',"ts":"',
                iso_ts_bytes(time_ns),
                b'"',
                self.fixed,
                b',"account_id":',
                dumps(account_id),
                self.rules[0 if rule is None else rule.id],
                labelled,
                *pieces,
                b',"notes":',
                said,
                b',"ignored_fields":',
                ignored,
                self.masked,
                context,
            ]
        )


def call_context(rpc: str, request_id: str, peer: str, latency_us: int, caller: str = "") -> bytes:
    """The end of a line: what the call that made the decision says about itself, and
    who made it (`caller`: absent when the server authenticates nobody)."""
    return b"".join(
        (
            b',"latency_us":',
            b"%d" % latency_us,
            b',"rpc":',
            orjson.dumps(rpc),
            b',"request_id":',
            orjson.dumps(request_id or None),
            b',"peer":',
            orjson.dumps(peer or None),
            b',"caller":' + orjson.dumps(caller) if caller else b"",
            _EVENT,
        )
    )


def packed(value: Any) -> Any:
    """Serialised here, in the thread that made the decisions, while their objects are
    hot in its cache: pickling them later in the queue's feeder thread, on the other
    core, cost the server three times as much. orjson keeps every value a decision can
    read exactly (ints, floats, texts, lists); anything it refuses travels as is."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return value


def unpacked(value: Any) -> Any:
    return orjson.loads(value) if type(value) is bytes else value


Item = tuple[str, int, str, Any]  # decision id, time (ns), account id, the account as received


class DecisionLines:
    """Lines for every ruleset version the writer was given, by digest."""

    def __init__(self, masker: Masker):
        self.masker = masker
        self._fast: dict[str, LineEncoder] = {}
        self._safe: dict[str, LineEncoder] = {}
        self.failed = 0  # decisions that got no line (each said in an error event)

    def add(self, ruleset: Decider) -> None:
        if ruleset.digest not in self._fast:
            self._fast[ruleset.digest] = LineEncoder(ruleset, self.masker, orjson.dumps)

    def ruleset(self, digest: str) -> Decider | None:
        """The version given with this digest, if any."""
        encoder = self._fast.get(digest)
        return None if encoder is None else encoder.ruleset

    def encode(self, digest: str, items: list[Item], context: bytes) -> bytes:
        encoder = self._fast.get(digest)
        if encoder is None:  # never given this version: these items only, not the batch
            log.error("decision_log_unknown_digest", digest=digest, decisions=len(items))
            self.failed += len(items)
            return b""
        try:  # bounded: the caller's long values cut (server/log_bounds.py)
            return bounded_lines([encoder.line(*item, context) for item in items])
        except Exception:  # one odd value must not cost the others their lines
            return bounded_lines([self._careful(digest, item, context) for item in items])

    def _careful(self, digest: str, item: Item, context: bytes) -> bytes:
        try:
            return self._fast[digest].line(*item, context)
        except Exception:
            pass
        safe = self._safe.get(digest)
        if safe is None:
            ruleset = self._fast[digest].ruleset
            safe = self._safe[digest] = LineEncoder(ruleset, self.masker, _safe_dumps)
        try:
            return safe.line(*item, context)
        except Exception as error:
            log.error("decision_log_line_failed", decision_id=item[0], error=repr(error))
            self.failed += 1
            return b""


class DecisionWriter:
    """Decision-log lines to a stream: `tierline eval --log`, and tests."""

    def __init__(self, stream: IO[bytes], masker: Masker):
        self.stream = stream
        self.lines = DecisionLines(masker)

    def write(
        self,
        decision: Decision,
        account_id: str,
        rpc: str,
        request_id: str = "",
        peer: str = "",
        latency_us: int = 0,
    ) -> None:
        ruleset = decision.ruleset
        self.lines.add(ruleset)
        item = (decision.decision_id, decision.time_ns, account_id, decision.account)
        context = call_context(rpc, request_id, peer, latency_us)
        self.stream.write(self.lines.encode(ruleset.digest, [item], context))
