"""A loaded ruleset: checked, compiled, ready to classify."""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis.changes import REFUSED, Changes, Decide, changes
from engine.analysis.cover import reaching
from engine.checker.model import CheckedRuleset, Example
from engine.decision import Decision, Reason, batch_decisions, stamp_in_order
from engine.language.diagnostics import did_you_mean
from engine.language.source import Source
from engine.load import SOLVER_MS, check_source, read_source
from engine.python.evaluator import Program, compile_program
from engine.python.explainer import Explainer, compile_explainer
from engine.python.reasoner import Reasoner, compile_reasoner
from engine.python.values import ClassifyError, InputError, RuleConflict, undeclared

if TYPE_CHECKING:  # numpy is loaded with the columnar evaluator, when it is first used
    from engine.columnar.evaluate import ColumnarProgram, Columns

# From this many accounts (a list of dicts), `classify_many` runs the columnar
# evaluator (None: never). Measured (BENCHMARKS.md, issue 29, `columnar_crossover`):
# over Kim et al. accounts it breaks even at about 1,000 to 2,000 accounts on a
# two-input ruleset and 2,000 on `rules/synthesis.tiers`, and gains 1.1-1.5x from
# 5,000; below that the fixed cost of the array operations a rule outweighs what a
# row saves. Either way each account gets exactly what `classify` gives it.
COLUMNAR_FROM: int | None = 5_000


class Ruleset:
    """Classify accounts with one rule file. `classify` is the generated function itself."""

    classify: Callable[[Mapping[str, Any]], Decision]

    def __init__(self, checked: CheckedRuleset):
        self.checked = checked
        self.program: Program = compile_program(checked, Decision, self)
        self.classify = self.program.run
        self._explainer: Explainer | None = None
        self._reasoner: Reasoner | None = None
        self._columnar: ColumnarProgram | None = None
        self._hints: dict[str, str | None] = {}

    def hint_for(self, field: str) -> str | None:
        """ "did you mean 'fake_follower_ratio'?" for an undeclared field close to an input."""
        hint = self._hints.get(field, "")
        if hint == "":
            hint = did_you_mean(field, self.checked.inputs)
            if len(self._hints) < 4096:  # callers choose the names: the cache stays bounded
                self._hints[field] = hint
        return hint

    def classify_strict(self, account: Mapping[str, Any]) -> Decision:
        """`classify`, refusing fields the rules do not declare (InputError naming each)."""
        if isinstance(account, Mapping) and not self.checked.inputs.keys() >= account.keys():
            raise InputError(undeclared(self.checked.inputs, account, self.hint_for))
        return self.classify(account)

    @property
    def explainer(self) -> Explainer:
        """account -> explanation; generated on first use (most rulesets never explain)."""
        if self._explainer is None:
            self._explainer = compile_explainer(self.checked)[0]
        return self._explainer

    @property
    def reasoner(self) -> Reasoner:
        """account -> (reasons, divisions met, inputs); generated on first use."""
        if self._reasoner is None:
            self._reasoner = compile_reasoner(self.checked, Reason)
        return self._reasoner

    def __repr__(self) -> str:
        return f"<Ruleset {self.name} {self.version!r} {self.digest[:12]}>"

    @property
    def name(self) -> str:
        return self.checked.name

    @property
    def version(self) -> str:
        return self.checked.version

    @property
    def title(self) -> str:
        return self.checked.title

    @property
    def digest(self) -> str:
        """sha256 of the source text: the identity of exactly these rules."""
        return self.checked.digest

    @property
    def path(self) -> str:
        return self.checked.source.path

    @property
    def source(self) -> str:
        return self.checked.source.text

    @property
    def policy(self) -> str:
        return self.checked.policy

    @property
    def inputs(self) -> dict[str, str]:
        """Declared inputs and their types: {"followers": "count", ...}."""
        return {name: decl.type.value for name, decl in self.checked.inputs.items()}

    @property
    def tiers(self) -> tuple[str, ...]:
        return self.checked.tier_names()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.checked.labels)

    def classify_many(
        self, accounts: Iterable[Mapping[str, Any]]
    ) -> list[Decision | ClassifyError]:
        """Every account classified; a bad one yields its error in its place.

        One loop that a bad account leaves and re-enters where it was (no try per
        account), with the cyclic garbage collector paused: a decision holds no cycle,
        and a large batch of them otherwise makes the collector walk them again and
        again (it cost a fifth of the time at 200,000 accounts)."""
        if (
            COLUMNAR_FROM is not None
            and isinstance(accounts, list)
            and len(accounts) >= COLUMNAR_FROM
            and set(map(type, accounts)) == {dict}
        ):
            return self._columnar_decisions(accounts)
        run = self.classify
        out: list[Decision | ClassifyError] = []
        append = out.append
        remaining = iter(accounts)
        paused = gc.isenabled()
        gc.disable()
        try:
            while True:
                try:
                    for account in remaining:
                        append(run(account))
                    return out
                except ClassifyError as error:
                    append(error)
        finally:
            if paused:
                gc.enable()

    def _columnar_decisions(self, accounts: list[dict[str, Any]]) -> list[Decision | ClassifyError]:
        """`classify_many` of a large list of dicts: the columnar evaluator chooses each
        rule and labels, a Decision is made of them; rows it leaves to `classify` (bad
        values, ints past 2^53 in arithmetic, conflicts) get what `classify` gives. Row k
        is stamped at the call's start + k ns, the rows left to `classify` too: the ids
        sort in row order, `ts` never goes backwards, and none is past the call's end."""
        paused = gc.isenabled()
        gc.disable()
        start = time.time_ns()

        def place(row: int, decision: Decision) -> None:
            decision.time_ns = start + row  # its place in the batch's order

        try:
            make = functools.partial(batch_decisions, self, start)
            out = self.columnar.decisions(accounts, make, place)
            stamp_in_order(out, start)
            return out
        finally:
            if paused:
                gc.enable()

    def classify_columns(self, columns: Mapping[str, Any]) -> Columns:
        """A batch given as columns (input name -> list, numpy array or Arrow array, all
        of one length; an input without a column is absent from every row) classified
        at once: a mapping of `tier`, `labels`, `rule` (the matched rule's name) and
        `error` (the text `classify` raises), each a numpy object array with one entry
        a row, None for no tier, no rule, no error (a bad row has no labels: None).
        Row by row equal to `classify`; columns of other names are ignored."""
        return self.columnar.run(columns)

    @property
    def columnar(self) -> ColumnarProgram:
        """The rules over columns; compiled on first use."""
        if self._columnar is None:
            from engine.columnar.evaluate import ColumnarProgram

            self._columnar = ColumnarProgram(self.checked, self.classify)
        return self._columnar

    def run_examples(self) -> list[ExampleResult]:
        return [run_example(self, example) for example in self.checked.examples]


