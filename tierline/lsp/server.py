"""The language server: Language Server Protocol over pygls, answers from engine.services.

Thin by design: every answer is a `Document` method (engine/services); this
module keeps one `Document` per open file (the newest version, with a
`StatementCache` that re-reads only the statements an edit touched), converts
positions between the client's encoding (UTF-16 unless the client offers
another) and the services' code points, and publishes diagnostics after each
change (debounced: a change after a quiet spell at once, a burst of changes once
when it ends), first without the solver's analysis (syntax and checker errors),
then with it (overlaps, unreachable rules, gaps; off the event loop, so that
hover and completion answer meanwhile), each only for the newest version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from engine.language.languages import fix_title, language_of, localized, refusal
from engine.services import (
    TOKEN_KINDS,
    Completion,
    Diagnostic,
    Document,
    InlayHint,
    Position,
    Range,
    RenameError,
    StatementCache,
    Symbol,
    TextEdit,
    Token,
)

NAME = "tierline"
VERSION = "0.1"
DEBOUNCE_S = 0.03  # changes closer than this are one burst: diagnosed once, after it
RUN_EXAMPLES = "tierline.runExamples"
REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid, the answer is no
MAX_WORKSPACE_FILES = 500  # workspace symbols read at most this many rule files
log = logging.getLogger(__name__)


@dataclass
class _Open:
    """An open document: its newest version and what publishes its diagnostics."""

    cache: StatementCache = field(default_factory=StatementCache)
    document: Document | None = None
    version: int | None = None
    text: str | None = None
    task: asyncio.Task[None] | None = None
    changed: float = 0.0  # time.monotonic() of the last change


class TierlineServer(LanguageServer):
    """pygls's server with the open documents' state."""

    def __init__(self, solver_ms: int | None = None) -> None:
        super().__init__(
            NAME, VERSION, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental
        )
        self.open: dict[str, _Open] = {}
        self.solver_ms = solver_ms
        # The client's locale from `initialize` ("de" from a German VS Code): diagnostics,
        # hovers and quick-fix titles are said in it; English for any other.
        self.language = "en"
        self.published = 0  # diagnostics notifications sent (for the log)
        # One analysis at a time (the machine's cores are the checker's and the client's
        # too); one for a version already edited is skipped when its turn comes.
        self.analyses = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis")

    def document(self, uri: str) -> Document:
        """The services' Document of the newest text of `uri` (made once per version)."""
        state = self.open.setdefault(uri, _Open())
        text = self.workspace.get_text_document(uri).source
        if state.document is None or state.text != text:
            path = to_fs_path(uri) or uri
            kwargs: dict[str, Any] = {"cache": state.cache}
            if self.solver_ms is not None:
                kwargs["solver_ms"] = self.solver_ms
            state.document = Document(text, path, **kwargs)
            state.text = text
        return state.document


# -------------------------------------------------------------- positions


class _Codec:
    """Positions of one text between the client's units and code points. An ASCII
    text (nearly every rule file) needs no conversion at all."""

    def __init__(self, server: LanguageServer, doc: TextDocument):
        self.ascii = doc.source.isascii()
        self.codec = server.workspace.position_codec
        self._lines: list[str] | None = None
        self.doc = doc

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = list(self.doc.lines)
        return self._lines

    def position(self, position: lsp.Position) -> Position:
        if self.ascii:
            return Position(position.line, position.character)
        found = self.codec.position_from_client_units(self.lines, position)
        return Position(found.line, found.character)

    def client_position(self, position: Position) -> lsp.Position:
        if self.ascii:
            return lsp.Position(position.line, position.character)
        return self.codec.position_to_client_units(
            self.lines, ServerTextPosition(position.line, position.character)
        )

    def range(self, range_: Range) -> lsp.Range:
        if self.ascii:
            return lsp.Range(
                lsp.Position(range_.start.line, range_.start.character),
                lsp.Position(range_.end.line, range_.end.character),
            )
        return self.codec.range_to_client_units(
            self.lines,
            ServerTextRange(
                ServerTextPosition(range_.start.line, range_.start.character),
                ServerTextPosition(range_.end.line, range_.end.character),
            ),
        )

    def edit(self, edit: TextEdit) -> lsp.TextEdit:
        return lsp.TextEdit(self.range(edit.range), edit.new_text)


