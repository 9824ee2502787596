"""`Ruleset.classify_columns` answers as `classify` does, row by row (issue 29)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from engine import ClassifyError, Ruleset, load_ruleset
from tests.conftest import RULES

SHIPPED = {p.stem: load_ruleset(p) for p in sorted(RULES.glob("*.tiers"))}


def expected(ruleset: Ruleset, account: dict[str, Any]) -> tuple[Any, ...]:
    """(tier, labels, rule, error) as `classify` answers for one account."""
    try:
        d = ruleset.classify(account)
    except ClassifyError as error:
        return (None, None, None, str(error))
    return (d.tier, d.labels, None if d.rule is None else d.rule.name, None)


def answered(out: dict[str, Any], row: int) -> tuple[Any, ...]:
    return tuple(out[name][row] for name in ("tier", "labels", "rule", "error"))


def test_a_batch_of_columns_gets_the_answers_of_classify() -> None:
    rs = SHIPPED["synthesis"]
    columns = {
        "followers": np.array([45_000, 2_000_000, 5, 10_000]),
        "engagement_rate": pa.array([0.042, 0.01, None, 4.2]),
        "topics": [["fashion"], [], None, ["tech"]],
        "platform": ["instagram", "x", "y", "tiktok"],
    }
    out = rs.classify_columns(columns)
    assert set(out) == {"tier", "labels", "rule", "error"}
    assert answered(out, 0) == ("micro", ("fashion_expert",), "micro", None)
    assert answered(out, 1)[0] == "mega"
    assert out["error"][2] == (
        "invalid account: engagement_rate: missing, expected a percentage as a fraction"
        " (0.042 is 4.2%); topics: missing, expected a list of texts"
    )
    assert out["tier"][2] is None and out["labels"][2] is None
    assert "4.2 is 420%" in out["error"][3]
    for row in range(4):
        account = {k: v[row] for k, v in columns.items()}
        account = {k: (v.as_py() if isinstance(v, pa.Scalar) else v) for k, v in account.items()}
        account = {k: v for k, v in account.items() if v is not None}
        assert answered(out, row) == expected(rs, account)


def test_columns_of_different_lengths_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="platform has 1"):
        SHIPPED["synthesis"].classify_columns({"followers": [1, 2], "platform": ["x"]})


def test_an_empty_batch_gives_empty_columns() -> None:
    out = SHIPPED["synthesis"].classify_columns({"followers": []})
    assert all(len(out[name]) == 0 for name in ("tier", "labels", "rule", "error"))
