"""Results of the analysis's steps kept between versions of one file, by what each read.

An editor analyses a file again after every edit, and an edit touches one or two
statements: the boxes of the other 999 tiers, the pairs of tiers that did not
change, the solver's answers about them are what they were. `AnalysisMemo` keeps
each step's result under a key made of exactly what the step reads, so a step
whose inputs did not change is answered from the memo, and a step that reads an
edited statement is run again. The control flow of `analyze` is the same with or
without a memo (the memo replaces a computation by its earlier result, nothing
else), so the findings are the same as a from-scratch analysis's, witnesses
included (each witness is found in a z3 context of its own, smt.Solver, so that it
does not depend on which other questions were asked before it);
tests/test_analysis_incremental.py holds that on random edits.

Keys (`Recall`):
- a condition is known by its source text and the declarations of every input,
  let and level it reads (their own declarations' keys, so `let a = b / c` changes
  when `c`'s range does): the same text with the same declarations is the same
  condition, wherever it stands and whatever the tier is called;
- whether the solver finds an account for some tests (sat or unsat) is a fact
  about those tests and the inputs' domains, so those keys hold the conditions
  asked about and the file's `declarations` (every input's domain is part of
  every question); an answer the solver could not settle is never kept;
- a witness (the account the solver shows) depends on more: every input is a
  variable of the model (the witness names them all), the texts and set items
  any rule names are the values of a text variable, and a witness is replayed
  through the whole evaluator. So those keys hold the file's `context`: the
  policy, the solver's budget, every declaration and the texts named anywhere.
  Editing a threshold changes neither; editing a text literal asks again for the
  witnesses; editing a declaration asks the solver everything again (and redoes
  the boxes of the conditions that read it).

The memo is pure data (no I/O): whoever keeps the versions of one document holds
one (engine/services: the document's `StatementCache`), safe to share between
threads. Its memory is bounded whatever the file: every key is a few fixed-size
digests (never a condition's text, never a tuple as long as the file), and it keeps
what the last few runs used (`AnalysisMemo.runs`), at most `size` entries
(tests/test_analysis_incremental.py: a 30 KB condition edited 30 times).

Keys are read from the source through the syntax tree's spans, and the statement
cache moves those spans in place when it parses the next version (incremental.py).
The language server analyses in a thread while the next version may be parsed: a
key read after that would be another statement's text, and a result kept under it
would answer for the wrong condition later. So a run's results are held apart and
kept only when no parse happened since the version it analyses was read
(`generation`, which the statement cache counts); a run overtaken by an edit (whose
answers the server drops anyway) keeps nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from functools import partial
from typing import Any, TypeVar

from engine.checker.model import CheckedRuleset, Let, Rule, names_in
from engine.language import ast

V = TypeVar("V")


class AnalysisMemo:
    """Step results by key: those used by one of the last `runs` runs kept (`commit`),
    and at most `size` of them (least recently used go first).

    Every key is a few fixed-size digests (`Recall`), so what the memo holds is
    bounded by what the last `runs` versions asked: an edit makes new keys for what it
    touched (for a big condition, every keystroke), and without the bound by runs
    those of the versions typed through stayed until `size` entries were reached
    (a 30 KB condition's threshold edited 30 times held 8 MB of keys). The analysis
    asks every step of a version on every run (the memo only answers them), so an
    entry no run used for `runs` runs belongs to versions edited away."""

    def __init__(self, size: int = 200_000, runs: int = 8):
        self.size = size
        self.runs = runs
        self.run = 0  # the runs kept so far (`commit`): an entry's stamp is the last that used it
        self._kept: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        # parses of the document so far (StatementCache.parse counts them): a run's
        # results are kept only if it is the same when the run ends as at its start
        self.generation = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """(True, the result kept under `key`) or (False, None)."""
        with self._lock:
            entry = self._kept.get(key)  # an entry is a tuple: never None
            if entry is None:
                return False, None
            self._used(key, entry)
            return True, entry[1]

    def _used(self, key: Hashable, entry: tuple[int, Any]) -> None:
        """A hit: the entry is stamped with this run and is the newest."""
        if entry[0] != self.run:
            self._kept[key] = (self.run, entry[1])
        self._kept.move_to_end(key)
        self.hits += 1

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._put(key, value)

    def _put(self, key: Hashable, value: Any) -> None:
        self._kept[key] = (self.run, value)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def _age(self) -> None:
        """One run more; drop the entries no run used in the last `runs`. Entries are
        in the order they were last used and stamps only grow, so the old ones are
        first."""
        self.run += 1
        oldest = self.run - self.runs
        kept = self._kept
        while kept:
            key = next(iter(kept))
            if kept[key][0] >= oldest:
                break
            del kept[key]

    def commit(self, results: dict[Hashable, Any], generation: int) -> bool:
        """Keep a run's results if the document is still the version it analysed."""
        with self._lock:
            if self.generation != generation:
                return False
            for key, value in results.items():
                self._put(key, value)
            self._age()
            return True

    def remember(
        self, key: Hashable, compute: Callable[[], V], keep: Callable[[], bool] | None = None
    ) -> V:
        """The result kept under `key`, else `compute()`, kept for the next time unless
        `keep()` says no after it (a question the solver could not settle in its budget
        is asked again: a quieter moment may settle it). Computed outside the lock: a
        step may take the solver's whole budget."""
        with self._lock:
            entry = self._kept.get(key)
            if entry is not None:
                self._used(key, entry)
                return entry[1]  # type: ignore[no-any-return]
            self.misses += 1
        value = compute()
        if keep is None or keep():
            self.put(key, value)
        return value


def _digest(value: object) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=12).hexdigest()