def _codec(ls: TierlineServer, uri: str) -> _Codec:
    return _Codec(ls, ls.workspace.get_text_document(uri))


# ------------------------------------------------------------ diagnostics


def _lsp_diagnostic(codec: _Codec, diag: Diagnostic, language: str = "en") -> lsp.Diagnostic:
    message = localized(diag.message, language) or ""
    if diag.witness and "for example" not in diag.message:
        shown = ", ".join(f"{k} = {v!r}" for k, v in diag.witness.items())
        message += f" ({'zum Beispiel' if language == 'de' else 'for example'} {shown})"
    if diag.hint:
        message += f"\n= {localized(diag.hint, language)}"
    data: dict[str, Any] = {"hint": diag.hint}
    if diag.witness is not None:
        data["witness"] = _jsonable(diag.witness)
    if diag.omitted:
        data["omitted"] = diag.omitted
    return lsp.Diagnostic(
        range=codec.range(diag.range),
        message=message,
        severity=lsp.DiagnosticSeverity.Error
        if diag.severity == "error"
        else lsp.DiagnosticSeverity.Warning,
        code=diag.code,
        source=NAME,
        data=data,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset, tuple, list)):
        return (
            sorted(_jsonable(v) for v in value)
            if isinstance(value, (set, frozenset))
            else [_jsonable(v) for v in value]
        )
    return value


def _publish(ls: TierlineServer, uri: str, version: int | None, found: list[Diagnostic]) -> None:
    codec = _codec(ls, uri)
    ls.text_document_publish_diagnostics(
        lsp.PublishDiagnosticsParams(
            uri=uri,
            version=version,
            diagnostics=[_lsp_diagnostic(codec, d, ls.language) for d in found],
        )
    )
    ls.published += 1


async def _diagnose(ls: TierlineServer, uri: str, delay: float) -> None:
    """Publish the checker's diagnostics, then the analysis's, for the newest version;
    a newer change cancels this (the task of that change publishes instead)."""
    await asyncio.sleep(delay)  # 0: let the changes already received be applied first
    state = ls.open.get(uri)
    if state is None:
        return
    text_document = ls.workspace.get_text_document(uri)
    version = text_document.version
    document = ls.document(uri)
    first = document.diagnostics(analysis=False)
    _publish(ls, uri, version, first)
    if any(d.severity == "error" for d in first):
        return  # the analysis runs on a file that checks: nothing more to say
    document.rule_file  # noqa: B018  parsed here, in the loop: the worker reads only this version

    def analyse() -> list[Diagnostic] | None:
        """In the analysis thread: nothing for a version edited while it waited."""
        if state.document is not document:
            return None
        return document.diagnostics(analysis=True)

    full = await asyncio.get_running_loop().run_in_executor(ls.analyses, analyse)
    if full is not None and ls.document(uri) is document:  # sent even when equal: final
        _publish(ls, uri, version, full)


def _schedule(ls: TierlineServer, uri: str, delay: float) -> None:
    state = ls.open.setdefault(uri, _Open())
    if state.task is not None and not state.task.done():
        state.task.cancel()
    state.task = asyncio.get_running_loop().create_task(_diagnose(ls, uri, delay))


# ----------------------------------------------------------------- server


def _failed(message: str) -> JsonRpcException:
    return JsonRpcException(message, code=REQUEST_FAILED)


