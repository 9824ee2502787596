"""Completion by context: what may be written at the cursor.

The statement around the cursor is cut into tokens up to the cursor (the file
may be broken there: it is being typed), and the tokens before it decide:
statement keywords where a statement may start; types after `input x:`; input,
let and level names where a value may start; band names after `engagement is`
(or a bare `engagement `); the texts the file already compares the same input
with after `platform is` or inside `platform in {`; the set items seen after
`topics has any of {`; tier names after `expect` and `otherwise`; label names
after `labels`; operators after a value, `and`/`or` after a test. The names
come from the statements that parsed (the rest of the file may be broken).
"""

from __future__ import annotations

import re

from engine.language import ast
from engine.language.grammar import STATEMENT_KEYWORDS
from engine.language.parse import split_statements
from engine.services.answers import Completion
from engine.services.core import DocumentCore

_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|at\s+least\b|at\s+most\b|[A-Za-z_][A-Za-z0-9_]*'
    r"|[0-9][0-9_]*(?:\.[0-9_]+)?[kKMB%]?|>=|<=|==|!=|[^\s]"
)
TYPES = ("count", "number", "percent", "text", "flag", "set of text")
COMPARISONS = ("at least", "at most", "above", "below", "between", ">=", "<=", ">", "<", "==", "!=")
_VALUE_STARTS = frozenset(
    ["when", "and", "or", "not", "(", "=", "+", "-", "*", "/", "between", "above", "below",
     ">=", "<=", ">", "<", "==", "!="]
)  # fmt: skip
_STATEMENT_DETAIL = {
    "ruleset": "ruleset NAME",
    "version": 'version "…"',
    "title": 'title "…"',
    "policy": "policy first | unique",
    "input": "input NAME: TYPE",
    "level": "level NAME from VALUE, then bands",
    "let": "let NAME = EXPRESSION",
    "tier": "tier NAME when CONDITION",
    "label": "label NAME when CONDITION",
    "otherwise": "otherwise TIER | none",
    "example": 'example "…" given … expect TIER',
}


def complete(doc: DocumentCore, offset: int) -> list[Completion]:
    text = doc.text
    line_start = text.rfind("\n", 0, offset) + 1
    line_before = text[line_start:offset]
    partial = re.search(r"[A-Za-z_][A-Za-z0-9_]*\Z", line_before)
    before_word = line_before[: partial.start()] if partial else line_before
    if _in_comment(line_before):
        return []
    indented = line_before[:1] in (" ", "\t")
    if not before_word.strip() and not indented:
        return [Completion(k, "keyword", _STATEMENT_DETAIL[k]) for k in STATEMENT_KEYWORDS]
    # an unindented line begins a statement; an indented one continues the one above
    start = line_start if not indented else _statement_start(text, offset)
    tokens = [
        t
        for t in _TOKEN.findall(text[start : offset - (len(partial.group(0)) if partial else 0)])
        if not t.startswith("#")
    ]
    tokens = [re.sub(r"\s+", " ", t) for t in tokens]
    if not tokens:
        return [Completion(k, "keyword", _STATEMENT_DETAIL[k]) for k in STATEMENT_KEYWORDS]
    context = _Context(doc)
    inside_text = tokens[-1].startswith('"') and (
        len(tokens[-1]) == 1 or not tokens[-1].endswith('"')
    )
    if inside_text:
        return context.texts_for(_subject(tokens[:-1]), quoted=False)
    return context.after(tokens, new_line=indented and not before_word.strip())


def _in_comment(line: str) -> bool:
    stripped = re.sub(r'"(?:[^"\\\n]|\\.)*"', "", line)
    return "#" in stripped


def _statement_start(text: str, offset: int) -> int:
    start = 0
    for begin, _ in split_statements(text[:offset]):
        start = begin
    return start


def _subject(tokens: list[str]) -> str | None:
    """The value a test is about: the name before `is`, `in`, `has … of`, `{`."""
    for token in reversed(tokens):
        if token in ("is", "not", "in", "has", "any", "all", "of", "{", ","):
            continue
        if token.startswith('"'):
            continue
        return token if re.match(r"[A-Za-z_]", token) else None
    return None


