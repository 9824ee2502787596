"""A classification and its reasons.

The fast path builds a Decision from the matched rule, the labels and the
account; reasons, notes and the explanation are computed on first use by the
traced evaluator (cel-go's OptTrackState: free when nobody asks).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from engine.checker.model import Rule, Value
from engine.python.codegen import division_notes
from engine.python.evaluator import Program
from engine.python.explainer import Explainer
from engine.python.reasoner import Reasoner
from engine.python.values import field_name, json_value

Steps = tuple[list[tuple[int, bool]], dict[str, Value], list[int]]
Facts = tuple[tuple["Reason", ...], list[int], dict[str, Value]]


class Decider(Protocol):
    """What a Decision reads of the ruleset that made it; `engine.Ruleset` is one.
    (A protocol, so that decisions need nothing above them in the pipeline.)"""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def program(self) -> Program: ...
    @property
    def reasoner(self) -> Reasoner: ...
    @property
    def explainer(self) -> Explainer: ...
    def hint_for(self, field: str) -> str | None: ...


class Reason:
    """One evaluated condition: the rule's words, the values it read, its result."""

    __slots__ = ("gap", "kind", "observed", "result", "rule", "text")

    def __init__(
        self,
        rule: str,
        kind: str,
        text: str,
        observed: dict[str, Any],
        result: bool,
        gap: str | None = None,
    ):
        self.rule = rule
        self.kind = kind  # "tier" or "label"
        self.text = text
        self.observed = observed
        self.result = result
        self.gap = gap  # for a failed numeric test: "55,000 short"

    def __repr__(self) -> str:
        return f"Reason({self.rule!r}, {self.text!r}, {self.result}, {self.observed!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "kind": self.kind, "text": self.text}
        out.update(observed=self.observed, result=self.result)
        if self.gap:
            out["gap"] = self.gap
        return out


# A Mersenne Twister seeded from the OS at start: with the time in front, unique
# enough for ids (not secrets), and far cheaper per decision than os.urandom.
_random_bits = random.Random().getrandbits


def new_decision_id(time_ns: int) -> str:
    """A UUIDv7: sortable by time, unique by 54 random bits. The time is the ms, then
    the sub-ms fraction to 20 bits (RFC 9562 §6.2 method 3: rand_a's 12 and the first
    8 of rand_b), finer than a nanosecond: two decisions stamped 1 ns apart (the rows
    of one batch, `batch_decisions`) get ids in that order, where 12 bits (244 ns)
    left the order of a batch's rows to the random bits."""
    ms, sub = divmod(time_ns, 1_000_000)
    fraction = (sub << 20) // 1_000_000
    rand_b = (fraction & 0xFF) << 54 | _random_bits(54)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (fraction >> 8) << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso_ts(time_ns: int) -> str:
    """UTC, ISO 8601 to the microsecond ("2026-11-25T21:08:22.317566Z"), by integer arithmetic."""
    return iso_ts_bytes(time_ns).decode()