_COMPLETION_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword,
    "input": lsp.CompletionItemKind.Variable,
    "let": lsp.CompletionItemKind.Variable,
    "level": lsp.CompletionItemKind.Enum,
    "band": lsp.CompletionItemKind.EnumMember,
    "tier": lsp.CompletionItemKind.Class,
    "label": lsp.CompletionItemKind.Constant,
    "text": lsp.CompletionItemKind.Value,
    "type": lsp.CompletionItemKind.TypeParameter,
    "operator": lsp.CompletionItemKind.Operator,
}
_SYMBOL_KINDS = {
    "ruleset": lsp.SymbolKind.Namespace,
    "input": lsp.SymbolKind.Field,
    "level": lsp.SymbolKind.Enum,
    "band": lsp.SymbolKind.EnumMember,
    "let": lsp.SymbolKind.Variable,
    "tier": lsp.SymbolKind.Class,
    "label": lsp.SymbolKind.Constant,
    "example": lsp.SymbolKind.Event,
}


# The services' token kinds as the protocol's standard token types (which every colour
# theme colours), in the legend's order; `declaration` is the one modifier.
_TOKEN_TYPES = {
    "keyword": lsp.SemanticTokenTypes.Keyword,
    "input": lsp.SemanticTokenTypes.Parameter,
    "let": lsp.SemanticTokenTypes.Variable,
    "level": lsp.SemanticTokenTypes.Enum,
    "band": lsp.SemanticTokenTypes.EnumMember,
    "tier": lsp.SemanticTokenTypes.Class,
    "label": lsp.SemanticTokenTypes.Label,
    "number": lsp.SemanticTokenTypes.Number,
    "string": lsp.SemanticTokenTypes.String,
    "comment": lsp.SemanticTokenTypes.Comment,
    "type": lsp.SemanticTokenTypes.Type,
    "operator": lsp.SemanticTokenTypes.Operator,
    "ruleset": lsp.SemanticTokenTypes.Namespace,
}
LEGEND = lsp.SemanticTokensLegend(
    token_types=[_TOKEN_TYPES[k].value for k in TOKEN_KINDS],
    token_modifiers=[lsp.SemanticTokenModifiers.Declaration.value],
)
_TOKEN_INDEX = {kind: i for i, kind in enumerate(TOKEN_KINDS)}


def _encoded(codec: _Codec, tokens: list[Token]) -> list[int]:
    """Tokens as the protocol's integers: for each, the line and start relative to the
    token before, its length, type and modifiers (in the client's units)."""
    data: list[int] = []
    line = character = 0
    for token in tokens:
        if codec.ascii:
            start, length = token.character, token.length
        else:
            where = codec.range(token.range)
            start, length = where.start.character, where.end.character - where.start.character
        delta_line = token.line - line
        delta_start = start - character if delta_line == 0 else start
        data += [
            delta_line,
            delta_start,
            length,
            _TOKEN_INDEX[token.kind],
            1 if token.declaration else 0,
        ]
        line, character = token.line, start
    return data


def _inlay(codec: _Codec, hint: InlayHint) -> lsp.InlayHint:
    return lsp.InlayHint(
        position=codec.client_position(hint.position),
        label=hint.label,
        kind=lsp.InlayHintKind.Type if hint.kind == "type" else None,
        tooltip=hint.tooltip or None,
        padding_left=hint.kind != "type",
    )


def _symbol(codec: _Codec, symbol: Symbol) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(
        name=symbol.name,
        kind=_SYMBOL_KINDS.get(symbol.kind, lsp.SymbolKind.Object),
        range=codec.range(symbol.range),
        selection_range=codec.range(symbol.selection_range),
        detail=f"{symbol.kind} {symbol.detail}".strip(),
        children=[_symbol(codec, c) for c in symbol.children] or None,
    )


def _completion(item: Completion) -> lsp.CompletionItem:
    return lsp.CompletionItem(
        label=item.label,
        kind=_COMPLETION_KINDS.get(item.kind, lsp.CompletionItemKind.Text),
        detail=item.detail or item.kind,
        insert_text=item.insert_text,
    )


