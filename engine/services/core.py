"""The core of a `Document`: one version of a rule file's text, read once, and the
answers about names, diagnostics, outline, examples and formatting.

Each answer is computed on first use and kept (a document is one text; an
edit makes a new `Document`). Parsing recovers from errors, so a broken file
still has names, completion and hover for what could be read.
"""

from __future__ import annotations

import bisect
import re

from engine.checker.model import CheckedRuleset
from engine.language import ast
from engine.language.diagnostics import MAX_PER_CODE, RuleError, Severity
from engine.language.diagnostics import Diagnostic as EngineDiagnostic
from engine.language.format import format_file
from engine.language.grammar import keywords
from engine.language.parse import PartialParse, parse, split_statements
from engine.language.source import Source, Span
from engine.load import SOLVER_MS, analyse_checked, check_source
from engine.ruleset import Ruleset
from engine.services.answers import (
    Diagnostic,
    ExampleOutcome,
    RenameError,
    Symbol,
)
from engine.services.incremental import StatementCache
from engine.services.names import NameIndex, Occurrence, path_at
from engine.services.positions import LineIndex, Position, Range, TextEdit


def _without_bom(text: str) -> str:
    """The text with a leading byte-order mark read as a space (same length)."""
    return " " + text[1:] if text.startswith("\ufeff") else text