def iso_ts_bytes(time_ns: int) -> bytes:
    """`iso_ts` as the decision log writes it (bytes, for a million lines a minute)."""
    seconds, ns = divmod(time_ns, 1_000_000_000)
    return b"%s.%06dZ" % (_iso_second(seconds), ns // 1000)


@functools.lru_cache(maxsize=8)
def _iso_second(seconds: int) -> bytes:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()


class Decision:
    """The tier of one account, with everything needed to say why."""

    __slots__ = (
        "_facts",
        "_id",
        "_steps",
        "account",
        "labels",
        "rule",
        "ruleset",
        "tier",
        "time_ns",
    )

    def __init__(self, ruleset: Decider, rule: Rule | None, labels: tuple[str, ...], account: Any):
        self.ruleset = ruleset
        self.rule = rule
        self.tier = rule.tier if rule is not None else None
        self.labels = labels
        self.account: Mapping[str, Any] = account  # kept by reference: do not mutate it
        self.time_ns = time.time_ns()
        self._steps: Steps | None = None
        self._facts: Facts | None = None
        self._id: str | None = None

    def __repr__(self) -> str:
        rule = f"{self.rule.name}@{self.rule.line}" if self.rule else None
        name = self.ruleset.name
        return f"<Decision {name} tier={self.tier!r} labels={self.labels!r} rule={rule}>"

    @property
    def decision_id(self) -> str:
        if self._id is None:
            self._id = new_decision_id(self.time_ns)
        return self._id

    @decision_id.setter
    def decision_id(self, value: str) -> None:
        self._id = value

    @property
    def ts(self) -> str:
        return iso_ts(self.time_ns)

    def steps(self) -> Steps:
        """The traced run: (leaf id, result) in evaluation order, every value, divisions by 0.
        The reference that `tests/traced_explain.py` renders from; tests compare with it."""
        if self._steps is None:
            _rule, _labels, steps, env, notes = self.ruleset.program.trace(self.account)
            self._steps = (steps, env, notes)
        return self._steps

    def _made(self) -> Facts:
        """Reasons, divisions by zero met and inputs, by the ruleset's generated reasoner."""
        if self._facts is None:
            reasons, notes, inputs = self.ruleset.reasoner(self.account)
            self._facts = (tuple(reasons), notes, inputs)
        return self._facts

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self._made()[0]

    @property
    def notes(self) -> tuple[str, ...]:
        return division_notes(self.ruleset.program.divisions, self._made()[1])

    @property
    def input(self) -> dict[str, Any]:
        """The account as the rules saw it: validated, defaults filled."""
        return {name: json_value(value) for name, value in self._made()[2].items()}

    @property
    def ignored_fields(self) -> tuple[str, ...]:
        declared = self.ruleset.program.checked.inputs
        return tuple(sorted(field_name(k) for k in self.account if k not in declared))

    @property
    def ignored_hints(self) -> tuple[tuple[str, str], ...]:
        """(field, "did you mean …?") for each ignored field close to a declared input."""
        found = ((name, self.ruleset.hint_for(name)) for name in self.ignored_fields)
        return tuple((name, hint) for name, hint in found if hint)

    def rule_dict(self) -> dict[str, Any] | None:
        rule = self.rule
        if rule is None:
            return None
        return {"name": rule.name, "kind": rule.kind, "file": rule.file, "line": rule.line}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the decision log (whose reasons leave `gap` to explanations)."""
        rs = self.ruleset
        return {
            "decision_id": self.decision_id,
            "ts": self.ts,
            "ruleset": rs.name,
            "version": rs.version,
            "digest": rs.digest,
            "tier": self.tier,
            "labels": list(self.labels),
            "rule": self.rule_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
            "notes": list(self.notes),
            "input": self.input,
            "ignored_fields": list(self.ignored_fields),
        }

    def explain(self) -> str:
        """Why this tier, in words (made by the ruleset's generated explainer)."""
        return self.ruleset.explainer(self.account)


def batch_decisions(
    ruleset: Decider,
    start_ns: int,
    rules: list[Rule | None],
    labels: list[tuple[str, ...]],
    accounts: list[Any],
) -> list[Decision]:
    """The Decisions of a batch decided at once (the columnar path of `classify_many`):
    row k matched rules[k] and has labels[k], and is stamped `start_ns + k`, so that
    the ids of a batch sort in row order and its `ts` never go backwards (one stamp
    for all left their order to the ids' random bits). The caller takes `start_ns`
    when the call begins and checks that the last stamp is not past the clock at its
    end (`stamp_in_order`). Each is what `Decision(...)` makes, but made without a
    call to `__init__` a row: a Python call and a clock reading cost 80 ns of the 290
    a Decision cost, and a batch path lives or dies by what it spends a row."""
    new = object.__new__
    out: list[Decision] = []
    append = out.append
    stamps = range(start_ns, start_ns + len(accounts))
    for stamp, rule, found, account in zip(stamps, rules, labels, accounts, strict=True):
        made = new(Decision)
        made.ruleset = ruleset
        made.rule = rule
        made.tier = None if rule is None else rule.tier
        made.labels = found
        made.account = account
        made.time_ns = stamp
        made._steps = None
        made._facts = None
        made._id = None
        append(made)
    return out


def stamp_in_order(answers: list[Any], start_ns: int) -> None:
    """At the end of a batch whose Decision k was stamped `start_ns + k`: if the last
    stamp is past the clock now (the wall clock stepped back during the call, or rows
    cost under a nanosecond each), restamp them all to end at now, in the same order.
    Stamps are never later than the real time of the call's end."""
    end = time.time_ns()
    last = start_ns + len(answers) - 1
    if last <= end:
        return
    base = end - len(answers) + 1
    for row, answer in enumerate(answers):
        if isinstance(answer, Decision):
            answer.time_ns = base + row
            answer._id = None