def _example_summary(document: Document, language: str = "en") -> tuple[str, list[str]]:
    outcomes = document.examples()
    if document.checked is None:
        return _said("not run: the rules have errors", language), []
    failed = [o for o in outcomes if not o.passed]
    if language == "de":
        head = f"{len(outcomes)} Beispiel{'e' * (len(outcomes) != 1)}: " + (
            f"{len(failed)} fehlgeschlagen" if failed else "alle bestanden"
        )
    else:
        head = f"{len(outcomes)} example{'s' * (len(outcomes) != 1)}: " + (
            f"{len(failed)} failing" if failed else "all pass"
        )
    return head, [f'"{o.description}": {_said(o.message, language)}' for o in failed]


def _said(text: str, language: str) -> str:
    """An example's outcome as the code lenses say it ("passes", "expected micro, got
    nano", "not run: …"), in `language`; the tiers and labels as the rules write them."""
    if language != "de":
        return text
    if text == "passes":
        return "bestanden"
    if text == "not run: the rules have errors":
        return "nicht ausgeführt: die Regeln haben Fehler"
    expected, sep, got = text.removeprefix("expected ").partition(", got ")
    if not text.startswith("expected ") or not sep:
        return text
    if got.startswith("error: "):
        got = "Fehler: " + refusal(got.removeprefix("error: "), language)
    return f"erwartet {expected}, erhalten {got}"


