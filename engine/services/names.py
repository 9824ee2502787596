"""Where each name an author declares is declared and used, and the node at an offset.

Names live in four kinds of place: values (inputs, lets and levels share one
namespace, as the checker has it), the bands of one level, tiers and labels.
`Key` says which: ("value", name), ("band", level, name), ("tier", name),
("label", name). Every occurrence is listed, `example` blocks included
(`given` keys are values, `expect` a tier, `labels` labels); `none` is no name.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.language import ast
from engine.language.source import Span

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Occurrence:
    key: Key
    span: Span
    declaration: bool
    kind: str  # input, let, level, band, tier, label (declarations); else the key's kind
    statement: ast.Statement

    @property
    def name(self) -> str:
        return self.key[-1]


class NameIndex:
    """Every occurrence of a declared (or declarable) name in a parsed file."""

    def __init__(self, statements: tuple[ast.Statement, ...]):
        self.occurrences: list[Occurrence] = []
        for statement in statements:
            self._statement(statement)
        self.occurrences.sort(key=lambda o: o.span.start)
        self._starts = [o.span.start for o in self.occurrences]
        self.by_key: dict[Key, list[Occurrence]] = {}
        for occurrence in self.occurrences:
            self.by_key.setdefault(occurrence.key, []).append(occurrence)

    def at(self, offset: int) -> Occurrence | None:
        """The occurrence under a cursor (one just after a name is on it)."""
        import bisect

        index = bisect.bisect_right(self._starts, offset) - 1
        for candidate in self.occurrences[max(0, index - 1) : index + 1][::-1]:
            if candidate.span.start <= offset <= candidate.span.end:
                return candidate
        return None

    def declarations(self, key: Key) -> list[Occurrence]:
        return [o for o in self.by_key.get(key, []) if o.declaration]

    def declared(self, kind: str) -> dict[str, Occurrence]:
        """The first declaration of each name of a kind (input, let, level, tier, …)."""
        found: dict[str, Occurrence] = {}
        for occurrence in self.occurrences:
            if occurrence.declaration and occurrence.kind == kind:
                found.setdefault(occurrence.name, occurrence)
        return found

    def _add(
        self, key: Key, name: ast.Name, declaration: bool, kind: str, stmt: ast.Statement
    ) -> None:
        if name.name == "none" and key[0] in ("tier", "label"):
            return
        self.occurrences.append(Occurrence(key, name.span, declaration, kind, stmt))

    def _statement(self, stmt: ast.Statement) -> None:
        match stmt:
            case ast.InputDecl(name=name):
                self._add(("value", name.name), name, True, "input", stmt)
            case ast.LevelDecl(name=name, source=source, bands=bands):
                self._add(("value", name.name), name, True, "level", stmt)
                self._add(("value", source.name), source, False, "value", stmt)
                for band in bands:
                    self._add(("band", name.name, band.name.name), band.name, True, "band", stmt)
                    for part in (band.bound.low, band.bound.high):
                        if part is not None:
                            self._expr(part, stmt)
            case ast.LetDecl(name=name, expr=expr):
                self._add(("value", name.name), name, True, "let", stmt)
                self._expr(expr, stmt)
            case ast.TierRule(name=name, when=when):
                self._add(("tier", name.name), name, True, "tier", stmt)
                self._expr(when, stmt)
            case ast.LabelRule(name=name, when=when):
                self._add(("label", name.name), name, True, "label", stmt)
                self._expr(when, stmt)
            case ast.OtherwiseRule(name=name):
                self._add(("tier", name.name), name, True, "tier", stmt)
            case ast.Example(given=given, expect=expect, labels=labels):
                for item in given:
                    self._add(("value", item.name.name), item.name, False, "value", stmt)
                self._add(("tier", expect.name), expect, False, "tier", stmt)
                for label in labels or ():
                    self._add(("label", label.name), label, False, "label", stmt)

    def _expr(self, expr: ast.Expr, stmt: ast.Statement) -> None:
        for node in ast.walk(expr):
            if isinstance(node, ast.LevelIs):
                self._add(("band", node.value.name, node.band.name), node.band, False, "band", stmt)
        for name in ast.value_names(expr):  # a band's name is a Name too, but not a value's
            self._add(("value", name.name), name, False, "value", stmt)


def path_at(statements: tuple[ast.Statement, ...], offset: int) -> list[object]:
    """The nodes whose spans hold `offset`, from the statement to the innermost."""
    path: list[object] = []
    level: list[object] = list(statements)
    while True:
        inside = [
            n
            for n in level
            if isinstance(getattr(n, "span", None), Span)
            and n.span.start <= offset <= n.span.end  # type: ignore[attr-defined]
            and n.span.end > n.span.start  # type: ignore[attr-defined]
        ]
        if not inside:
            return path
        node = min(inside, key=lambda n: n.span.end - n.span.start)  # type: ignore[attr-defined]
        path.append(node)
        level = list(ast.children(node))  # type: ignore[arg-type]
