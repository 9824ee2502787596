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
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

import orjson
import structlog

from engine import Ruleset
from engine.decision import Decision
from engine.leaves import gap
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


class EventEncoder:
    """Decision events for the log, built for speed: each condition's fixed part
    (rule, kind, text) is serialised once per ruleset version and reused, so a
    line costs a traced run and the observed values. Masking applies to every
    value, in the input and in the reasons alike."""

    def __init__(self, masker: Masker):
        self.masker = masker
        self._heads: dict[tuple[int, int], bytes] = {}
        self._names: dict[str, bytes] = {}

    def reasons(self, decision: Decision) -> bytes:
        program = decision.ruleset.program
        steps, env, _ = decision.steps()
        value = self.masker.value if self.masker.active else None
        parts = []
        for leaf_id, result in steps:
            leaf = program.leaves[leaf_id]
            head = self._heads.get((id(program), leaf_id))
            if head is None:
                fixed = {"rule": leaf.rule.name, "kind": leaf.rule.kind, "text": leaf.text}
                head = self._heads[(id(program), leaf_id)] = (
                    orjson.dumps(fixed)[:-1] + b',"observed":{'
                )
            observed = []
            for name in leaf.names:
                seen: Any = env[name]
                if name in leaf.sets:
                    seen = sorted(set(seen))
                if value is not None:
                    seen = value(name, seen)
                observed.append(self._name(name) + orjson.dumps(seen))
            if result:
                tail = b'},"result":true}'
            else:
                miss = gap(leaf.gap, env)
                tail = (
                    b'},"result":false,"gap":' + orjson.dumps(miss) + b"}"
                    if miss
                    else b'},"result":false}'
                )
            parts.append(head + b",".join(observed) + tail)
        return b"[" + b",".join(parts) + b"]"

    def _name(self, name: str) -> bytes:
        cached = self._names.get(name)
        if cached is None:
            cached = self._names[name] = orjson.dumps(name) + b":"
        return cached

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
        facts = decision.input
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
        _kind, digest, rpc, request_id, peer, latency_us, items = message
        ruleset = rulesets[digest]
        for decision_id, time_ns, account_id, account in items:
            decision = ruleset.classify(account)
            decision.time_ns = time_ns
            decision.decision_id = decision_id
            writer.write(decision, account_id, rpc, request_id, peer, latency_us)
        now = time.monotonic()
        if now - last_flush > FLUSH_EVERY_S or inbox.empty():
            stream.flush()
            last_flush = now
    stream.flush()
    if config.target != "-":
        os.fsync(stream.fileno())
        stream.close()
