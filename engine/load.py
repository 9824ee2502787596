"""From bytes or text to a CheckedRuleset: the front half of the pipeline.

Whatever a file holds (empty, binary, not UTF-8, huge, deeply nested), the
result is a CheckedRuleset or a RuleError, never another exception.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.checker.check import check
from engine.checker.model import CheckedRuleset
from engine.language import codes
from engine.language.ast import RuleFile
from engine.language.diagnostics import (
    MAX_PER_CODE,
    Diagnostic,
    RuleError,
    Severity,
    bounded,
)
from engine.language.parse import PartialParse, parse
from engine.language.source import Source
from engine.python.values import ClassifyError

if TYPE_CHECKING:
    from engine.analysis.memo import AnalysisMemo
    from engine.analysis.prove import Replay

MAX_SOURCE_BYTES = 16 * 1024 * 1024
SOLVER_MS = 1_000  # the solver's budget for one query: ample for any rule people write


def _replay(checked: CheckedRuleset) -> Replay:
    """Whether each rule holds for a witness, by the reference interpreter: the
    analysis runs before the ruleset is compiled, and it checks every account it
    reports against an evaluator."""
    from engine.python.interpret import conditions

    def replay(account: dict[str, Any]) -> Mapping[tuple[str, str], bool] | None:
        try:
            return conditions(checked, account)
        except ClassifyError:
            return None

    return replay


def _not_too_large(size: int, path: str) -> None:
    if size > MAX_SOURCE_BYTES:
        source = Source("", path)
        raise RuleError(
            source,
            [codes.FILE_TOO_LARGE.at(source.span(0, 0), size=size, limit=MAX_SOURCE_BYTES)],
        )


def decode(data: bytes, path: str) -> Source:
    """Rule files are UTF-8; anything else is one clear diagnostic."""
    _not_too_large(len(data), path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        good = data[: error.start].decode("utf-8")
        source = Source(good + "\ufffd", path)
        raise RuleError(
            source,
            [
                codes.NOT_UTF8.at(
                    source.span(len(good), len(good) + 1),
                    offset=error.start,
                    byte=data[error.start],
                )
            ],
        ) from None
    return Source(text.removeprefix("\ufeff"), path)


def read_source(path: str | Path) -> Source:
    """A file's size is known before it is read (a 3 GB file is refused unread), and no
    more than the limit is read from what has no size (a pipe: `check <(…)`). Opening
    never waits: a FIFO nobody writes to (`mkfifo rules/x.tiers`) reads as empty instead
    of blocking the command forever; one that has a writer is read as a pipe."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    os.set_blocking(descriptor, True)  # opened without waiting; a pipe's reads may wait
    with open(descriptor, "rb") as handle:
        _not_too_large(os.fstat(handle.fileno()).st_size, str(path))
        data = handle.read(MAX_SOURCE_BYTES + 1)
    _not_too_large(len(data), str(path))
    return decode(data, str(path))


def analyse_checked(
    checked: CheckedRuleset,
    *,
    solver_ms: int = SOLVER_MS,
    memo: AnalysisMemo | None = None,
    generation: int | None = None,
) -> CheckedRuleset:
    """What `check_source` gives for a file whose `check_source(..., analyse=False)` gave
    `checked` without bounding its warnings (at most MAX_PER_CODE of them, none a
    summary): the language server analyses the ruleset it already checked, instead
    of parsing and checking the file a second time. `memo` and `generation`: see
    engine/analysis/memo.py."""
    if len(checked.warnings) > MAX_PER_CODE or any(d.omitted for d in checked.warnings):
        raise ValueError("the warnings were bounded: analyse the source with check_source")
    try:
        return _analysed(checked, True, solver_ms, memo, generation)
    except RecursionError:
        raise RuleError(
            checked.source, [codes.TOO_DEEP.at(checked.source.span(0, 0), "file")]
        ) from None


def _analysed(
    checked: CheckedRuleset,
    analyse: bool,
    solver_ms: int,
    memo: AnalysisMemo | None,
    generation: int | None = None,
) -> CheckedRuleset:
    """The analysis's findings added to a checked ruleset; a RuleError with every
    diagnostic when one of them is an error."""
    from engine.analysis.analyze import analyze

    found = analyze(checked, _replay(checked), solver_ms, memo, generation) if analyse else []
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise RuleError(checked.source, [*found, *checked.warnings])
    if found or len(checked.warnings) > MAX_PER_CODE:
        warnings = bounded([*checked.warnings, *found], by_position=False)
        checked = replace(checked, warnings=tuple(warnings))
    return checked


def check_source(
    source: Source,
    *,
    name: str | None = None,
    analyse: bool = True,
    solver_ms: int = SOLVER_MS,
    parse_with: Callable[[Source], RuleFile] = parse,
    memo: AnalysisMemo | None = None,
    generation: int | None = None,
) -> CheckedRuleset:
    """Parse, check and analyse; every error of the file in one RuleError, and the
    analysis's warnings on the CheckedRuleset. (`analyse=False` skips overlap and
    reachability analysis: tests use it to compare evaluators on rulesets the analysis
    would refuse.) `solver_ms` is the solver's budget for each of its queries.

    `parse_with` parses (raising PartialParse like `parse`): the language server passes
    one that keeps each statement's reading between edits (engine/services), and `memo`
    to keep the analysis's results for the next version (engine/analysis/memo.py).

    The solver is imported here, not with the module: `read_source` and `decode` serve
    commands that never analyse (`tierline fmt`), and loading z3 is most of their start."""
    if source.text.startswith("\ufeff"):  # a BOM, as some editors save: not part of the rules
        source = Source(source.text[1:], source.path)
    syntax: list[Diagnostic] = []
    maybe_declared = None
    try:
        rule_file = parse_with(source)
    except PartialParse as error:
        syntax = error.diagnostics
        rule_file = error.partial
        maybe_declared = error.words
    try:
        checked = check(source, rule_file, name=name, maybe_declared=maybe_declared)
        return _analysed(checked, analyse, solver_ms, memo, generation)
    except RuleError as error:
        raise RuleError(source, syntax + error.diagnostics) from None
    except RecursionError:
        raise RuleError(
            source,
            [codes.TOO_DEEP.at(source.span(0, 0), "file")],
        ) from None
