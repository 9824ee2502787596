"""The decision log's writer process: recompute reasons, mask, write JSON lines.

Runs in its own process so that serialising reasons never competes with
classification for the GIL. Every ruleset version arrives as source text
before its decisions, so each decision is replayed with the exact rules that
made it; the log line is what `tierline audit` reads back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

import orjson
import structlog

from engine import Ruleset
from engine.ast import TypeName
from engine.decision import Decision
from engine.leaves import Leaf
from engine.load import check_source
from engine.source import Source

FLUSH_EVERY_S = 0.2


@dataclass(frozen=True)
class WriterConfig:
    target: str  # a path, or "-" for stdout
    mask_fields: tuple[str, ...] = ()
    hash_fields: tuple[str, ...] = ()
    hash_key: str = ""


class Masker:
    """Personal data need not sit in logs: fields logged as '***' or a keyed hash."""

    def __init__(self, config: WriterConfig):
        self.redact = frozenset(config.mask_fields)
        self.hashed = frozenset(config.hash_fields)
        self.key = config.hash_key.encode()
        self.active = bool(self.redact or self.hashed)

    def value(self, name: str, value: Any) -> Any:
        if name in self.redact:
            return "***"
        if name in self.hashed:
            digest = hmac.new(
                self.key, orjson.dumps(value, option=orjson.OPT_SORT_KEYS), hashlib.sha256
            )
            return "hmac-sha256:" + digest.hexdigest()[:32]
        return value

    def which(self, facts: dict[str, Any]) -> dict[str, str]:
        """The log says which fields it masked, and how."""
        return {
            name: "redacted" if name in self.redact else "hmac-sha256"
            for name in facts
            if name in self.redact or name in self.hashed
        }


def open_log(target: str) -> IO[bytes]:
    if target == "-":
        return sys.stdout.buffer
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    return open(target, "ab", buffering=1024 * 1024)


def configure(stream: IO[bytes]) -> Any:
    """structlog for decision events: JSON lines (orjson), the event's own fields."""
    return structlog.wrap_logger(
        structlog.BytesLogger(cast(BinaryIO, stream)),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        cache_logger_on_first_use=True,
    ).bind(logger="tierline.decisions")


_TRUE = b'},"result":true}'
_FALSE = b'},"result":false}'
_GAP = b'},"result":false,"gap":'

Render = Callable[[bool, dict[str, Any]], bytes]


class EventEncoder:
    """Decision events for the log, built for speed. Each condition gets a small
    renderer made once per ruleset version, holding its fixed part (rule, kind,
    text, value names) already serialised, so a line costs a traced run and the
    observed values. Masking applies to every value, in the input and reasons."""

    def __init__(self, masker: Masker):
        self.masker = masker
        self._renderers: dict[tuple[int, int], Render] = {}
        self._inputs: dict[int, tuple[tuple[str, bool], ...]] = {}

    def reasons(self, decision: Decision) -> bytes:
        program = decision.ruleset.program
        steps, env, _ = decision.steps()
        renderers = self._renderers
        key = id(program)
        parts = []
        for leaf_id, result in steps:
            render = renderers.get((key, leaf_id))
            if render is None:
                render = renderers[(key, leaf_id)] = self._renderer(program.leaves[leaf_id])
            parts.append(render(result, env))
        return b"[" + b",".join(parts) + b"]"

    def _renderer(self, leaf: Leaf) -> Render:
        fixed = {"rule": leaf.rule.name, "kind": leaf.rule.kind, "text": leaf.text}
        head = orjson.dumps(fixed)[:-1] + b',"observed":{'
        shortfall = leaf.shortfall
        dumps = orjson.dumps

        def tail(result: bool, env: dict[str, Any]) -> bytes:
            if result:
                return _TRUE
            miss = shortfall(env)
            return _GAP + dumps(miss) + b"}" if miss else _FALSE

        if len(leaf.names) == 1 and not leaf.sets and not self.masker.active:
            name = leaf.names[0]
            start = head + dumps(name) + b":"

            def render_one(result: bool, env: dict[str, Any]) -> bytes:
                return start + dumps(env[name]) + tail(result, env)

            return render_one
        names = [(n, dumps(n) + b":", n in leaf.sets) for n in leaf.names]
        value = self.masker.value if self.masker.active else None

        def render(result: bool, env: dict[str, Any]) -> bytes:
            observed = []
            for name, key, is_set in names:
                seen: Any = env[name]
                if is_set:
                    seen = sorted(set(seen))
                if value is not None:
                    seen = value(name, seen)
                observed.append(key + dumps(seen))
            return head + b",".join(observed) + tail(result, env)

        return render

    def facts(self, decision: Decision) -> dict[str, Any]:
        """The input as the rules saw it (sets as sorted lists), from the traced run."""
        program = decision.ruleset.program
        shape = self._inputs.get(id(program))
        if shape is None:
            inputs = program.checked.inputs
            shape = self._inputs[id(program)] = tuple(
                (n, i.type is TypeName.TEXT_SET) for n, i in inputs.items()
            )
        env = decision.steps()[1]
        return {n: sorted(set(env[n])) if is_set else env[n] for n, is_set in shape}  # type: ignore[arg-type]

    def event(
        self,
        decision: Decision,
        account_id: str,
        rpc: str,
        request_id: str,
        peer: str,
        latency_us: int,
    ) -> dict[str, Any]:
        rs = decision.ruleset
        facts = self.facts(decision)
        event: dict[str, Any] = {
            "ts": decision.ts,
            "ruleset": rs.name,
            "version": rs.version,
            "digest": rs.digest,
            "account_id": account_id,
            "tier": decision.tier,
            "labels": list(decision.labels),
            "rule": decision.rule_dict(),
            "reasons": orjson.Fragment(self.reasons(decision)),
            "notes": list(decision.notes) if rs.program.divisions else [],
            "input": facts,
            "ignored_fields": list(decision.ignored_fields),
            "latency_us": latency_us,
            "rpc": rpc,
            "request_id": request_id or None,
            "peer": peer or None,
        }
        if self.masker.active:
            event["input"] = {k: self.masker.value(k, v) for k, v in facts.items()}
            event["masked"] = self.masker.which(facts)
        return event