@dataclass(frozen=True)
class ExampleResult:
    example: Example
    decision: Decision | None
    error: ClassifyError | None

    @property
    def passed(self) -> bool:
        if self.decision is None:
            return False
        want = self.example
        if self.decision.tier != want.expect:
            return False
        return want.labels is None or tuple(sorted(want.labels)) == tuple(
            sorted(self.decision.labels)
        )

    def got(self) -> str:
        if self.decision is None:
            return f"error: {self.error}"
        labels = ", ".join(self.decision.labels) or "none"
        return f"{self.decision.tier or 'none'} labels {labels}"

    def expected(self) -> str:
        labels = (
            ""
            if self.example.labels is None
            else " labels " + (", ".join(self.example.labels) or "none")
        )
        return f"{self.example.expect or 'none'}{labels}"

    def to_dict(self) -> dict[str, Any]:
        """The example's outcome as `tierline test --format json` and the studio show it,
        with the explanation of a failure."""
        out: dict[str, Any] = {
            "line": self.example.span.line,
            "description": self.example.description,
            "passed": self.passed,
            "expected": self.expected(),
            "got": self.got(),
        }
        if not self.passed and self.decision is not None:
            out["explanation"] = self.decision.explain()
        return out


def run_example(ruleset: Ruleset, example: Example) -> ExampleResult:
    try:
        return ExampleResult(example, ruleset.classify(example.given), None)
    except ClassifyError as error:
        return ExampleResult(example, None, error)


def load_ruleset(
    path: str | Path | None = None, *, text: str | None = None, name: str | None = None
) -> Ruleset:
    """A ruleset from a file, or from source text (`name` names it if the text does not)."""
    if (path is None) == (text is None):
        raise TypeError("load_ruleset takes a path or text=, not both")
    source = read_source(path) if path is not None else Source(text or "", name or "<text>")
    return Ruleset(check_source(source, name=name))


def rule_changes(old: Ruleset, new: Ruleset, solver_ms: int = SOLVER_MS) -> Changes:
    """Whether any account can get another tier or other labels under `new` than under
    `old`, from the rules alone: one witness for each (old tier, new tier) pair, and
    for each label gained or lost, each decided by both versions' evaluators.
    IncomparableError when an input changed type."""
    return changes(old.checked, new.checked, _decider(old), _decider(new), solver_ms)


def reaching_account(
    ruleset: Ruleset, tier: str | None = None, label: str | None = None, solver_ms: int = SOLVER_MS
) -> dict[str, Any] | None:
    """An account that gets `tier` ("" for no tier) or has `label`, confirmed by the
    ruleset's evaluator; None when the solver finds none."""
    return reaching(ruleset.checked, _decider(ruleset), tier, label, solver_ms)


def _decider(ruleset: Ruleset) -> Decide:
    inputs = ruleset.checked.inputs

    def decide(account: dict[str, Any]) -> tuple[str, frozenset[str]] | None:
        own = {name: value for name, value in account.items() if name in inputs}
        try:
            decision = ruleset.classify(own)
        except RuleConflict:
            return REFUSED, frozenset()
        except ClassifyError:
            return None
        return decision.tier or "", frozenset(decision.labels)

    return decide
