"""tierline against other rule engines on one six-tier ruleset (issue 13).

Each peer runs on its fastest documented path, compiled or loaded once
outside the timing: zen-engine's decision table through an engine with a
loader (`ZenEngine({"loader": …}).evaluate(key, dict)`) and its batch call,
a zen expression compiled once, CEL compiled once (`common-expression-language`,
Rust bindings), rule-engine as one rule, json-logic (`json-logic-qubit`, the
common pure-Python one) and datalogic-py (JSONLogic in Rust, compiled once),
a bare hand-written if/elif, and numpy's `np.select` on ready columns as the
ceiling of a batch. Every peer decides every account and every boundary
account (each bound and the values beside it), and must agree with tierline
on each, or the benchmark stops. Rounds are interleaved (every peer once a
round, in turn), and each figure is the median over rounds, with the
slowest and fastest round beside it.

A peer that is not installed stops the benchmark: `make bench` installs them
(the `bench` extra). Accounts: follower counts from the Kim et al. data set
(see benchmarks/accounts.py), engagement rates from a fixed seed.

Run: `make bench`, or `.venv/bin/python -m benchmarks.run peers`.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.accounts import accounts, source
from engine import load_ruleset

N = 200_000
ROUNDS = 5
SIX_TIERS = """\
ruleset six
policy first
input followers: count
input engagement_rate: percent
tier celebrity when followers at least 5M
tier mega      when followers at least 1M
tier macro     when followers at least 100k
tier mid       when followers at least 50k
tier micro     when followers at least 10k and engagement_rate at least 3.5%
tier nano      when followers at least 1k
otherwise none
"""
# (tier, followers at least, engagement rate at least)
TIERS = [
    ("celebrity", 5_000_000, None),
    ("mega", 1_000_000, None),
    ("macro", 100_000, None),
    ("mid", 50_000, None),
    ("micro", 10_000, 0.035),
    ("nano", 1_000, None),
]

Batch = Callable[[list[dict[str, Any]]], list[str]]


def _each(decide: Callable[[dict[str, Any]], str]) -> Batch:
    return lambda items: [decide(a) for a in items]


def _ternary(cond: Callable[[int, float | None], str], both: str) -> str:
    """`a ? "x" : b ? "y" : … "none"` in the C-like syntax CEL, zen and rule-engine share."""
    out = '"none"'
    for tier, followers, rate in reversed(TIERS):
        out = f'({cond(followers, rate)} ? "{tier}" : {out})'
    return out.replace("&&", both)


def _c_condition(followers: int, rate: float | None) -> str:
    test = f"followers >= {followers}"
    return f"{test} && engagement_rate >= {rate}" if rate is not None else test


def tierline_classify() -> Batch:
    six = load_ruleset(text=SIX_TIERS, name="six")
    classify = six.classify
    return _each(lambda a: classify(a).tier or "none")  # `otherwise none` is no tier


def tierline_classify_many() -> Batch:
    six = load_ruleset(text=SIX_TIERS, name="six")
    return lambda items: [d.tier or "none" for d in six.classify_many(items)]  # type: ignore[union-attr]


def tierline_classify_many_rows() -> Batch:
    """classify_many with its columnar path switched off: the row path it replaces."""
    import engine.ruleset

    six = load_ruleset(text=SIX_TIERS, name="six")

    def run(items: list[dict[str, Any]]) -> list[str]:
        start, engine.ruleset.COLUMNAR_FROM = engine.ruleset.COLUMNAR_FROM, None
        try:
            return [d.tier or "none" for d in six.classify_many(items)]  # type: ignore[union-attr]
        finally:
            engine.ruleset.COLUMNAR_FROM = start

    return run


def tierline_columns_from_dicts() -> Batch:
    """classify_columns on columns built from the dicts (one list an input)."""
    six = load_ruleset(text=SIX_TIERS, name="six")
    names = tuple(six.inputs)

    def run(items: list[dict[str, Any]]) -> list[str]:
        out = six.classify_columns({n: [a.get(n) for a in items] for n in names})
        return [t or "none" for t in out["tier"].tolist()]

    return run


def hand_written() -> Batch:
    def decide(a: dict[str, Any]) -> str:
        followers = a["followers"]
        if followers >= 5_000_000:
            return "celebrity"
        if followers >= 1_000_000:
            return "mega"
        if followers >= 100_000:
            return "macro"
        if followers >= 50_000:
            return "mid"
        if followers >= 10_000 and a["engagement_rate"] >= 0.035:
            return "micro"
        if followers >= 1_000:
            return "nano"
        return "none"

    return _each(decide)


def _zen_table() -> dict[str, Any]:
    rules = [
        {
            "_id": str(i),
            "f": f">= {followers}",
            "e": f">= {rate}" if rate is not None else "",
            "tier": json.dumps(tier),
        }
        for i, (tier, followers, rate) in enumerate(TIERS)
    ]
    rules.append({"_id": "rest", "f": "", "e": "", "tier": json.dumps("none")})
    column = {"type": "expression"}
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 0, "y": 0}},
            {
                "id": "table",
                "type": "decisionTableNode",
                "name": "Tiers",
                "position": {"x": 0, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [
                        {"id": "f", "name": "followers", "field": "followers", **column},
                        {"id": "e", "name": "rate", "field": "engagement_rate", **column},
                    ],
                    "outputs": [{"id": "tier", "name": "tier", "field": "tier", **column}],
                    "rules": rules,
                },
            },
        ],
        "edges": [
            {"id": "a", "sourceId": "in", "targetId": "table", "type": "edge"},
            {"id": "b", "sourceId": "table", "targetId": "out", "type": "edge"},
        ],
    }


def zen_table() -> Batch:
    import zen

    engine = zen.ZenEngine({"loader": {"type": "static", "content": {"six": _zen_table()}}})
    evaluate = engine.evaluate
    return _each(lambda a: evaluate("six", a)["result"]["tier"])


def zen_table_batch() -> Batch:
    import zen

    engine = zen.ZenEngine({"loader": {"type": "static", "content": {"six": _zen_table()}}})

    def run(items: list[dict[str, Any]]) -> list[str]:
        answers = engine.evaluate_batch([{"key": "six", "context": a} for a in items])
        return [answer["data"]["result"]["tier"] for answer in answers]

    return run


def zen_expression() -> Batch:
    import zen

    expression = zen.compile_expression(_ternary(_c_condition, " and "))
    return _each(expression.evaluate)


def cel_program() -> Batch:
    import cel

    program = cel.compile(_ternary(_c_condition, " && "))
    return _each(program.execute)


def rule_engine_rule() -> Batch:
    import rule_engine

    rule = rule_engine.Rule(_ternary(_c_condition, " and "))
    return _each(rule.evaluate)


def _json_logic_rule() -> dict[str, Any]:
    branches: list[Any] = []
    for tier, followers, rate in TIERS:
        test: dict[str, Any] = {">=": [{"var": "followers"}, followers]}
        if rate is not None:
            test = {"and": [test, {">=": [{"var": "engagement_rate"}, rate]}]}
        branches += [test, tier]
    return {"if": [*branches, "none"]}


def json_logic() -> Batch:
    from json_logic import jsonLogic

    rule = _json_logic_rule()
    return _each(lambda a: jsonLogic(rule, a))


def datalogic() -> Batch:
    import datalogic_py

    rule = datalogic_py.Engine().compile(json.dumps(_json_logic_rule()))
    return _each(rule.evaluate)


PEERS: dict[str, Callable[[], Batch]] = {
    "tierline classify (validated, a Decision each)": tierline_classify,
    "tierline classify_many (validated)": tierline_classify_many,
    "tierline classify_many, row by row (columnar path off)": tierline_classify_many_rows,
    "tierline classify_columns, columns built from the dicts": tierline_columns_from_dicts,
    "hand-written if/elif (no validation)": hand_written,
    "zen-engine decision table (loader + evaluate)": zen_table,
    "zen-engine decision table (evaluate_batch)": zen_table_batch,
    "zen-engine expression (compiled once)": zen_expression,
    "CEL, common-expression-language (compiled once)": cel_program,
    "rule-engine (one Rule, evaluate)": rule_engine_rule,
    "json-logic-qubit (jsonLogic)": json_logic,
    "datalogic-py, JSONLogic in Rust (compiled once)": datalogic,
}


def columnar(items: list[dict[str, Any]]) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """tierline's columnar calls on data made ready outside the timing (numpy columns,
    a pandas and a polars DataFrame, an Arrow table), as the numpy ceiling is timed on
    ready columns: each (timed call, its tiers as a list for the agreement check)."""
    import numpy as np
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from tierline.tables.frames import classify_frame

    six = load_ruleset(text=SIX_TIERS, name="six")
    ready = {
        "followers": np.fromiter((a["followers"] for a in items), np.int64, len(items)),
        "engagement_rate": np.fromiter((a["engagement_rate"] for a in items), np.float64),
    }
    pandas, polars, arrow = pd.DataFrame(ready), pl.DataFrame(ready), pa.table(ready)

    def tiers(values: list[Any]) -> list[str]:
        return [t if isinstance(t, str) else "none" for t in values]  # pandas: NaN for none

    return {
        "tierline classify_columns, numpy columns ready": (
            lambda: six.classify_columns(ready),
            lambda: tiers(six.classify_columns(ready)["tier"].tolist()),
        ),
        "tierline classify_frame, pandas DataFrame": (
            lambda: classify_frame(pandas, six),
            lambda: tiers(classify_frame(pandas, six)["tier"].tolist()),
        ),
        "tierline classify_frame, polars DataFrame": (
            lambda: classify_frame(polars, six),
            lambda: tiers(classify_frame(polars, six)["tier"].to_list()),
        ),
        "tierline classify_frame, Arrow table": (
            lambda: classify_frame(arrow, six),
            lambda: tiers(classify_frame(arrow, six).column("tier").to_pylist()),
        ),
    }


def floors(items: list[dict[str, Any]]) -> dict[str, Callable[[], Any]]:
    """What any exact path from dicts must spend, timed alone: reading the inputs' keys
    out of every dict (the fastest way found: `map(itemgetter)` in C, lists kept); the
    same with each list's types checked (`set(map(type))`: a bool, a str or an int
    past 64 bits must not pass for a number); and the Decision objects `classify_many`
    must return, made as its columnar path makes them (collector paused, as there),
    without reading or deciding anything."""
    from operator import itemgetter

    from engine.decision import batch_decisions

    six = load_ruleset(text=SIX_TIERS, name="six")
    getters = [itemgetter(name) for name in six.inputs]
    rule = six.columnar.rule_objects[0]
    rules = [rule] * len(items)
    labels: list[tuple[str, ...]] = [()] * len(items)

    def checked() -> list[set[type]]:
        return [set(map(type, list(map(get, items)))) for get in getters]

    def decisions() -> Any:
        gc.disable()
        try:
            return batch_decisions(six, rules, labels, items)
        finally:
            gc.enable()

    return {
        FLOOR_KEYS: lambda: [list(map(get, items)) for get in getters],
        FLOOR_TYPES: checked,
        FLOOR_DECISIONS: decisions,
    }


FLOOR_KEYS = "floor: the inputs' keys read from every dict (map(itemgetter) to lists)"
FLOOR_TYPES = "floor: ... and each list's types checked (set(map(type)))"
FLOOR_DECISIONS = "floor: a Decision a row (batch_decisions alone, collector paused)"


def boundary_accounts() -> list[dict[str, Any]]:
    out = []
    for _tier, followers, _rate in TIERS:
        for f in (followers - 1, followers, followers + 1):
            for rate in (0.0, 0.0349, 0.035, 0.0351, 0.2):
                out.append({"followers": f, "engagement_rate": rate})
    return [*out, {"followers": 0, "engagement_rate": 0.0}]


def numpy_ceiling(items: list[dict[str, Any]]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """np.select on columns: the decision alone, and the decision with the columns
    built from the same dicts first."""
    import numpy as np

    def columns() -> tuple[Any, Any]:
        followers = np.fromiter((a["followers"] for a in items), np.int64, len(items))
        rate = np.fromiter((a["engagement_rate"] for a in items), np.float64, len(items))
        return followers, rate

    names = np.array([t for t, _f, _r in TIERS] + ["none"])

    def decide(followers: Any, rate: Any) -> Any:
        tests = [
            followers >= f if r is None else (followers >= f) & (rate >= r) for _t, f, r in TIERS
        ]
        return np.select(tests, names[:-1], default=names[-1])

    ready = columns()
    return (lambda: decide(*ready)), (lambda: decide(*columns()))


def main() -> list[tuple[str, str]]:
    items = [
        {"followers": a["followers"], "engagement_rate": a["engagement_rate"]} for a in accounts(N)
    ]
    edges = boundary_accounts()
    try:
        peers = {name: make() for name, make in PEERS.items()}
    except ImportError as missing:
        raise SystemExit(
            f"benchmarks.peers: {missing.name} is not installed: pip install -e '.[bench]'"
        ) from missing
    reference = peers["tierline classify (validated, a Decision each)"]
    expected, expected_edges = reference(items), reference(edges)
    for name, batch in peers.items():
        if batch(edges) != expected_edges or batch(items) != expected:
            raise SystemExit(f"benchmarks.peers: {name} disagrees with tierline")
    on_columns, with_columns = numpy_ceiling(items)
    if list(on_columns()) != expected or list(with_columns()) != expected:
        raise SystemExit("benchmarks.peers: numpy disagrees with tierline")
    timed: dict[str, Callable[[], Any]] = {
        name: (lambda b=batch: b(items))  # type: ignore[misc]
        for name, batch in peers.items()
    }
    timed["numpy np.select, columns ready (batch ceiling)"] = on_columns
    timed["numpy np.select, columns built from the dicts"] = with_columns
    for name, (call, answer) in columnar(items).items():
        if answer() != expected:
            raise SystemExit(f"benchmarks.peers: {name} disagrees with tierline")
        timed[name] = call
    timed.update(floors(items))
    seconds: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(ROUNDS):
        for name, work in timed.items():
            gc.collect()
            started = time.perf_counter()
            work()
            seconds[name].append(time.perf_counter() - started)

    ours = seconds["tierline classify (validated, a Decision each)"]
    rows = [
        ("accounts", f"{N:,} from {source()}, plus {len(edges)} on the bounds"),
        ("agreement", f"every peer gave tierline's tier on all {N + len(edges):,} accounts"),
        ("rounds", f"{ROUNDS}, interleaved; decisions/s as median (slowest round-fastest)"),
    ]
    for name, runs in seconds.items():
        rates = sorted(N / s for s in runs)
        ratio = statistics.median(theirs / mine for theirs, mine in zip(runs, ours, strict=True))
        rows.append(
            (
                name,
                f"{statistics.median(rates):,.0f}/s ({rates[0]:,.0f}-{rates[-1]:,.0f}); "
                f"tierline classify / this {ratio:.2f}",
            )
        )
    rows += _targets(seconds)
    return rows


def _targets(seconds: dict[str, list[float]]) -> list[tuple[str, str]]:
    """Issue 29's ratios, each the median over rounds of the round's own ratio."""

    def ratio(ours: str, theirs: str) -> float:
        return statistics.median(t / o for o, t in zip(seconds[ours], seconds[theirs], strict=True))

    kernel = "numpy np.select, columns ready (batch ceiling)"
    datalogic_py = "datalogic-py, JSONLogic in Rust (compiled once)"
    out = [
        (
            "classify_columns (numpy ready) / np.select kernel (target >= 0.3)",
            f"{ratio('tierline classify_columns, numpy columns ready', kernel):.2f}",
        )
    ]
    for name in (
        "tierline classify_frame, pandas DataFrame",
        "tierline classify_frame, polars DataFrame",
        "tierline classify_frame, Arrow table",
        "tierline classify_columns, columns built from the dicts",
        "tierline classify_many (validated)",
    ):
        out.append((f"{name.removeprefix('tierline ')} / datalogic-py (target >= 3)",
                    f"{ratio(name, datalogic_py):.2f}"))  # fmt: skip
    many, rows = "tierline classify_many (validated)", "tierline classify_many, row by row"
    rows += " (columnar path off)"
    out.append(("classify_many: columnar path / row path (speed)", f"{ratio(many, rows):.2f}"))
    theirs = statistics.median(seconds[datalogic_py])
    typed = statistics.median(seconds[FLOOR_TYPES])
    made = statistics.median(seconds[FLOOR_DECISIONS])
    out += [
        ("best an exact path from dicts could do: datalogic-py / (keys read, types checked)",
         f"{theirs / typed:.2f}"),
        ("best classify_many could do: datalogic-py / (keys, types + the Decisions)",
         f"{theirs / (typed + made):.2f}"),
    ]  # fmt: skip
    return out
