"""One statement's text → its syntax tree, or every error in it.

A parser stops at the first token it cannot place, so a line with a decimal
comma used to hide the `10.000` after it until the comma was fixed: errors
arrived in waves. Here a statement that does not parse is read again:

1. every mistake `mistakes.py` recognises is reported, and repaired when the
   spelling meant is certain (`3,0 %` → `3.0%`, `≥` → `>=`, `TIER` → `tier`);
2. the repaired text is parsed again; an error no habit explains is reported
   as lark sees it (`syntax_errors.py`), and when its hint names a spelling
   (`betwen` → `between`, 'x' → "x") that is repaired too, and so on, as long
   as each repair moves the parser on;
3. a statement that now parses is built (`build.py`, which reports every
   `10.000` and every number past a double); one that still does not has its
   numbers looked at all the same.

A repair only ever serves to read further: nothing repaired is accepted, the
file still fails. An error that lands on a repaired spot, or that a repair did
not move past, is not reported, so a guess never shows as an error of its own.
When every problem of the statement had a sure repair (a guessed keyword is
not sure: `syntax_errors.py`) and the repaired statement builds, it is handed
to the checker, which can then report the unknown names and wrong types of the
same line in the same run.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

from lark import Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken, VisitError

from engine.language import ast, codes
from engine.language.build import Builder, number_problem
from engine.language.diagnostics import Diagnostic
from engine.language.draft import Draft
from engine.language.grammar import keywords, parser
from engine.language.mistakes import blank_texts, mistakes
from engine.language.source import Source, Span
from engine.language.syntax_errors import syntax_diagnostic

MAX_DEPTH = 100
MAX_REPAIRS = 20  # per statement: ample for a line written by a person
_NUMBER = re.compile(r"(?<![\w.])[0-9][0-9_]*(?:\.[0-9][0-9_]*)?[kKMB%]?(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class Reading:
    """What was read of one statement.

    `statement` is None when the statement could not be read whole or cannot be
    checked; with diagnostics and a statement, it is the repaired one, or one with
    its unreadable numbers as names (`build.py`). `maybe_declared`: the names the
    checker must take for unknown values rather than mistakes: those numbers, or
    for a statement read whole but not checked, the names it declares; None when
    even that is not known (then every word of the statement may be a name it
    declares)."""

    statement: ast.Statement | None
    diagnostics: tuple[Diagnostic, ...] = ()
    maybe_declared: frozenset[str] | None = None


def read_statement(source: Source, start: int, end: int) -> Reading:
    """Parse source.text[start:end]; on errors, every error recovery can find."""
    draft = Draft(source, start, source.text[start:end])
    try:
        return _build(draft, parser().parse(draft.text))
    except UnexpectedInput as error:
        first: UnexpectedInput | None = error
    except RecursionError:
        return Reading(None, (_too_deep(draft),))
    found = mistakes(draft.text)
    reported = [
        codes.SYNTAX.at(draft.span(m.start, m.end), hint=m.hint, message=m.message) for m in found
    ]
    # a mistake only the author can fix: the parser is not followed past it
    stop = min((m.start for m in found if m.repair is None), default=None)
    draft.apply(edit for m in found for edit in m.repair or ())
    return _read_on(draft, reported, None if found else first, stop)


def _read_on(
    draft: Draft, reported: list[Diagnostic], error: UnexpectedInput | None, stop: int | None
) -> Reading:
    """Parse the draft again after each repair, until it parses or cannot be repaired;
    `stop` (as written) is where a mistake without a repair is, if there is one."""
    last = -1  # where the last error a repair answered was, as written
    guessed = False  # a repair was a guess
    for _ in range(MAX_REPAIRS):
        if error is None:
            try:
                tree = parser().parse(draft.text)
            except UnexpectedInput as again:
                error = again
            except RecursionError:
                return Reading(None, (*reported, _too_deep(draft)))
            else:
                built = _build(draft, tree)
                if stop is not None or guessed:  # what the checker would see is not sure
                    return Reading(None, (*reported, *built.diagnostics))
                return Reading(
                    built.statement, (*reported, *built.diagnostics), built.maybe_declared
                )
        at = draft.origin(_position(draft, error))
        diagnostic, repair = syntax_diagnostic(draft, error)
        if (
            at <= last  # the last repair did not move the parser on
            or (stop is not None and at >= stop)
            or any(_overlap(diagnostic.span, d.span) for d in reported)  # reported there
            or _keyword_read_as_name(draft, error)  # a repair was not read as meant
        ):
            break
        reported.append(diagnostic)
        if repair is None:
            break
        last = at
        draft.apply(repair.edits)
        guessed = guessed or not repair.sure
        error = None
    return Reading(None, (*reported, *_numbers(draft, reported)))


def _position(draft: Draft, error: UnexpectedInput) -> int:
    """Where lark stopped, in the draft."""
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        return len(draft.text.rstrip())
    if isinstance(error, UnexpectedToken):
        return error.token.start_pos or 0
    return error.pos_in_stream or 0  # UnexpectedCharacters: where the lexer stopped


def _keyword_read_as_name(draft: Draft, error: UnexpectedInput) -> bool:
    """Whether the token read just before the error is a keyword a repair wrote that the
    parser took for a name (`followers TIER at least`: `tier` is no keyword there): the
    error after it comes from the repair, not from the author."""
    token = _last_read(error)
    if token is None or token.type != "NAME":
        return False
    start = draft.origin(token.start_pos or 0)
    return any(
        first <= start < max(last, first + 1) and spelling in keywords()
        for first, last, spelling in draft.repairs
    )


def _last_read(error: UnexpectedInput) -> Token | None:
    """The last token lark read before the one it could not place, if it says."""
    history = getattr(error, "token_history", None)
    if history:
        last = history[-1]
        return last if isinstance(last, Token) else None
    stack = getattr(getattr(error, "state", None), "value_stack", None)
    item = stack[-1] if stack else None
    while isinstance(item, Tree) and item.children:
        item = item.children[-1]
    return item if isinstance(item, Token) else None


def _overlap(a: Span, b: Span) -> bool:
    return a.start < max(b.end, b.start + 1) and b.start < max(a.end, a.start + 1)


def _numbers(draft: Draft, reported: list[Diagnostic]) -> list[Diagnostic]:
    """The numbers of a statement that did not parse whole that could not be read as
    written (`10.000`, past a double): the parser never reached them, the author
    should not have to wait for it."""
    taken = sorted((d.span.start, max(d.span.end, d.span.start + 1)) for d in reported)
    starts = [start for start, _ in taken]
    reach = list(itertools.accumulate((end for _, end in taken), max))  # furthest end so far
    found = []
    for match in _NUMBER.finditer(blank_texts(draft.text)):
        problem = number_problem(match.group(0), draft.span(*match.span()))
        if problem is None:
            continue
        before = bisect.bisect_left(starts, max(problem.span.end, problem.span.start + 1))
        if before == 0 or reach[before - 1] <= problem.span.start:  # no reported range overlaps
            found.append(problem)
    return found


def _build(draft: Draft, tree: Tree[Token]) -> Reading:
    """The statement from its parse tree, or every problem the building found."""
    builder = Builder(draft.source, draft.base, draft.origin)
    try:
        statement: ast.Statement = builder.transform(tree)
    except (RecursionError, VisitError):
        return Reading(None, (_too_deep(draft),))
    if len(draft.text) + _DEPTH_WITHOUT_TEXT > MAX_DEPTH and _depth(statement) > MAX_DEPTH:
        return Reading(None, (_too_deep(draft),))
    if not builder.problems:
        return Reading(statement)
    problems = tuple(builder.problems)
    if isinstance(statement, _EXPRESSIONS_ONLY) and all(
        p.code in (codes.AMBIGUOUS_NUMBER.name, codes.NUMBER_TOO_LARGE.name) for p in problems
    ):  # every number there may be a name: checked, the numbers as unknown values
        return Reading(statement, problems, frozenset(builder.unreadable))
    return Reading(None, problems, _declares(statement))  # bands, ranges, examples: literals


_EXPRESSIONS_ONLY = (ast.TierRule, ast.LabelRule, ast.LetDecl)


def _declares(statement: ast.Statement) -> frozenset[str]:
    """The names a statement declares (uses of names declare nothing)."""
    match statement:
        case ast.LevelDecl(name=name, bands=bands):
            return frozenset([name.name, *(band.name.name for band in bands)])
        case (
            ast.InputDecl(name=name)
            | ast.LetDecl(name=name)
            | ast.TierRule(name=name)
            | ast.LabelRule(name=name)
            | ast.OtherwiseRule(name=name)
        ):
            return frozenset([name.name])
    return frozenset()


def _too_deep(draft: Draft) -> Diagnostic:
    width = len(draft.source.text[draft.base :].split("\n", 1)[0])
    return codes.TOO_DEEP.at(
        draft.source.span(draft.base, draft.base + width), "statement", depth=MAX_DEPTH
    )


# Every level of nesting below a statement's first few is written with at least one
# character (a parenthesis, `not`, an operator, a comma), so a statement shorter than
# MAX_DEPTH less these levels cannot be too deep: the walk is skipped (it cost a tenth
# of reading a file of 10,000 short tiers).
_DEPTH_WITHOUT_TEXT = 20


def _depth(node: ast.Node) -> int:
    """Nesting depth of an AST, walked without recursion. The span under the deepest
    node counts as one more level (the first walk went into every slot, spans too, and
    MAX_DEPTH was set by it): a statement too deep before is too deep now, and no other."""
    deepest = 0
    stack: list[tuple[ast.Node, int]] = [(node, 2)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in ast.children(current))
    return deepest