class _Context:
    """The names the file declares and the values it writes, for one completion."""

    def __init__(self, doc: DocumentCore):
        self.doc = doc
        names = doc.names
        self.inputs = names.declared("input")
        self.lets = names.declared("let")
        self.levels = names.declared("level")
        self.tiers = names.declared("tier")
        self.labels = names.declared("label")

    def _type(self, name: str) -> str:
        checked = self.doc.checked
        if name in self.inputs:
            stmt = self.inputs[name].statement
            assert isinstance(stmt, ast.InputDecl)
            return stmt.type.value
        if name in self.levels:
            return "level"
        if checked is not None and name in checked.lets:
            return checked.lets[name].type.value
        stmt_let = self.lets.get(name)
        if stmt_let is not None and isinstance(stmt_let.statement, ast.LetDecl):
            return stmt_let.statement.type.value if stmt_let.statement.type else ""
        return ""

    def values(self, inputs_only: bool = False) -> list[Completion]:

        out = [Completion(n, "input", self._type(n)) for n in self.inputs]
        if not inputs_only:
            out += [Completion(n, "let", self._type(n)) for n in self.lets]
            out += [Completion(n, "level", self._bands_detail(n)) for n in self.levels]
        return out

    def _bands_detail(self, level: str) -> str:
        stmt = self.levels[level].statement
        assert isinstance(stmt, ast.LevelDecl)
        return "level: " + ", ".join(b.name.name for b in stmt.bands)

    def bands(self, level: str) -> list[Completion]:

        stmt = self.levels[level].statement
        assert isinstance(stmt, ast.LevelDecl)
        return [
            Completion(
                b.name.name,
                "band",
                stmt.source.name
                + " "
                + (self.doc.statement_text(b.bound.span).strip() or "otherwise"),
            )
            for b in stmt.bands
        ]

    def tier_names(self) -> list[Completion]:

        return [Completion(n, "tier") for n in self.tiers] + [
            Completion("none", "keyword", "no tier")
        ]

    def label_names(self) -> list[Completion]:

        return [Completion(n, "label") for n in self.labels] + [
            Completion("none", "keyword", "no label")
        ]

    def texts_for(self, name: str | None, quoted: bool = True) -> list[Completion]:
        """The texts the file compares `name` with (or gives it in examples); for a set
        of texts, the items seen with it; with no such text, every text seen in a set."""

        seen: dict[str, None] = {}
        everywhere: dict[str, None] = {}
        for stmt in self.doc.rule_file.statements:
            if isinstance(stmt, ast.Example):
                for given in stmt.given:
                    for text in _texts(given.value):
                        everywhere[text] = None
                        if given.name.name == name:
                            seen[text] = None
                continue
            if isinstance(stmt, ast.InputDecl) and stmt.default is not None:
                for text in _texts(stmt.default):
                    everywhere[text] = None
                    if stmt.name.name == name:
                        seen[text] = None
            for node in ast.walk(stmt):
                subject = getattr(node, "value", None)
                if isinstance(node, ast.TextIs):
                    found = [node.text.value]
                elif isinstance(node, ast.InSet | ast.Has):
                    found = [item.value for item in node.items.items]
                else:
                    continue
                for text in found:
                    everywhere[text] = None
                    if isinstance(subject, ast.Name) and subject.name == name:
                        seen[text] = None
        pool = seen or everywhere
        detail = f"a text compared with {name}" if seen else "a text in this file"
        return [
            Completion(
                f'"{t}"' if quoted else t,
                "text",
                detail,
                f'"{_escape(t)}"' if quoted else _escape(t),
            )
            for t in pool
        ]

    def after(self, tokens: list[str], new_line: bool) -> list[Completion]:
        """What may follow `tokens` (`new_line`: on an indented line of its own)."""

        def words(*items: str, kind: str = "keyword") -> list[Completion]:
            return [Completion(i, kind) for i in items]

        first, last = tokens[0], tokens[-1]
        if first == "input":
            if last == ":":
                return [Completion(t, "type") for t in TYPES]
            if last in TYPES or last == "text" or (len(tokens) > 3 and last not in COMPARISONS):
                return words("optional", *COMPARISONS)
            return []
        if first == "policy" and len(tokens) == 1:
            return words("first", "unique")
        if first == "otherwise" and len(tokens) == 1:
            return self.tier_names()
        if first == "level":
            if len(tokens) == 2:
                return words("from")
            if last == "from":
                return self.values()
            if len(tokens) >= 4 and re.match(r"[A-Za-z_]", last) and last not in COMPARISONS:
                return words(*COMPARISONS, "otherwise", kind="operator")
            return []
        if first == "example":
            if new_line:  # the next part of the example, on its own line
                part = next((w for w in ("given", "expect") if w not in tokens), None)
                return [Completion(part, "keyword")] if part else []
            return self._example(tokens)
        if first in ("tier", "label", "let"):
            if len(tokens) == 1:
                return []
            if len(tokens) == 2:
                return words("when") if first != "let" else words("=", ":", kind="operator")
            if first == "let" and last == ":":
                return [Completion(t, "type") for t in TYPES]
            return self._condition(tokens)
        if first in STATEMENT_KEYWORDS:
            return []
        return [Completion(k, "keyword", _STATEMENT_DETAIL[k]) for k in STATEMENT_KEYWORDS]

    def _example(self, tokens: list[str]) -> list[Completion]:

        last = tokens[-1]
        if "expect" in tokens:
            after = tokens[tokens.index("expect") :]
            if last == "expect":
                return self.tier_names()
            if last == "labels" or ("labels" in after and last == ","):
                return self.label_names()
            if len(after) == 2:
                return [Completion("labels", "keyword", "the labels the example must get")]
            return []
        if "given" not in tokens:
            return [Completion("given", "keyword")] if len(tokens) >= 2 else []
        if last in ("given", ","):
            given = {tokens[i + 1] for i, t in enumerate(tokens[:-1]) if t in ("given", ",")}
            return [c for c in self.values(inputs_only=True) if c.label not in given]
        if re.match(r"[A-Za-z_]", last) and last in self.inputs and tokens[-2] in ("given", ","):
            type_ = self._type(last)
            if type_ == "flag":
                return [Completion("true", "keyword"), Completion("false", "keyword")]
            if type_ in ("text", "set of text"):
                texts = self.texts_for(last)
                if type_ == "set of text":
                    return [
                        Completion(
                            "{" + c.label + "}",
                            "text",
                            c.detail,
                            "{" + (c.insert_text or c.label) + "}",
                        )
                        for c in texts
                    ]
                return texts
            return []
        return [Completion(",", "operator", "give another input"), Completion("expect", "keyword")]

    def _condition(self, tokens: list[str]) -> list[Completion]:

        last = tokens[-1]
        previous = tokens[-2] if len(tokens) > 1 else ""
        if last == "is" or (last == "not" and previous == "is"):
            subject = tokens[-3] if last == "not" else previous
            if subject in self.levels:
                return self.bands(subject)
            return self.texts_for(subject)
        if last in _VALUE_STARTS or (last == "least" or last.startswith("at ")):
            out = self.values()
            if last in ("when", "and", "or", "not", "("):
                out.append(Completion("not", "keyword"))
            return out
        if last in ("{", ",") and "{" in tokens:
            return self.texts_for(_subject(tokens[: len(tokens) - tokens[::-1].index("{") - 1]))
        if last in ("has",):
            return [Completion("any of", "operator"), Completion("all of", "operator")]
        if (
            re.match(r"[A-Za-z_]", last)
            and last not in ("true", "false")
            and previous not in ("is",)
        ):
            kind = self._type(last)
            if kind == "level":
                return [*self.bands(last), *(Completion(w, "operator") for w in ("is", "is not"))]
            if kind == "text":
                return [Completion(w, "operator") for w in ("is", "is not", "in", "not in")]
            if kind == "set of text":
                return [Completion(w, "operator") for w in ("has any of", "has all of", "has")]
            if kind:
                return [Completion(w, "operator") for w in COMPARISONS]
        return [Completion("and", "keyword"), Completion("or", "keyword")]


def _texts(literal: ast.Literal) -> list[str]:
    if isinstance(literal, ast.Text):
        return [literal.value]
    if isinstance(literal, ast.TextSet):
        return [item.value for item in literal.items]
    return []


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
