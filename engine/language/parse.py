"""Rule-file text → `RuleFile` AST, or a `RuleError` with every syntax error.

The file is cut into statements first: a statement starts at a line that is
not indented (or whose first word is a statement keyword), and continues on
indented lines. Each statement is parsed on its own, so one broken statement
costs one diagnostic and the rest of the file is still read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lark.exceptions import UnexpectedInput, VisitError

from engine.language import ast
from engine.language.build import Builder, BuildError
from engine.language.diagnostics import Diagnostic, RuleError
from engine.language.grammar import CONTINUATION_WORDS, STATEMENT_KEYWORDS, parser
from engine.language.source import Source
from engine.language.syntax_errors import syntax_diagnostic

MAX_DEPTH = 100
_FIRST_WORD = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*|\S?)")


def parse(source: Source) -> ast.RuleFile:
    """Parse a whole file; raise `RuleError` with one diagnostic per broken statement."""
    statements: list[ast.Statement] = []
    diagnostics: list[Diagnostic] = []
    words: set[str] = set()
    for start, end in split_statements(source.text):
        result = parse_statement(source, start, end)
        if isinstance(result, Diagnostic):
            diagnostics.append(result)
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source.text[start:end]))
        else:
            statements.append(result)
    if diagnostics:
        partial = ast.RuleFile(tuple(statements))
        raise PartialParse(source, diagnostics, partial, frozenset(words))
    return ast.RuleFile(tuple(statements), tuple(comments(source)))


class PartialParse(RuleError):
    """Syntax errors, with the statements that did parse (so the checker can still run)."""

    def __init__(
        self,
        source: Source,
        diagnostics: list[Diagnostic],
        partial: ast.RuleFile,
        words: frozenset[str],
    ):
        super().__init__(source, diagnostics)
        self.partial = partial
        self.words = words  # every word of the statements that failed


def split_statements(text: str) -> Iterator[tuple[int, int]]:
    """Offsets of each statement's text: a statement ends where the next begins."""
    start: int | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        match = _FIRST_WORD.match(line)
        word = match.group(1) if match else ""
        indented = line[:1] in (" ", "\t")
        begins = word in STATEMENT_KEYWORDS or (
            not indented and word not in ("", "#") and word not in CONTINUATION_WORDS
        )
        if begins:
            if start is not None:
                yield start, offset
            start = offset
        elif start is None and word not in ("", "#"):
            start = offset  # an indented first line: parse it to report it
        offset += len(line)
    if start is not None:
        yield start, offset


def comments(source: Source) -> Iterator[ast.Comment]:
    """Comments with their spans; `own_line` tells a leading comment from a trailing one."""
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)', source.text):
        if match.group(1) is None:
            continue
        start = match.start(1)
        line_start = source.text.rfind("\n", 0, start) + 1
        own_line = source.text[line_start:start].strip() == ""
        yield ast.Comment(
            match.group(1).rstrip(), source.span(start, match.end(1)), own_line=own_line
        )


def parse_statement(source: Source, start: int, end: int) -> ast.Statement | Diagnostic:
    text = source.text[start:end]
    try:
        tree = parser().parse(text)
        builder = Builder(source, start)
        statement: ast.Statement = builder.transform(tree)
    except UnexpectedInput as error:
        return syntax_diagnostic(source, start, text, error)
    except (RecursionError, VisitError) as error:
        if isinstance(error, VisitError) and isinstance(error.orig_exc, BuildError):
            return error.orig_exc.diagnostic
        return _too_deep(source, start, text)
    if _depth(statement) > MAX_DEPTH:
        return _too_deep(source, start, text)
    return statement


def _too_deep(source: Source, start: int, text: str) -> Diagnostic:
    width = len(text.split("\n", 1)[0])
    return Diagnostic(
        "too-deep",
        f"this statement is nested more than {MAX_DEPTH} levels deep",
        source.span(start, start + width),
        "split it with `let` definitions",
    )


def _depth(node: object) -> int:
    """Nesting depth of an AST, walked without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        for name in getattr(current, "__slots__", ()):
            child = getattr(current, name)
            children = child if isinstance(child, tuple) else (child,)
            stack.extend((c, depth + 1) for c in children if hasattr(c, "__slots__"))
    return deepest
