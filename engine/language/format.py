"""The canonical layout of a rule file: `tierline fmt`.

One statement per line (levels and examples indent their parts by two
spaces), names aligned within a run of tiers, labels or bands, spellings the
author chose (`at least` or `>=`, `10k` or `10_000`) kept, comments kept, at
most one blank line where the author left one. Formatting never changes the
parsed AST (a property test holds this).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import assert_never

from engine.language import ast
from engine.language.parse import parse
from engine.language.source import Source

INDENT = "  "
MAX_WIDTH = 100
# Binding strength; a child weaker than its slot needs parentheses.
_OR, _AND, _NOT, _TEST, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)


def format_source(source: Source) -> str:
    """The formatted text of a file (raises RuleError on syntax errors)."""
    return format_file(parse(source), source)


@dataclass
class _Line:
    source_line: int
    text: str
    indent: str = ""
    trailing: str = ""
    leading: tuple[str, ...] = ()
    continues: bool = False  # never preceded by a blank line
    end_line: int = 0  # the statement's last source line, on its last output line


def format_file(rule_file: ast.RuleFile, source: Source) -> str:
    lines: list[_Line] = []
    statements = rule_file.statements
    for stmt, width in zip(statements, _name_widths(statements, source), strict=True):
        produced = _statement_lines(stmt, width)
        produced[-1].end_line = source.span(stmt.span.end, stmt.span.end).line
        lines.extend(produced)
    tail = _attach_comments(lines, rule_file.comments)
    return _render(lines, tail, source)


def _align_trailing(lines: list[_Line]) -> None:
    """Trailing comments on adjacent lines start in one column, as gofmt does."""
    run: list[_Line] = []
    for item in [*lines, None]:
        if (
            item is not None
            and item.trailing
            and not item.leading
            and (not run or item.source_line == run[-1].source_line + 1)
        ):
            run.append(item)
            continue
        width = max((len(i.indent + i.text) for i in run), default=0)
        for member in run:
            member.text = member.text.ljust(width - len(member.indent))
        run = [item] if item is not None and item.trailing else []


def _name_widths(statements: tuple[ast.Statement, ...], source: Source) -> list[int]:
    """For each statement, the name width to align to: the longest name in its run of
    like tiers or labels (0 for other statements). One pass over the file: a run's
    width is known at its end, then given to each member (finding the run again for
    every statement made `fmt` quadratic: 4,000 tiers took 8 s)."""
    widths = [0] * len(statements)
    start = 0
    for index in range(1, len(statements) + 1):
        if index < len(statements) and _same_run(statements[index - 1], statements[index], source):
            continue
        run = statements[start:index]
        if isinstance(run[0], ast.TierRule | ast.LabelRule):
            width = max(
                len(s.name.name) for s in run if isinstance(s, ast.TierRule | ast.LabelRule)
            )
            widths[start:index] = [width] * len(run)
        start = index
    return widths


def _same_run(a: ast.Statement, b: ast.Statement, source: Source) -> bool:
    return type(a) is type(b) and source.line_text(b.span.line - 1).strip() != ""


def _statement_lines(stmt: ast.Statement, width: int) -> list[_Line]:
    line = stmt.span.line
    match stmt:
        case ast.RulesetDecl(name=name):
            return [_Line(line, f"ruleset {name.name}")]
        case ast.VersionDecl(version=text):
            return [_Line(line, f"version {quote(text.value)}")]
        case ast.TitleDecl(title=text):
            return [_Line(line, f"title {quote(text.value)}")]
        case ast.PolicyDecl(policy=policy):
            return [_Line(line, f"policy {policy}")]
        case ast.InputDecl():
            decl = f"input {stmt.name.name}: {stmt.type.value}"
            if stmt.range is not None:
                decl += f" {bound_text(stmt.range)}"
            if stmt.optional:
                decl += " optional"
            if stmt.default is not None:
                decl += f" default {expr_text(stmt.default)}"
            return [_Line(line, decl)]
        case ast.LevelDecl(name=name, source=src, bands=bands):
            pad = max(len(b.name.name) for b in bands)
            head = _Line(line, f"level {name.name} from {src.name}")
            return [head] + [
                _Line(b.span.line, f"{b.name.name.ljust(pad)} {bound_text(b.bound)}", INDENT)
                for b in bands
            ]
        case ast.LetDecl(name=name, type=type_, expr=expr):
            typed = f": {type_.value}" if type_ else ""
            return [_Line(line, f"let {name.name}{typed} = {expr_text(expr)}")]
        case ast.TierRule(name=name, when=when) | ast.LabelRule(name=name, when=when):
            word = "tier" if isinstance(stmt, ast.TierRule) else "label"
            return _wrapped(line, f"{word} {name.name.ljust(width)} when ", when)
        case ast.OtherwiseRule(name=name):
            return [_Line(line, f"otherwise {name.name}")]
        case ast.Example():
            given = ", ".join(f"{g.name.name} {expr_text(g.value)}" for g in stmt.given)
            expect = f"expect {stmt.expect.name}"
            if stmt.labels is not None:
                expect += " labels " + (", ".join(n.name for n in stmt.labels) or "none")
            return [
                _Line(line, f"example {quote(stmt.description.value)}"),
                _Line(stmt.given[0].span.line, f"given {given}", INDENT, continues=True),
                _Line(stmt.expect.span.line, expect, INDENT, continues=True),
            ]
        case _:
            assert_never(stmt)


def _wrapped(line: int, head: str, when: ast.Expr) -> list[_Line]:
    """A long condition breaks before each top-level `and` / `or`, indented."""
    text = head + expr_text(when)
    if len(text) <= MAX_WIDTH or not isinstance(when, ast.AllOf | ast.AnyOf):
        return [_Line(line, text)]
    word, slot = ("and", _NOT) if isinstance(when, ast.AllOf) else ("or", _AND)
    first, *rest = when.parts
    return [_Line(line, head + _sub(first, slot))] + [
        _Line(part.span.line, f"{word} {_sub(part, slot)}", INDENT, continues=True) for part in rest
    ]


def _attach_comments(lines: list[_Line], comments: tuple[ast.Comment, ...]) -> list[ast.Comment]:
    """Trailing comments stay on their line; the others go before the next line.
    Lines are in source order, so each comment finds its line by bisection."""
    tail: list[ast.Comment] = []
    by_line: dict[int, _Line] = {}
    for item in lines:
        by_line[item.source_line] = item
    starts = [item.source_line for item in lines]
    ends = [item for item in lines if item.end_line]
    end_starts = [item.source_line for item in ends]
    for comment in comments:
        line = comment.span.line
        target = None
        if not comment.own_line:  # on its statement's own line, or on one it continued to
            target = by_line.get(line) or _continued(ends, end_starts, line)
        if target is not None and not target.trailing:
            target.trailing = comment.text
            continue
        after = bisect.bisect_right(starts, line)
        if after == len(lines):
            tail.append(comment)
        else:
            lines[after].leading = (*lines[after].leading, comment.text)
    return tail


def _continued(ends: list[_Line], end_starts: list[int], line: int) -> _Line | None:
    """The statement whose source lines (first to last) hold `line`, if any: statements
    do not share lines, so it is the last one starting at or before it."""
    index = bisect.bisect_right(end_starts, line) - 1
    if index >= 0 and ends[index].end_line >= line:
        return ends[index]
    return None


def _render(lines: list[_Line], tail: list[ast.Comment], source: Source) -> str:
    _align_trailing(lines)
    out: list[str] = []
    for item in lines:
        first_line = item.source_line - len(item.leading)
        if out and not item.continues and source.line_text(first_line - 1).strip() == "":
            out.append("")
        out.extend(item.indent + c for c in item.leading)
        text = item.indent + item.text
        out.append(f"{text}  {item.trailing}" if item.trailing else text)
    if tail:
        if out and source.line_text(tail[0].span.line - 1).strip() == "":
            out.append("")
        out.extend(c.text for c in tail)
    return "\n".join(out) + "\n" if out else ""


# ------------------------------------------------------------------ expressions


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def bound_text(bound: ast.Bound) -> str:
    if bound.op == "":
        return "otherwise"
    assert bound.low is not None
    if bound.op == "between":
        assert bound.high is not None
        return f"between {_sub(bound.low, _SUM)} and {_sub(bound.high, _SUM)}"
    return f"{bound.spelling} {_sub(bound.low, _SUM)}"


def expr_text(expr: ast.Expr) -> str:
    return _text(expr)[0]


def _sub(expr: ast.Expr, slot: int) -> str:
    text, strength = _text(expr)
    return f"({text})" if strength < slot else text


def _set(items: ast.TextSet) -> str:
    return "{" + ", ".join(quote(t.value) for t in items.items) + "}"


def _text(expr: ast.Expr) -> tuple[str, int]:
    match expr:
        case ast.Name(name=name):
            return name, _ATOM
        case ast.Number(text=text):
            return text, (_UNARY if text.startswith("-") else _ATOM)
        case ast.Text(value=value):
            return quote(value), _ATOM
        case ast.Flag(value=value):
            return ("true" if value else "false"), _ATOM
        case ast.TextSet():
            return _set(expr), _ATOM
        case ast.Arith(op=op, left=left, right=right):
            strength = _SUM if op in "+-" else _PRODUCT
            return f"{_sub(left, strength)} {op} {_sub(right, strength + 1)}", strength
        case ast.Neg(operand=operand):
            return f"-{_sub(operand, _UNARY)}", _UNARY
        case ast.Compare(value=value, spelling=spelling, bound=bound):
            return f"{_sub(value, _SUM)} {spelling} {_sub(bound, _SUM)}", _TEST
        case ast.Between(value=value, low=low, high=high):
            return f"{_sub(value, _SUM)} between {_sub(low, _SUM)} and {_sub(high, _SUM)}", _TEST
        case ast.InSet(value=value, items=items, negated=negated):
            word = "not in" if negated else "in"
            return f"{_sub(value, _SUM)} {word} {_set(items)}", _TEST
        case ast.Has(value=value, mode=mode, items=items):
            if mode == "one":
                return f"{_sub(value, _SUM)} has {quote(items.items[0].value)}", _TEST
            return f"{_sub(value, _SUM)} has {mode} of {_set(items)}", _TEST
        case ast.LevelIs(value=value, band=band, spelling=spelling):
            word = f" {spelling} " if spelling else " "
            return f"{value.name}{word}{band.name}", _TEST
        case ast.TextIs(value=value, text=text, negated=negated):
            word = "is not" if negated else "is"
            return f"{_sub(value, _SUM)} {word} {quote(text.value)}", _TEST
        case ast.AllOf(parts=parts):
            return " and ".join(_sub(p, _NOT) for p in parts), _AND
        case ast.AnyOf(parts=parts):
            return " or ".join(_sub(p, _AND) for p in parts), _OR
        case ast.Not(part=part):
            return f"not {_sub(part, _NOT)}", _NOT
        case _:
            assert_never(expr)