def _hash(text: str) -> str:
    """A text's fixed-size key: a key holds no copy of a condition's text (a 30 KB
    condition, a new copy of it at each version)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Recall:
    """The keys of one analysis run over `checked`, and the memo they are kept in."""

    def __init__(
        self,
        memo: AnalysisMemo,
        checked: CheckedRuleset,
        budget_ms: int,
        generation: int | None = None,
    ):
        """`generation`: the memo's generation when `checked`'s text was parsed (None:
        now, for a caller that parses and analyses in one thread)."""
        self.memo = memo
        self.generation = memo.generation if generation is None else generation
        self._pending: dict[Hashable, Any] = {}
        self.checked = checked
        self.budget_ms = budget_ms
        text_of = checked.source.text_of
        self.declared: dict[str, str] = {}  # name -> its declaration's key
        for name, decl in checked.inputs.items():
            self.declared[name] = _digest(
                ("input", name, decl.type.value, decl.optional, decl.default, decl.range)
            )
        for item in checked.derived:  # in dependency order: what an item reads is keyed
            if isinstance(item, Let):
                reads = sorted(names_in(item.expr))
                shape: tuple[object, ...] = (
                    "let",
                    item.name,
                    item.type.value,
                    text_of(item.expr.span),
                    [self.declared.get(n, n) for n in reads],
                )
            else:
                bands = [(b.name, b.op, b.low, b.high) for b in item.bands]
                shape = ("level", item.name, self.declared.get(item.source), bands)
            self.declared[item.name] = _digest(shape)
        self._conditions: dict[ast.NodeId, str] = {}
        self._rules: dict[ast.NodeId, str] = {}
        self._context: str | None = None
        self._declarations: str | None = None

    # ------------------------------------------------------------------ keys

    def condition(self, rule: Rule) -> str:
        """A rule's condition: its text and the declarations it reads."""
        key = self._conditions.get(rule.id)
        if key is None:
            assert rule.when is not None
            key = self.exprs((rule.when,))
            self._conditions[rule.id] = key
        return key

    def exprs(self, exprs: Iterable[ast.Expr]) -> str:
        """Tests (joined by `and`): a digest of their texts and the declarations they
        read."""
        exprs = tuple(exprs)
        texts = [_hash(self._text(x)) for x in exprs]
        names: set[str] = set()
        for x, text in zip(exprs, texts, strict=True):
            names.update(self.remember(("names", text), partial(_names, x)))
        declared = [self.declared.get(n, n) for n in sorted(names)]
        return _hash("\x1f".join(texts) + "\x1e" + ",".join(declared))

    def _text(self, expr: ast.Expr) -> str:
        """The expression as written; a node the checker made (no place in the file) is
        known by its number alone, so that it is never taken for another."""
        span = expr.span
        if span.end <= span.start:
            return f"\x00{expr.id}"
        return self.checked.source.text_of(span)

    def rule(self, rule: Rule) -> str:
        """What the solver's answers about a rule depend on: its condition and the name
        the evaluator's replay knows it by (a digest of them)."""
        key = self._rules.get(rule.id)
        if key is None:
            key = _hash(f"{rule.kind}\x1f{rule.name}\x1f{self.condition(rule)}")
            self._rules[rule.id] = key
        return key

    def rules(self, rules: Iterable[Rule]) -> str:
        """Rules in order, folded into one digest: a key about every tier above one
        (shadowed, uncovered) is fixed-size, not a tuple as long as the file."""
        return _hash("".join(self.rule(r) for r in rules))

    @property
    def declarations(self) -> str:
        """Every declaration (and the policy and budget): what an answer of the solver
        on whether an account exists depends on beyond the conditions asked about."""
        if self._declarations is None:
            self._declarations = _digest(
                (self.checked.policy, self.budget_ms, sorted(self.declared.items()))
            )
        return self._declarations

    @property
    def context(self) -> str:
        """What every solver answer depends on beyond the conditions asked about."""
        if self._context is None:
            checked = self.checked
            texts: dict[str, dict[str, None]] = {}
            tested: dict[str, dict[frozenset[str], None]] = {}
            for rule in (*checked.tiers, *checked.labels):
                if rule.when is None:
                    continue
                events = self.remember(
                    ("texts", _hash(self._text(rule.when))), partial(_named_texts, rule.when)
                )
                for kind, name, values in events:
                    if kind == "texts":  # as smt.Inputs: new values in sorted batches
                        known = texts.setdefault(name, {})
                        known.update(dict.fromkeys(sorted(v for v in values if v not in known)))
                    else:
                        tested.setdefault(name, {})[frozenset(values)] = None
            self._context = _digest(
                (
                    checked.policy,
                    self.budget_ms,
                    sorted(self.declared.items()),
                    sorted((n, list(v)) for n, v in texts.items()),
                    sorted((n, [sorted(s) for s in v]) for n, v in tested.items()),
                )
            )
        return self._context

    def get(self, key: tuple[Hashable, ...]) -> tuple[bool, Any]:
        """(True, the result kept, by this run or an earlier one) or (False, None)."""
        if key in self._pending:
            return True, self._pending[key]
        return self.memo.get(key)

    def put(self, key: tuple[Hashable, ...], value: Any) -> None:
        """Keep a result: for this run at once, for the next ones by `commit`."""
        self._pending[key] = value

    def remember(
        self,
        key: tuple[Hashable, ...],
        compute: Callable[[], V],
        keep: Callable[[], bool] | None = None,
    ) -> V:
        found, value = self.get(key)
        if found:
            return value  # type: ignore[no-any-return]
        self.memo.misses += 1
        value = compute()
        if keep is None or keep():
            self.put(key, value)
        return value

    def commit(self) -> bool:
        """Keep this run's results for the next versions, unless the document was parsed
        again since the version analysed (see the module's docstring); whether kept."""
        return self.memo.commit(self._pending, self.generation)


def _names(expr: ast.Expr) -> tuple[str, ...]:
    return tuple(sorted(names_in(expr)))


def _named_texts(expr: ast.Expr) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The texts a condition compares each text input with and the items it tests each
    set input for, in the order `smt.Inputs` collects them."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for node in ast.walk(expr):
        match node:
            case ast.InSet(value=ast.Name(name=name), items=items):
                out.append(("texts", name, tuple(sorted(items.values))))
            case ast.TextIs(value=ast.Name(name=name), text=text):
                out.append(("texts", name, (text.value,)))
            case ast.Compare(value=ast.Name(name=name), bound=ast.Text(value=text)):
                out.append(("texts", name, (text,)))
            case ast.Has(value=ast.Name(name=name), items=items):
                out.append(("tested", name, tuple(sorted(items.values))))
    return tuple(out)


def remembered(recall: Recall | None, key: tuple[Hashable, ...], compute: Callable[[], V]) -> V:
    """`compute()`, through the memo when there is one."""
    return compute() if recall is None else recall.remember(key, compute)
