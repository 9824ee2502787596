"""DataFrames and Arrow tables classified in place: `classify_frame`.

In: a pandas or polars DataFrame or an Arrow table, and a ruleset. Out: the same kind
of frame with `tier`, `labels`, `rule` and `error` added (see README, "DataFrames and
Arrow"). Columns reach the columnar evaluator as Arrow arrays or numpy arrays over
the frame's own buffers where the library allows (polars and Arrow always; pandas
for numbers and flags), so that nothing is copied a row at a time. A cell means what
it means to `classify`: a null (Arrow's and polars' nulls, pandas' None, pd.NA and
the gaps of its nullable and text dtypes) is a missing value, which takes its input's
default or is refused as missing; a NaN in a float column is a NaN, refused naming
the field as `classify` refuses it (README, "Python API": a NaN as often comes from a
0/0 upstream; `frame.convert_dtypes()` turns pandas' NaN gaps into pd.NA).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from engine import Ruleset
from engine.columnar.evaluate import Coded

# pyarrow ships no type information: read as Any, whether or not mypy is told to skip it
pa: Any = importlib.import_module("pyarrow")

OUTPUTS = ("tier", "labels", "rule", "error")
Frame = TypeVar("Frame")


def classify_frame(
    frame: Frame, ruleset: Ruleset, columns: Mapping[str, str] | None = None
) -> Frame:
    """`frame` with the four columns the rules add, each row classified as `classify`
    would classify it. `columns` maps an input to the frame's column of another name
    (`{"followers": "n_followers"}`); an input with no column is absent from every
    row. Refused when the frame already has a column named tier, labels, rule or error
    (it would be overwritten), or when `columns` names a column the frame lacks."""
    names = _frame_columns(frame)
    clash = [name for name in OUTPUTS if name in names]
    if clash:
        raise ValueError(f"the frame already has a column {clash[0]!r}, which classify_frame adds")
    wanted = dict(columns or {})
    unknown = sorted(set(wanted) - set(ruleset.inputs))
    if unknown:
        raise ValueError(f"columns maps {', '.join(unknown)}, which the rules do not declare")
    absent = sorted(c for c in wanted.values() if c not in names)
    if absent:
        raise ValueError(f"the frame has no column {absent[0]!r}")
    sources = {name: wanted.get(name, name) for name in ruleset.inputs}
    n = _frame_length(frame)
    given = {name: _column(frame, column) for name, column in sources.items() if column in names}
    if not given:
        given = {
            "": np.empty(n, dtype=np.bool_)
        }  # no input has a column: the batch still has n rows
    added: Frame = _with_outcome(frame, ruleset.columnar.coded(given))
    return added


def _kind(frame: object) -> str:
    module = type(frame).__module__
    if module.startswith("pandas"):
        return "pandas"
    if module.startswith("polars"):
        return "polars"
    if isinstance(frame, pa.Table | pa.RecordBatch):
        return "arrow"
    raise TypeError(
        f"classify_frame takes a pandas or polars DataFrame or an Arrow table, "
        f"not {type(frame).__name__}"
    )


def _frame_columns(frame: Any) -> list[str]:
    kind = _kind(frame)
    if kind == "arrow":
        return list(frame.schema.names)
    return [str(name) for name in frame.columns]


def _frame_length(frame: Any) -> int:
    return int(frame.num_rows) if _kind(frame) == "arrow" else len(frame)


def _column(frame: Any, name: str) -> Any:
    """One column as the columnar evaluator reads it best, without copying where it can."""
    kind = _kind(frame)
    if kind == "arrow":
        return frame.column(name)
    if kind == "polars":
        return frame.get_column(name).to_arrow()
    return _pandas_column(frame[name])


def _pandas_column(series: Any) -> Any:
    """numpy over the Series' buffer for numbers and flags (a NaN stays a NaN); Arrow,
    gaps as nulls, for the nullable, text and categorical dtypes; objects otherwise,
    with pd.NA as None."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return series.to_numpy()
    if not isinstance(dtype, np.dtype):  # Int64, boolean, str, category, ArrowDtype
        try:
            return pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            pass
    values = series.to_numpy(dtype=object)
    gaps = [row for row, value in enumerate(values) if value is _pandas_na()]
    if gaps:
        values = values.copy()
        values[gaps] = None
    return values


def _pandas_na() -> Any:
    return importlib.import_module("pandas").NA


def _with_outcome(frame: Any, out: Mapping[str, Coded]) -> Any:
    """The frame with the four columns, each built from its codes by one `take` (Arrow,
    polars, pandas' text columns) or one numpy indexing (pandas' labels)."""
    kind = _kind(frame)
    if kind == "pandas":
        texts = ("tier", "rule", "error")
        columns = {name: _pandas_texts(_arrow_column(name, out[name])) for name in texts}
        return frame.assign(**columns, labels=out["labels"].values())[[*frame.columns, *OUTPUTS]]
    arrays = {name: _arrow_column(name, out[name]) for name in OUTPUTS}
    if kind == "polars":
        import polars as pl

        return frame.with_columns(pl.Series(name, arrays[name]) for name in OUTPUTS)
    for name in OUTPUTS:
        frame = frame.append_column(name, arrays[name])
    return frame


def _arrow_column(name: str, coded: Coded) -> Any:
    """table[codes] as an Arrow array: texts, or lists of texts for the labels."""
    text = pa.string()
    table = pa.array(coded.table, type=pa.list_(text) if name == "labels" else text)
    return table.take(pa.array(coded.codes))


def _pandas_texts(array: Any) -> Any:
    """An Arrow array of texts as pandas' own text column (its `str` dtype, gaps NaN),
    without a Python object a row; on a pandas without it, objects."""
    pd: Any = importlib.import_module("pandas")  # a pandas frame came in: pandas is there

    try:
        return pd.array(array, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    except (TypeError, ValueError):
        return array.to_numpy(zero_copy_only=False)
