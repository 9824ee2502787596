"""Which columns of a table hold which inputs, on any engine.

In: the inputs the rules declare (merged over several rulesets by `inputs_of`), the
table's column names, the `--map` and `--id` options. Out: each input's columns
(none for an optional input the table lacks; several for a set of text read from
several) and the id column (`match_columns`), or a `TableError` that says what the
table has and how to map it. `--map` and `--id` find a column by its name exactly or
with runs of spaces and newlines read as one space, trimmed (headers of exports carry
them). DuckDB's staging (`read.py`) and Spark's (`spark.py`) both go through here
(`plan.plan_stage`), so a table is matched the same way on both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from engine.checker.model import CheckedRuleset, Input, names_in
from engine.language.ast import TypeName
from tierline.tables import cells

T = TypeName


class TableError(Exception):
    """The files or their columns cannot be classified as asked (a usage error)."""


def inputs_of(rulesets: list[CheckedRuleset]) -> dict[str, Input]:
    """The inputs that several rulesets read from one table: an input two rulesets
    declare must have one type in both, and it is optional only if it is in each."""
    merged: dict[str, Input] = {}
    for checked in rulesets:
        for name, decl in checked.inputs.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = decl
            elif seen.type is not decl.type:
                raise TableError(
                    f"the rulesets read {name} as different types: {seen.type.value} in one, "
                    f"{decl.type.value} in {checked.name}; give it one type in every file"
                )
            elif seen.optional and not decl.optional:
                merged[name] = decl
    return merged


def match_columns(
    inputs: Mapping[str, Input],
    names: list[str],
    mapping: Mapping[str, str],
    id_column: str | None,
    needed_by: Mapping[str, Sequence[CheckedRuleset]] | None = None,
) -> tuple[dict[str, tuple[str, ...]], str]:
    """Each input's columns (none: an optional input the files lack; several: a set of
    text read from several, `--map topics=category_1,category_2`) and the id column
    ("row" when there is none); TableError for what cannot be matched, on any engine.
    `needed_by` names the rulesets that require each input, for the message when the
    files lack it."""
    unknown = sorted(set(mapping) - set(inputs))
    if unknown:
        raise TableError(
            f"--map names {', '.join(unknown)}, which the rules do not declare "
            f"(inputs: {', '.join(inputs)})"
        )
    found: dict[str, tuple[str, ...]] = {}
    for name, decl in inputs.items():
        if name in mapping:
            found[name] = _mapped(decl, mapping[name], names)
            continue
        column = find_column(names, name, False)
        if column is None and not decl.optional:
            raise TableError(_lacking(decl, names, (needed_by or {}).get(name, ())))
        found[name] = () if column is None else (column,)
    found_id = find_column(names, id_column or "id", id_column is not None)
    if id_column is not None and found_id is None:
        raise TableError(f"--id {id_column}: no such column; the files have {_listing(names)}")
    return found, found_id or "row"


def _mapped(decl: Input, mapped: str, names: list[str]) -> tuple[str, ...]:
    """The columns of `--map NAME=MAPPED`: a column of that name (commas and all), or
    the columns it lists between commas, which only a set of text may have."""
    whole = find_column(names, mapped, True)
    if whole is not None:
        return (whole,)
    try:
        parts = cells.several(mapped)
    except ValueError as error:
        raise TableError(f"--map {decl.name}={mapped}: {error}") from None
    if len(parts) > 1 and decl.type is not T.TEXT_SET:
        raise TableError(
            f"--map {decl.name}={mapped}: {decl.name} is a {decl.type.value}, read from one "
            "column; only a set of text takes several (the union of their items)"
        )
    columns = [find_column(names, part, True) for part in parts]
    missing = [part for part, column in zip(parts, columns, strict=True) if column is None]
    if missing:
        raise TableError(
            f"--map {decl.name}={mapped}: the files have no column "
            f"{', '.join(repr(m) for m in missing)}; they have {_listing(names)}"
        )
    return tuple(c for c in columns if c is not None)


_DEFAULTS = {T.COUNT: "default 0", T.NUMBER: "default 0", T.PERCENT: "default 0%",
             T.TEXT: 'default ""', T.FLAG: "default false", T.TEXT_SET: ""}  # fmt: skip


def _lacking(decl: Input, names: list[str], needed_by: Sequence[CheckedRuleset]) -> str:
    """Why the files cannot be classified without a column for `decl`, and the ways out:
    `--map`, or, when no tier reads it (only labels do, or nothing), declaring it
    optional; a tier that reads a default instead of the account's value would be an
    answer that looks right and is not, so that is not offered."""
    rulesets = list(dict.fromkeys(r.name for r in needed_by))  # diff: old and new, once
    listed = ", ".join(rulesets)
    who = ""
    if rulesets:
        who = (
            f", which ruleset {listed} requires"
            if len(rulesets) == 1
            else f", which rulesets {listed} require"
        )
    said = (
        f"no column for the input {decl.name}{who}: the files have {_listing(names)}; "
        f"use --map {decl.name}=COLUMN"
    )
    if rulesets and not any(_tiers_read(r, decl.name) for r in needed_by):
        declared = f"input {decl.name}: {decl.type.value} optional {_DEFAULTS[decl.type]}"
        said += (
            f"; or, since no tier of {listed} reads it, declare it optional "
            f"{'there' if len(rulesets) == 1 else 'in each'}: `{declared.rstrip()}`"
        )
    return said


def _tiers_read(ruleset: CheckedRuleset, name: str) -> bool:
    reading = ruleset.depending_on([name])
    return any(r.when is not None and names_in(r.when) & reading for r in ruleset.tiers)


def required_by(rulesets: Sequence[CheckedRuleset]) -> dict[str, list[CheckedRuleset]]:
    """For each input, the rulesets that require it (declare it, not optional)."""
    found: dict[str, list[CheckedRuleset]] = {}
    for checked in rulesets:
        for name, decl in checked.inputs.items():
            if not decl.optional:
                found.setdefault(name, []).append(checked)
    return found


def _normal(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def find_column(names: list[str], wanted: str, asked: bool) -> str | None:
    """The column named `wanted`, exactly or with its spaces and newlines normalised."""
    if wanted in names:
        return wanted
    matches = [n for n in names if _normal(n) == _normal(wanted)]
    if len(matches) > 1 and asked:
        raise TableError(f"{wanted!r} could be any of {_listing(matches)}; name one exactly")
    return matches[0] if len(matches) == 1 else None


def _listing(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)
