"""A report as a list of blocks, written once and rendered three ways.

Comparisons and migrations say the same things on a terminal, in a
pull-request comment and in a page for a marketing lead, so each report is
built once as headings, paragraphs, tables, details and charts, and each
renderer writes those: `text` aligns columns for a terminal, `markdown`
writes GitHub tables (and `<details>`, which GitHub folds), `html` one
self-contained page with the charts inline as SVG (no script, no network).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import assert_never

import jinja2

from engine.python.terminal import printable


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    numeric: frozenset[int] = frozenset()  # columns aligned right
    marked: frozenset[tuple[int, int]] = frozenset()  # (row, column) cells to stress


@dataclass(frozen=True)
class Details:
    summary: str
    text: str  # preformatted


@dataclass(frozen=True)
class Chart:
    svg: str  # drawn in HTML only
    alt: str


Block = Heading | Para | Table | Details | Chart


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def render(document: Document, kind: str) -> str:
    if kind == "text":
        return text(document)
    if kind == "markdown":
        return markdown(document)
    if kind == "html":
        return page(document)
    raise ValueError(f"no renderer for {kind!r}")


def printable_blocks(document: Document) -> Document:
    """The document with every text that may hold data (ids, texts, set items, file
    names) made safe for a terminal (`engine.python.terminal`): a table cell, heading or
    title is one line, so its newlines are escaped too; paragraphs and details keep the
    report's own line breaks. Text and markdown go to terminals and to pull-request
    comments read in terminals; HTML escapes its own way."""

    def safe(block: Block) -> Block:
        match block:
            case Heading(words, level):
                return Heading(printable(words), level)
            case Para(words):
                return Para(printable(words, newlines=True))
            case Table():
                return replace(
                    block,
                    header=tuple(printable(h) for h in block.header),
                    rows=[tuple(printable(c) for c in row) for row in block.rows],
                )
            case Details(summary, body):
                return Details(printable(summary), printable(body, newlines=True))
            case Chart():
                return block
            case _:
                assert_never(block)

    return Document(printable(document.title), [safe(b) for b in document.blocks])


def text(document: Document) -> str:
    document = printable_blocks(document)
    out = [document.title, "=" * len(document.title)]
    for block in document.blocks:
        out.append("")
        match block:
            case Heading(words, level):
                out += [words, ("=" if level < 2 else "-") * len(words)]
            case Para(words):
                out.append(words)
            case Table():
                out += _aligned(block)
            case Details(summary, body):
                out += [summary] + ["    " + line for line in body.splitlines()]
            case Chart():
                out.pop()
    return "\n".join(out) + "\n"


def _aligned(table: Table) -> list[str]:
    grid = [table.header, *table.rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(table.header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in table.numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(table.header), "  ".join("-" * w for w in widths), *map(line, table.rows)]


def markdown(document: Document) -> str:
    document = printable_blocks(document)
    out = [f"# {document.title}"]
    for block in document.blocks:
        out.append("")
        match block:
            case Heading(words, level):
                out.append("#" * (level + 1) + " " + words)
            case Para(words):
                out.append(words)
            case Table():
                out += _markdown_table(block)
            case Details(summary, body):
                out += [
                    "<details>",
                    f"<summary>{html.escape(summary)}</summary>",
                    "",
                    "```",
                    body,
                    "```",
                    "</details>",
                ]
            case Chart():
                out.pop()
    return "\n".join(out) + "\n"


def _markdown_table(table: Table) -> list[str]:
    def cell(text: str, r: int, c: int) -> str:
        text = text.replace("|", "\\|").replace("\n", " ")
        return f"**{text}**" if (r, c) in table.marked and text else text

    rule = ["---:" if i in table.numeric else "---" for i in range(len(table.header))]
    lines = [
        "| " + " | ".join(cell(h, -1, -1) for h in table.header) + " |",
        "| " + " | ".join(rule) + " |",
    ]
    for r, row in enumerate(table.rows):
        lines.append("| " + " | ".join(cell(x, r, c) for c, x in enumerate(row)) + " |")
    return lines


_PAGE = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files("tierline.reports").joinpath(name).read_text(encoding="utf-8")
    ),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page(document: Document) -> str:
    kinds = {Heading: "heading", Para: "para", Table: "table", Details: "details", Chart: "chart"}
    blocks = [(kinds[type(b)], b) for b in document.blocks]
    return _PAGE.get_template("page.html.j2").render(title=document.title, blocks=blocks)