def make_server(solver_ms: int | None = None) -> TierlineServer:
    """The server with every feature registered."""
    server = TierlineServer(solver_ms)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: TierlineServer, params: lsp.InitializeParams) -> None:
        """The client's display language: a German editor hears German (the rules
        themselves, and the codes and data a client reads, stay the same)."""
        ls.language = language_of(params.locale)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: TierlineServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.open.setdefault(params.text_document.uri, _Open())
        _schedule(ls, params.text_document.uri, 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: TierlineServer, params: lsp.DidChangeTextDocumentParams) -> None:
        """A change after a quiet spell is diagnosed at once; one in a burst (typing,
        a paste, a client sending many changes) waits for the burst to end."""
        state = ls.open.setdefault(params.text_document.uri, _Open())
        now = time.monotonic()
        burst = now - state.changed < DEBOUNCE_S
        state.changed = now
        _schedule(ls, params.text_document.uri, DEBOUNCE_S if burst else 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: TierlineServer, params: lsp.DidSaveTextDocumentParams) -> None:
        return None

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: TierlineServer, params: lsp.DidCloseTextDocumentParams) -> None:
        state = ls.open.pop(params.text_document.uri, None)
        if state is not None and state.task is not None:
            state.task.cancel()
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: TierlineServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        found = ls.document(uri).hover(codec.position(params.position), ls.language)
        if found is None:
            return None
        return lsp.Hover(
            contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=found.markdown),
            range=codec.range(found.range),
        )

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=[" ", "{", '"', ","]),
    )
    def completion(ls: TierlineServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        items = ls.document(uri).complete(codec.position(params.position))
        return lsp.CompletionList(is_incomplete=False, items=[_completion(i) for i in items])

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: TierlineServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        found = ls.document(uri).definition(codec.position(params.position))
        return None if found is None else lsp.Location(uri, codec.range(found))

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: TierlineServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        found = ls.document(uri).references(
            codec.position(params.position), params.context.include_declaration
        )
        return [lsp.Location(uri, codec.range(r)) for r in found]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
    def document_highlight(
        ls: TierlineServer, params: lsp.DocumentHighlightParams
    ) -> list[lsp.DocumentHighlight]:
        """Every occurrence of the name under the cursor; its declarations as writes."""
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        document = ls.document(uri)
        at = codec.position(params.position)
        declared = set(document.references(at)) - set(
            document.references(at, include_declaration=False)
        )
        return [
            lsp.DocumentHighlight(
                codec.range(r),
                lsp.DocumentHighlightKind.Write
                if r in declared
                else lsp.DocumentHighlightKind.Read,
            )
            for r in document.references(at)
        ]

    @server.feature(lsp.TEXT_DOCUMENT_FOLDING_RANGE)
    def folding_range(ls: TierlineServer, params: lsp.FoldingRangeParams) -> list[lsp.FoldingRange]:
        """Each statement written on more than one line (levels, examples, long rules)."""
        document = ls.document(params.text_document.uri)
        return [
            lsp.FoldingRange(start_line=s.range.start.line, end_line=s.range.end.line)
            for s in document.symbols()
            if s.range.end.line > s.range.start.line
        ]

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(
        ls: TierlineServer, params: lsp.PrepareRenameParams
    ) -> lsp.PrepareRenamePlaceholder | None:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        document = ls.document(uri)
        found = document.prepare_rename(codec.position(params.position))
        if found is None:
            return None
        start, end = document.lines.offset(found.start), document.lines.offset(found.end)
        return lsp.PrepareRenamePlaceholder(codec.range(found), document.text[start:end])

    @server.feature(lsp.TEXT_DOCUMENT_RENAME, lsp.RenameOptions(prepare_provider=True))
    def rename(ls: TierlineServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        try:
            edits = ls.document(uri).rename(codec.position(params.position), params.new_name)
        except RenameError as error:
            raise _failed(str(error)) from None
        return lsp.WorkspaceEdit(changes={uri: [codec.edit(e) for e in edits]})

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: TierlineServer, params: lsp.DocumentFormattingParams
    ) -> list[lsp.TextEdit] | None:
        uri = params.text_document.uri
        document = ls.document(uri)
        formatted = document.formatted()
        if formatted is None:
            raise _failed("tierline fmt: the file has syntax errors; fix them first")
        if formatted == document.text:
            return []
        codec = _codec(ls, uri)
        whole = document.lines.range(0, len(document.text))
        return [lsp.TextEdit(codec.range(whole), formatted)]

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
    )
    def code_action(ls: TierlineServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        document = ls.document(uri)
        actions: list[lsp.CodeAction] = []
        known = {_place(d.code, codec.range(d.range)): d for d in document.diagnostics()}
        for sent in params.context.diagnostics:
            diag = known.get(_place(str(sent.code), sent.range))
            if diag is None:
                continue
            for number, fix in enumerate(document.fixes(diag)):
                actions.append(
                    lsp.CodeAction(
                        title=fix_title(fix.title, ls.language),
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[sent],
                        is_preferred=number == 0,  # the hint's first spelling: "fix all" takes it
                        edit=lsp.WorkspaceEdit(changes={uri: [codec.edit(e) for e in fix.edits]}),
                    )
                )
        return actions

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(
        ls: TierlineServer, params: lsp.DocumentSymbolParams
    ) -> list[lsp.DocumentSymbol]:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        return [_symbol(codec, s) for s in ls.document(uri).symbols()]

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    def semantic_tokens_full(
        ls: TierlineServer, params: lsp.SemanticTokensParams
    ) -> lsp.SemanticTokens:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        return lsp.SemanticTokens(data=_encoded(codec, ls.document(uri).semantic_tokens()))

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, LEGEND)
    def semantic_tokens_range(
        ls: TierlineServer, params: lsp.SemanticTokensRangeParams
    ) -> lsp.SemanticTokens:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        within = Range(codec.position(params.range.start), codec.position(params.range.end))
        tokens = ls.document(uri).semantic_tokens(within)
        return lsp.SemanticTokens(data=_encoded(codec, tokens))

    @server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
    def inlay_hint(ls: TierlineServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        within = Range(codec.position(params.range.start), codec.position(params.range.end))
        return [_inlay(codec, h) for h in ls.document(uri).inlay_hints(within, ls.language)]

    @server.feature(lsp.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls: TierlineServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        uri = params.text_document.uri
        codec = _codec(ls, uri)
        document = ls.document(uri)
        head, _ = _example_summary(document, ls.language)
        run = "Beispiele ausführen" if ls.language == "de" else "run examples"
        command = lsp.Command(f"▶ {run} ({head})", RUN_EXAMPLES, arguments=[uri])
        top = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
        lenses = [lsp.CodeLens(range=top, command=command)]
        outcomes = {o.range: o for o in document.examples()}
        for symbol in document.symbols():
            if symbol.kind != "example":
                continue
            outcome = outcomes.get(symbol.range)
            if outcome is None:
                title = _said("not run: the rules have errors", ls.language)
            else:
                title = f"{'✓' if outcome.passed else '✗'} {_said(outcome.message, ls.language)}"
            lenses.append(
                lsp.CodeLens(
                    range=codec.range(symbol.range),
                    command=lsp.Command(title, RUN_EXAMPLES, arguments=[uri]),
                )
            )
        return lenses

    @server.command(RUN_EXAMPLES)
    def run_examples(ls: TierlineServer, uri: str) -> dict[str, Any]:
        document = ls.document(uri)
        # the summary in the client's language, like the lenses; each example's
        # `message` stays the English the engine words (data a client may match on)
        head, failures = _example_summary(document, ls.language)
        said = "; ".join([head, *failures])
        kind = (
            lsp.MessageType.Warning
            if failures or document.checked is None
            else lsp.MessageType.Info
        )
        ls.window_show_message(lsp.ShowMessageParams(kind, said))
        return {
            "summary": head,
            "examples": [
                {
                    "description": o.description,
                    "passed": o.passed,
                    "message": o.message,
                    "line": o.range.start.line,
                }
                for o in document.examples()
            ],
        }

    @server.feature(lsp.WORKSPACE_SYMBOL)
    def workspace_symbol(
        ls: TierlineServer, params: lsp.WorkspaceSymbolParams
    ) -> list[lsp.WorkspaceSymbol]:
        """Tiers, labels, inputs, levels and lets of the open files and of the rule files
        in the workspace folders (a few hundred at most), matching the query."""
        query = params.query.lower()
        found: list[lsp.WorkspaceSymbol] = []
        for uri, document in _workspace_documents(ls):
            for symbol in document.symbols():
                if symbol.kind in ("example", "ruleset") or query not in symbol.name.lower():
                    continue
                found.append(
                    lsp.WorkspaceSymbol(
                        name=symbol.name,
                        kind=_SYMBOL_KINDS.get(symbol.kind, lsp.SymbolKind.Object),
                        location=lsp.Location(uri, _plain_range(symbol.selection_range)),
                        container_name=Path(document.path).name,
                    )
                )
        return found

    return server


def _place(code: str, range_: lsp.Range) -> tuple[str, int, int, int, int]:
    """A diagnostic's code and place, to find the one a client sends back."""
    start, end = range_.start, range_.end
    return code, start.line, start.character, end.line, end.character


def _plain_range(range_: Range) -> lsp.Range:
    return lsp.Range(
        lsp.Position(range_.start.line, range_.start.character),
        lsp.Position(range_.end.line, range_.end.character),
    )


def _workspace_documents(ls: TierlineServer) -> list[tuple[str, Document]]:
    """The open documents, then the `.tiers` files under the workspace folders."""
    out = [(uri, ls.document(uri)) for uri in list(ls.open)]
    seen = {to_fs_path(uri) for uri, _ in out}
    roots = [to_fs_path(f.uri) for f in ls.workspace.folders.values()]
    if not roots and ls.workspace.root_path:
        roots = [ls.workspace.root_path]
    count = 0
    for root in roots:
        if not root:
            continue
        for path in sorted(Path(root).rglob("*.tiers")):
            if count >= MAX_WORKSPACE_FILES or str(path) in seen or ".git" in path.parts:
                continue
            count += 1
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            out.append((path.as_uri(), Document(text, str(path))))
    return out


def serve(tcp: int | None = None, solver_ms: int | None = None) -> None:
    """Run the server until the client exits (stdio), or on 127.0.0.1:`tcp`."""
    server = make_server(solver_ms)
    if tcp is not None:
        server.start_tcp("127.0.0.1", tcp)
    else:
        server.start_io()
