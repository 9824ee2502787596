"""Prometheus metrics, one registry per server (tests run several in one process)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine import Decision
from engine.registry import Entry
from server.probes import Readiness, serve_probes

BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("tierline_rpc_calls", "gRPC calls", ["method", "code"], registry=r)
        self.latency = Histogram(
            "tierline_rpc_latency_seconds",
            "gRPC call latency",
            ["method"],
            buckets=BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "tierline_decisions", "decisions made", ["ruleset", "tier"], registry=r
        )
        self.rule_hits = Counter(
            "tierline_rule_hits",
            "decisions by the rule that decided",
            ["ruleset", "rule"],
            registry=r,
        )
        self.input_errors = Counter(
            "tierline_account_errors", "accounts refused", ["ruleset", "code"], registry=r
        )
        self.loaded = Gauge(
            "tierline_ruleset_loaded",
            "1 for each serving ruleset version",
            ["ruleset", "version", "digest"],
            registry=r,
        )
        self.rejected = Counter(
            "tierline_ruleset_rejected", "rule-file versions refused", ["ruleset"], registry=r
        )
        self.log_dropped = Counter(
            "tierline_decision_log_dropped",
            "decisions not in the decision log: dropped (policy drop) or unwritten at exit",
            registry=r,
        )
        self.log_restarts = Counter(
            "tierline_decision_log_writer_restarts", "decision-log writers restarted", registry=r
        )
        self.log_writable = Gauge(
            "tierline_decision_log_writable", "1 while the decision log can be written", registry=r
        )
        self.log_writable.set(1)
        self.refused = Counter(
            "tierline_calls_refused",
            "calls refused by authentication (UNAUTHENTICATED) or roles (PERMISSION_DENIED)",
            ["method", "reason"],
            registry=r,
        )
        self.tls_not_after = Gauge(
            "tierline_tls_certificate_expiry_timestamp_seconds",
            "when the serving TLS certificate expires (Unix time): alert well before",
            registry=r,
        )
        self.tls_reloads = Counter(
            "tierline_tls_certificate_reloads",
            "certificate files read again after a change: loaded, or refused (the old one serves)",
            ["result"],
            registry=r,
        )
        self.callers_reloads = Counter(
            "tierline_auth_tokens_reloads",
            "--auth-tokens files read again after a change, by result",
            ["result"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}  # labels() is slow on the hot path
        self._http: ThreadingHTTPServer | None = None

    def serve(self, port: int, host: str = "127.0.0.1", ready: Readiness | None = None) -> int:
        """The metrics port (`server/probes.py`); returns the port it listens on."""
        self._http = serve_probes(self.registry, port, host, ready or (lambda: (True, {})))
        return int(self._http.server_port)

    def close(self) -> None:
        """Stop serving the metrics port (the last thing a stop does: probes see it go)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def count_decisions(self, ruleset: str, decisions: Iterable[Decision]) -> None:
        """One increment per distinct tier and rule, however large the batch."""
        tally = Tally((d.tier or "none", d.rule.name if d.rule else "none") for d in decisions)
        tiers: Tally[str] = Tally()
        for (tier, rule), n in tally.items():
            tiers[tier] += n
            self._child(self.rule_hits, ruleset, rule).inc(n)
        for tier, n in tiers.items():
            self._child(self.decisions, ruleset, tier).inc(n)

    def count_tally(self, ruleset: str, tally: Mapping[tuple[str, str], int]) -> None:
        """Decisions already counted by (tier, rule): a columnar batch's."""
        tiers: Tally[str] = Tally()
        for (tier, rule), n in tally.items():
            tiers[tier] += n
            self._child(self.rule_hits, ruleset, rule).inc(n)
        for tier, n in tiers.items():
            self._child(self.decisions, ruleset, tier).inc(n)

    def count_decision(self, ruleset: str, decision: Decision) -> None:
        """The one-decision case (unary calls, stream messages), without tallies."""
        rule = decision.rule.name if decision.rule else "none"
        self._child(self.rule_hits, ruleset, rule).inc()
        self._child(self.decisions, ruleset, decision.tier or "none").inc()

    def _child(self, counter: Counter, *labels: str) -> Any:
        key = (id(counter), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    def set_rulesets(self, entries: Iterable[Entry]) -> None:
        self.loaded.clear()
        for e in entries:
            if e.serving is not None:
                self.loaded.labels(e.name, e.serving.version, e.serving.digest).set(1)