_NOT_NAMES = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*')  # texts and comments
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class DocumentCore:
    """One version of a rule file. `path` names it in diagnostics; `cache` (a
    `StatementCache` kept by whoever holds the successive versions of one document,
    as `tierline lsp` does) makes parsing a new version cost only the statements that
    changed; only the newest version's answers are then to be read (incremental.py).
    `solver_ms`: the analysis's budget for each solver query, as `tierline check`'s."""

    def __init__(
        self,
        text: str,
        path: str = "<text>",
        *,
        cache: StatementCache | None = None,
        solver_ms: int = SOLVER_MS,
    ):
        self.text = text
        self.path = path
        # A byte-order mark (as some editors save) is not part of the rules: it is read
        # as a space, one character for one, so that every span of the parse is an
        # offset into `text` (an LSP position counts the mark as one UTF-16 unit too)
        # and `check_source` has no mark to strip. Stripping it there instead parsed a
        # second, shorter text through the shared statement cache, which moved this
        # version's spans one character back and counted a parse that made the memo
        # refuse every run (tested: tests/test_lsp_services.py, a file with a BOM).
        self.source = Source(_without_bom(text), path)
        self.lines = LineIndex(text)
        self.solver_ms = solver_ms
        self._cache = cache
        self.cache = cache  # what the quick fixes read their what-if texts with (scratch())
        self._parsed: tuple[ast.RuleFile, list[EngineDiagnostic], frozenset[str]] | None = None
        self._index: NameIndex | None = None
        self._checked: tuple[CheckedRuleset | None, list[EngineDiagnostic]] | None = None
        self._analysed: list[EngineDiagnostic] | None = None
        self._generation: int | None = None  # the memo's generation when this text was read
        self._examples: list[ExampleOutcome] | None = None

    # ------------------------------------------------------------- the stages

    def _parse(self, source: Source) -> ast.RuleFile:
        return self._cache.parse(source) if self._cache is not None else parse(source)

    @property
    def rule_file(self) -> ast.RuleFile:
        """The statements that could be read (all of them when there is no syntax error)."""
        return self._parse_once()[0]

    @property
    def syntax_errors(self) -> list[EngineDiagnostic]:
        return self._parse_once()[1]

    def _parse_once(self) -> tuple[ast.RuleFile, list[EngineDiagnostic], frozenset[str]]:
        if self._parsed is None:
            try:
                self._parsed = (self._parse(self.source), [], frozenset())
            except PartialParse as error:
                self._parsed = (error.partial, list(error.diagnostics), error.words)
            if self._cache is not None:  # this version's spans hold until the next parse
                self._generation = self._cache.analysis.generation
        return self._parsed

    @property
    def names(self) -> NameIndex:
        if self._index is None:
            self._index = NameIndex(self.rule_file.statements)
        return self._index

    @property
    def checked(self) -> CheckedRuleset | None:
        """The checked ruleset (without the analysis), None when the file has errors."""
        return self._check_once()[0]

    def _check_once(self) -> tuple[CheckedRuleset | None, list[EngineDiagnostic]]:
        if self._checked is None:
            self._parse_once()  # read once, through the cache
            try:
                checked = check_source(self.source, analyse=False, parse_with=self._reparse)
                self._checked = (checked, list(checked.warnings))
            except RuleError as error:
                self._checked = (None, list(error.diagnostics))
        return self._checked

    def _reparse(self, source: Source) -> ast.RuleFile:
        """The parse already made (check_source asks again), raising as `parse` does."""
        if source.text != self.source.text:  # not this version's text: parsed on its own
            return parse(source)
        rule_file, errors, words = self._parse_once()
        if errors:
            raise PartialParse(source, errors, rule_file, words)
        return rule_file

    # ------------------------------------------------------------ diagnostics

    def diagnostics(self, *, analysis: bool = True) -> list[Diagnostic]:
        """Exactly what `tierline check` reports for the text (codes, spans, hints,
        witnesses, the same bounding). `analysis=False`: without the solver's findings
        (overlaps, unreachable rules, gaps): what an editor can show first, at once."""
        if not analysis:
            return [self._diagnostic(d) for d in self._check_once()[1]]
        if self._analysed is None:
            checked, found = self._check_once()
            if checked is None:
                self._analysed = found
            else:
                self._analysed = self._analyse(checked)
        return [self._diagnostic(d) for d in self._analysed]

    def _analyse(self, checked: CheckedRuleset) -> list[EngineDiagnostic]:
        """The checked ruleset analysed, with the memo of the earlier versions when there
        is a cache: only the questions about what an edit touched are asked again. A
        ruleset whose checker warnings were bounded (a summary in them) is checked and
        analysed afresh, so that the bounding is `tierline check`'s to the letter."""
        memo = self._cache.analysis if self._cache is not None else None
        bounded = len(checked.warnings) > MAX_PER_CODE or any(w.omitted for w in checked.warnings)
        try:
            if bounded:
                full = check_source(
                    self.source,
                    solver_ms=self.solver_ms,
                    parse_with=self._reparse,
                    memo=memo,
                    generation=self._generation,
                )
            else:
                full = analyse_checked(
                    checked, solver_ms=self.solver_ms, memo=memo, generation=self._generation
                )
            return list(full.warnings)
        except RuleError as error:
            return list(error.diagnostics)

    def _diagnostic(self, diag: EngineDiagnostic) -> Diagnostic:
        return Diagnostic(
            self.lines.span_range(diag.span),
            diag.code,
            diag.message,
            "error" if diag.severity is Severity.ERROR else "warning",
            diag.hint,
            diag.witness,
            diag.omitted,
            diag,
        )

    # ------------------------------------------------------------------ names

    def _occurrence(self, position: Position) -> Occurrence | None:
        return self.names.at(self.lines.offset(position))

    def definition(self, position: Position) -> Range | None:
        """Where the name under the cursor is declared (its first declaration)."""
        occurrence = self._occurrence(position)
        if occurrence is None:
            return None
        found = self.names.declarations(occurrence.key)
        return self.lines.span_range(found[0].span) if found else None

    def references(self, position: Position, include_declaration: bool = True) -> list[Range]:
        """Every place the name under the cursor occurs, in file order."""
        occurrence = self._occurrence(position)
        if occurrence is None:
            return []
        return [
            self.lines.span_range(o.span)
            for o in self.names.by_key.get(occurrence.key, [])
            if include_declaration or not o.declaration
        ]

    def prepare_rename(self, position: Position) -> Range | None:
        """The name under the cursor if it can be renamed: one the file declares."""
        occurrence = self._occurrence(position)
        if occurrence is None or not self.names.declarations(occurrence.key):
            return None
        return self.lines.span_range(occurrence.span)

    def rename(self, position: Position, new_name: str) -> list[TextEdit]:
        """Edits that rename the declared name under the cursor everywhere it occurs.
        RenameError when there is none, or `new_name` is not a name or is taken."""
        occurrence = self._occurrence(position)
        if occurrence is None or not self.names.declarations(occurrence.key):
            raise RenameError("there is no declared name here to rename")
        if not NAME.match(new_name):
            raise RenameError(
                f"'{new_name}' is not a name: a letter or _ first, then letters, digits or _"
            )
        if new_name in keywords() or new_name in ("none", "at", "least", "most"):
            raise RenameError(f"'{new_name}' is a word of the rule language")
        key = occurrence.key
        if new_name == key[-1]:
            return []
        taken = (*key[:-1], new_name)
        if self.names.declarations(taken):
            what = {"value": "an input, let or level", "band": "a band of this level"}
            raise RenameError(f"'{new_name}' is already {what.get(key[0], 'a ' + key[0])}")
        spans = [(o.span.start, o.span.end) for o in self.names.by_key[key]]
        spans += self._in_unread(key[-1])
        return [TextEdit(self.lines.range(start, end), new_name) for start, end in sorted(spans)]

    def _in_unread(self, name: str) -> list[tuple[int, int]]:
        """The places `name` is written in statements that could not be read (a syntax
        error): a rename must not leave the old name there to fail once the error is
        fixed. Words inside texts and comments are not names."""
        if not self.syntax_errors:
            return []
        read = sorted(s.span.start for s in self.rule_file.statements)
        found = []
        word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        for start, end in split_statements(self.source.text):
            index = bisect.bisect_left(read, start)
            if index < len(read) and read[index] < end:
                continue  # this statement was read: its names are in the index
            chunk = _NOT_NAMES.sub(lambda m: " " * len(m.group(0)), self.source.text[start:end])
            found += [(start + m.start(), start + m.end()) for m in word.finditer(chunk)]
        return found

    # ----------------------------------------------------------------- others

    def formatted(self) -> str | None:
        """What `tierline fmt` writes; None when the file has syntax errors (formatting
        would drop what could not be read)."""
        rule_file, errors, _ = self._parse_once()
        if errors:
            return None
        formatted = format_file(rule_file, self.source)
        # a byte-order mark stays (as `tierline fmt` leaves a formatted file with one
        # untouched): formatting is about the layout, not the encoding the file is saved in
        return "\ufeff" + formatted if self.text.startswith("\ufeff") else formatted

    def examples(self) -> list[ExampleOutcome]:
        """Each `example` run against the rules; [] when the rules do not check."""
        if self._examples is None:
            self._examples = _run_examples(self)
        return self._examples

    def symbols(self) -> list[Symbol]:
        """The outline: ruleset, inputs, levels (their bands inside), lets, tiers,
        labels and examples, in file order."""
        out: list[Symbol] = []
        for stmt in self.rule_file.statements:
            symbol = self._symbol(stmt)
            if symbol is not None:
                out.append(symbol)
        return out

    def _symbol(self, stmt: ast.Statement) -> Symbol | None:
        whole = self.lines.span_range(stmt.span)

        def named(
            name: ast.Name, kind: str, detail: str = "", kids: tuple[Symbol, ...] = ()
        ) -> Symbol:
            return Symbol(name.name, kind, whole, self.lines.span_range(name.span), detail, kids)

        match stmt:
            case ast.RulesetDecl(name=name):
                return named(name, "ruleset")
            case ast.InputDecl(name=name, type=type_):
                return named(name, "input", type_.value)
            case ast.LevelDecl(name=name, source=source, bands=bands):
                kids = tuple(
                    Symbol(
                        b.name.name,
                        "band",
                        self.lines.span_range(b.span),
                        self.lines.span_range(b.name.span),
                        self.source.text_of(b.bound.span).strip() or "otherwise",
                    )
                    for b in bands
                )
                return named(name, "level", f"from {source.name}", kids)
            case ast.LetDecl(name=name, type=type_):
                return named(name, "let", type_.value if type_ else "")
            case ast.TierRule(name=name):
                return named(name, "tier")
            case ast.OtherwiseRule(name=name):
                return named(name, "tier", "otherwise")
            case ast.LabelRule(name=name):
                return named(name, "label")
            case ast.Example(description=description, expect=expect):
                return Symbol(
                    description.value or "example",
                    "example",
                    whole,
                    self.lines.span_range(description.span),
                    f"expect {expect.name}",
                )
        return None

    def node_path(self, position: Position) -> list[object]:
        """The syntax nodes under a position, from its statement to the innermost."""
        return path_at(self.rule_file.statements, self.lines.offset(position))

    def statement_text(self, span: Span) -> str:
        return self.source.text_of(span)


def _run_examples(document: DocumentCore) -> list[ExampleOutcome]:
    checked = document.checked
    if checked is None:
        return []
    results = Ruleset(checked).run_examples()
    found = []
    for result in results:
        example = result.example
        passed = result.passed
        got = result.got()
        if result.decision is not None and example.labels is None:  # labels not checked
            got = result.decision.tier or "none"
        message = "passes" if passed else f"expected {result.expected()}, got {got}"
        found.append(
            ExampleOutcome(
                example.description, document.lines.span_range(example.span), passed, message
            )
        )
    return found