class DecisionWriter:
    """One structlog JSON line per decision: what the service and `tierline eval --log` write."""

    def __init__(self, stream: IO[bytes], masker: Masker):
        self.logger = configure(stream)
        self.encoder = EventEncoder(masker)

    def write(
        self,
        decision: Decision,
        account_id: str,
        rpc: str,
        request_id: str = "",
        peer: str = "",
        latency_us: int = 0,
    ) -> None:
        event = self.encoder.event(decision, account_id, rpc, request_id, peer, latency_us)
        self.logger.info("decision", decision_id=decision.decision_id, **event)


def writer_main(inbox: Any, config: WriterConfig) -> None:
    # Ctrl-C reaches the whole process group: the writer must outlive the server's
    # graceful stop to write what is queued, so it stops on the server's word only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    stream = open_log(config.target)
    writer = DecisionWriter(stream, Masker(config))
    rulesets: dict[str, Ruleset] = {}
    last_flush = time.monotonic()
    while True:
        try:
            message = inbox.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the server died without saying so
                break
            stream.flush()
            continue
        if message is None:
            break
        if message[0] == "ruleset":
            _kind, digest, source, path, name = message
            rulesets[digest] = Ruleset(check_source(Source(source, path), name=name))
            continue
        if message[0] == "records":  # gathered small calls, each with its own context
            for digest, rpc, request_id, peer, latency_us, *item in message[1]:
                _write(writer, rulesets[digest], item, rpc, request_id, peer, latency_us)
        else:
            _kind, digest, rpc, request_id, peer, latency_us, items = message
            ruleset = rulesets[digest]
            for item in items:
                _write(writer, ruleset, item, rpc, request_id, peer, latency_us)
        now = time.monotonic()
        if now - last_flush > FLUSH_EVERY_S or inbox.empty():
            stream.flush()
            last_flush = now
    stream.flush()
    if config.target != "-":
        os.fsync(stream.fileno())
        stream.close()


def _write(
    writer: DecisionWriter,
    ruleset: Ruleset,
    item: Any,
    rpc: str,
    request_id: str,
    peer: str,
    latency_us: int,
) -> None:
    """Replay one decision with the version that made it, keeping its id and time."""
    decision_id, time_ns, account_id, account = item
    decision = ruleset.classify(account)
    decision.time_ns = time_ns
    decision.decision_id = decision_id
    writer.write(decision, account_id, rpc, request_id, peer, latency_us)
