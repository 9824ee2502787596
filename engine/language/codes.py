"""The catalogue of diagnostics: every code a rule file can be told, with its wording.

Each `Code` names one kind of problem (`unknown-name`), the stage that finds it, its
severity, how a summary counts many of them, and its message and hint templates
(`str.format` with named fields), keyed by variant where one code is said in several
situations. Every place that makes a diagnostic makes it here (`CODE.at(span, …)`), so
the wording of a code is read and changed in one place, tests can list every code
(`CATALOGUE`), and a new code is one entry rather than a string literal in a checker.
OPA declares its error codes the same way in `ast/errors.go`.

Messages that are composed elsewhere are said so: a `syntax` diagnostic's message and
hint come from the syntax explainer's table of mistakes (`mistakes.py`,
`syntax_errors.py`); a hint that depends on the file (`did you mean 'followers'?`, the
names a file declares) is computed by the caller and passed as `hint=`.

A message or hint made here is a `Phrase` (phrase.py): the English text as a `str`, which
keeps its key and fields, so that the studio can say it again from the German catalogue
(german.py, same keys and fields) without the stages that find problems knowing about
languages. `TEXTS` holds the few texts said about diagnostics that belong to no code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from string import Formatter
from typing import Any, Final, Literal

from engine.language.phrase import Phrase, said
from engine.language.source import Span

Stage = Literal["load", "parse", "check", "analysis"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str  # stable, machine-readable: "unknown-name", a name of the CATALOGUE
    message: str
    span: Span
    hint: str | None = None
    severity: Severity = Severity.ERROR
    # An account that shows the finding (input -> value as the Python API takes it),
    # replayed through the evaluator before it was attached; None when none can.
    witness: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # > 0: this diagnostic is a summary standing for that many more of its code, not listed
    omitted: int = 0


class _Own:
    """The default of `Code.at(hint=…)`: the catalogue's hint for the variant, if any."""


OWN: Final = _Own()


@dataclass(frozen=True, slots=True)
class Code:
    name: str
    stage: Stage  # the stage that finds it (the first, where several do)
    messages: Mapping[str, str]
    hints: Mapping[str, str] = field(default_factory=dict)
    severity: Severity = Severity.ERROR
    # how a summary of many of them names them: "… and 12 more rules that can never match"
    counted: str = "findings"

    def message(self, variant: str = "", /, **fields: Any) -> str:
        """The variant's message (a `Phrase`: English text that can be said in German)."""
        return said(self.messages[variant], (self.name, "message", variant), fields)

    def hint(self, variant: str = "", /, **fields: Any) -> str:
        return said(self.hints[variant], (self.name, "hint", variant), fields)

    def at(
        self,
        span: Span,
        variant: str = "",
        /,
        *,
        hint: str | _Own | None = OWN,
        severity: Severity | None = None,
        witness: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Diagnostic:
        """The diagnostic of this code at `span`: the variant's message, and its hint
        unless the caller gives one (a computed hint, or None for none)."""
        if isinstance(hint, _Own):
            hint = self.hint(variant, **fields) if variant in self.hints else None
        return Diagnostic(
            self.name,
            self.message(variant, **fields),
            span,
            hint,
            severity or self.severity,
            witness=witness,
        )


CATALOGUE: dict[str, Code] = {}


def _code(
    name: str,
    stage: Stage,
    messages: str | Mapping[str, str],
    hints: str | Mapping[str, str] | None = None,
    severity: Severity = Severity.ERROR,
    *,
    counted: str = "findings",
) -> Code:
    """Declare a code; a plain string is the template of the one variant ""."""
    assert name not in CATALOGUE, name
    code = Code(
        name,
        stage,
        {"": messages} if isinstance(messages, str) else dict(messages),
        {"": hints} if isinstance(hints, str) else dict(hints or {}),
        severity,
        counted,
    )
    CATALOGUE[name] = code
    return code


WARNING = Severity.WARNING

# ------------------------------------------------------------------ reading a file
FILE_TOO_LARGE = _code(
    "file-too-large",
    "load",
    "this file is {size:,} bytes; rule files may be at most {limit:,}",
)
NOT_UTF8 = _code(
    "not-utf8",
    "load",
    "this file is not UTF-8 text (byte {offset} is 0x{byte:02x})",
    "save the file as UTF-8",
)

# ---------------------------------------------------------------- how it is written
SYNTAX = _code(
    "syntax",
    "parse",
    "{message}",  # the syntax explainer's words (mistakes.py, syntax_errors.py)
)
UNEXPECTED_CHARACTER = _code(
    "unexpected-character",
    "parse",
    "unexpected character {shown}",
    {
        "quote": 'texts are written in double quotes: "{text}"',
        "digit": "a number ends with at most one of k, M, B or %, then a space",
    },
)
AMBIGUOUS_NUMBER = _code(
    "ambiguous-number",
    "parse",
    "{token} reads as {value:g} here (a point starts decimals)",
    "for {whole:,}, write {whole:_}{in_thousands}; for {value:g}, write {value:g}",
)
NUMBER_TOO_LARGE = _code(
    "number-too-large",
    "parse",
    "{shown} is too large for a number",
    "numbers in rules go up to about 1.8e308 (1.8 followed by 308 digits)",
)
TOO_DEEP = _code(
    "too-deep",
    "parse",
    {
        "statement": "this statement is nested more than {depth} levels deep",
        "file": "this file is nested too deeply",
    },
    {"statement": "split it with `let` definitions"},
)
LEVEL_ON_EXPRESSION = _code(
    "level-on-expression",
    "parse",
    "only a level can be tested for a band such as '{band}'",
    "define a `level` from this value and test that",
)

# ------------------------------------------------------------ declarations, headers
NO_TIERS = _code(
    "no-tiers",
    "check",
    {"": "this ruleset has no tiers", "empty": "this ruleset has no tiers (the file is empty)"},
    {
        key: "add a tier rule, e.g. `tier micro when followers between 10k and 100k`"
        for key in ("", "empty")
    },
)
DUPLICATE_HEADER = _code(
    "duplicate-header",
    "check",
    "'{key}' is declared twice (first on line {line})",
)
DUPLICATE_NAME = _code(
    "duplicate-name",
    "check",
    {"": "'{name}' is already declared on line {line}", "given": "'{name}' is given twice"},
    {"": "give this {what} another name"},
)
RESERVED_NAME = _code(
    "reserved-name",
    "check",
    "'none' means no label in examples; give this label another name",
)
MISSING_DEFAULT = _code(
    "missing-default",
    "check",
    "optional input '{name}' needs a default",
    "write `optional default …` with {type}",
)
RANGE_ON_NON_NUMBER = _code(
    "range-on-non-number",
    "check",
    "'{name}' is {type}: only numbers have ranges",
)
RANGE_OP = _code(
    "range-op",
    "check",
    "a range says which values are allowed: `{spelling}` does not",
    "write `at least …`, `at most …` or `between … and …`",
)
EMPTY_RANGE = _code(
    "empty-range",
    "check",
    {
        "": "this range is empty: {low} is more than {high}",
        "input": "no value is {text}",
        "band": "band '{band}' is an empty range",
    },
    {"": "write `between {high} and {low}`"},
)
# The hints of a value outside an input's range (out-of-range, default-out-of-range).
_RANGE_HINTS = {
    "percent": "a percent input accepts 0% to 100% unless its declaration widens it, "
    "e.g. `input {name}: percent at most 1000%`",
    "percent-above": "a percent is at most 100% unless its declaration says how far above, "
    "e.g. `input {name}: percent between … and 1000%`",
    "declared": "widen the range of '{name}' where it is declared, or change this value",
}
DEFAULT_OUT_OF_RANGE = _code(
    "default-out-of-range",
    "check",
    "the default of '{name}' is not {allowed}",
    _RANGE_HINTS,
)
OUT_OF_RANGE = _code(
    "out-of-range",
    "check",
    {
        "": "'{name}' allows only values {allowed}, so {value} is out of its range and "
        "this comparison is {fixed} true",
        "example": "'{name}' allows only values {allowed}; {value} is not",
        "band": "band '{band}' can never be chosen: '{source}' allows only values {allowed}",
    },
    _RANGE_HINTS,
)
CYCLIC_LET = _code(
    "cyclic-let",
    "check",
    "these definitions depend on each other: {cycle}",
    "a `let` or `level` may only use inputs and earlier-defined values",
)

# --------------------------------------------------------------------------- types
TYPE_MISMATCH = _code(
    "type-mismatch",
    "check",
    {
        "literal": "'{name}' is {type}; {text} is not",
        "declared": "'{name}' is declared {declared} but its value is {found}",
        "arithmetic": "'{op}' works on numbers, but this is {found}",
        "test": "{what}, but this is {found}",
        "equality-only": "{type} can only be compared with == or !=",
        "compare": "cannot compare {left} with {right}",
        "between": "`between` works on numbers, but this uses {type}",
    },
    {
        "percent": "did you mean {percent}?",
        "count-max": "a count is at most {max:,} (what the gRPC API carries)",
        "write-set": 'write a set: {{"{text}"}}',
        "set-for-text": "for a set of texts, use `has any of {{…}}`",
        "text-for-set": 'for a text, use `in {{…}}` or `is "…"`',
        "choice-of-texts": 'for a choice of texts, use `in {{"…", "…"}}`',
        "texts-with-texts": 'texts are compared with texts: platform == "instagram"',
    },
)
NOT_A_CONDITION = _code(
    "not-a-condition",
    "check",
    {
        "": "a condition must be true or false, but this is {type}",
        "combined": "`and`, `or` and `not` combine conditions, but this is {type}",
    },
    {
        "": "compare it: `… at least …`, `… is …`, `… has any of {{…}}`",
        "combined": "compare it: `… at least …`, `… is …`",
    },
)
PERCENT_WITHOUT_SIGN = _code(
    "percent-without-sign",
    "check",
    "'{name}' is a percentage, but {text} is a plain number",
    "did you mean {percent}?",
)
PERCENT_FOR_COUNT = _code(
    "percent-for-count",
    "check",
    "'{name}' is a count, but {text} is a percentage",
    "did you mean {number}?",
)

# ------------------------------------------------------------------- names, levels
UNKNOWN_NAME = _code(
    "unknown-name",
    "check",
    "unknown name '{name}'",
    {
        "declare-input": "declare it with `input NAME: TYPE`",
        "declare": "declare it with `input {name}: …` or `let {name} = …`",
        "quote": 'put text in quotes: "{name}"',
    },
)
UNKNOWN_INPUT = _code(
    "unknown-input",
    "check",
    "unknown input '{name}'",
    {"derived": "'{name}' is computed by the rules; give the inputs it is made from"},
)
UNKNOWN_TIER = _code(
    "unknown-tier",
    "check",
    "unknown tier '{name}'",
    {
        "known": "the tiers are {names}",
        "none": "this file has no tiers: add `tier {name} when …`",
    },
)
UNKNOWN_LABEL = _code(
    "unknown-label",
    "check",
    "unknown label '{name}'",
    {
        "known": "the labels are {names}",
        "none": "this file has no labels: add `label {name} when …`, or leave `labels …` out",
    },
)
LEVEL_AS_VALUE = _code(
    "level-as-value",
    "check",
    "'{name}' is a level: say which band ({bands})",
    "write `{name} is {band}`",
)
LEVEL_SOURCE_TYPE = _code(
    "level-source-type",
    "check",
    "a level needs a number to grade; '{name}' is {type}",
)
BAND_NOT_NUMBER = _code(
    "band-not-number",
    "check",
    "a band's bound must be a number written in the file",
)
NOT_A_LEVEL = _code(
    "not-a-level",
    "check",
    "'{name}' is not a level, so it has no band '{band}'",
    {
        "define": "define one: `level {name}_level from {name}` with bands",
        "text": 'to test a text, write `{name} is "{band}"`',
    },
)
UNKNOWN_BAND = _code(
    "unknown-band",
    "check",
    "level '{level}' has no band '{band}'",
    {"known": "its bands are {bands}"},
)
OTHERWISE_NOT_LAST = _code(
    "otherwise-not-last",
    "check",
    "band '{band}' is `otherwise`, so the bands after it can never be chosen",
    "make `otherwise` the last band",
)
UNREACHABLE_BAND = _code(
    "unreachable-band",
    "check",
    "band '{band}' can never be chosen: the bands above it cover all its values",
    "bands are tried top to bottom: put the narrower band first",
    counted="bands that can never be chosen",
)
OVERLAPPING_BANDS = _code(
    "overlapping-bands",
    "check",
    "bands '{first}' and '{band}' overlap from {low} to {high}",
    "make the ranges meet without sharing values",
    counted="bands that overlap a band above them",
)
LEVEL_GAP = _code(
    "level-gap",
    "check",
    "level '{level}' has no band for some values of '{source}' (for example {value})",
    "add a last band `NAME otherwise`",
    WARNING,
)

# ------------------------------------------------------------------ rules, examples
DUPLICATE_OTHERWISE = _code(
    "duplicate-otherwise",
    "check",
    "a second `otherwise` (the first is on line {line})",
)
EXAMPLE_MISSING_INPUT = _code(
    "example-missing-input",
    "check",
    'example "{description}" gives no value for required {missing}',
    "give every required input, or declare it `optional default …`",
)
UNREACHABLE_RULE = _code(
    "unreachable-rule",
    "check",  # after `otherwise`; the analysis finds the rest
    {
        "after-otherwise": "tier '{tier}' can never match: it comes after `otherwise` "
        "on line {line}",
        "no-account": "tier '{tier}' can never match: no account satisfies its condition",
        "contradiction": "tier '{tier}' can never match: no account satisfies its condition",
        "taken": "tier '{tier}' can never match: tier '{earlier}' (line {line}) above it "
        "takes every account it would",
        "shadowed": "tier '{tier}' can never match: {takers} take every account it would{example}",
        "label": "label '{label}' can never hold: no account satisfies its condition",
    },
    {
        "after-otherwise": "`otherwise` must be the last tier rule",
        "no-account": "check the bounds against the inputs' ranges (a count is a whole "
        "number, a percentage from 0% to 100% unless its input says otherwise)",
        "contradiction": "look for tests that contradict each other "
        '(has "x" and not has any of {{"x"}})',
        "taken": "tiers are tried top to bottom: move it up, or narrow the one above",
        "shadowed": "tiers are tried top to bottom: move it up, or narrow the ones above",
        "label": 'look for tests that contradict each other (platform == "a" and platform == "b")',
    },
    counted="rules that can never match",
)
OVERLAPPING_TIERS = _code(
    "overlapping-tiers",
    "analysis",
    {
        "": "tiers '{earlier}' (line {line}) and '{later}' both match some accounts, "
        "which policy unique forbids{example}",
    },
    {
        "": "make the conditions exclude each other",
        "ranges": "make the ranges meet without sharing a value (at least … / below …)",
    },
    counted="tiers that overlap a tier above them",
)
UNCOVERED = _code(
    "uncovered",
    "analysis",
    "some accounts get no tier: for example {example}; the file has no `otherwise`",
    "add `otherwise none` to say that is meant, or a tier for them",
    WARNING,
)
LABEL_ALWAYS = _code(
    "label-always",
    "analysis",
    "label '{label}' holds for every account, so it tells nothing apart",
    "narrow its condition, or drop the label",
    WARNING,
)
ALWAYS_TRUE = _code(
    "always-true",
    "analysis",
    "`{text}` always holds where the rest of {kind} '{rule}' does, so it changes nothing",
    "drop it, or fix the bound it was meant to have",
    WARNING,
)
NEVER_TRUE = _code(
    "never-true",
    "analysis",
    "`{text}` never holds, so this alternative of {kind} '{rule}' never applies",
    "look for tests that contradict each other",
    WARNING,
)
ANALYSIS_UNDECIDED = _code(
    "analysis-undecided",
    "analysis",
    "the solver could not decide within {budget} ms whether {what}",
    "simplify the condition, or raise the budget (tierline check --solver-ms N)",
    WARNING,
)

# What the parser reports about how a thing is written: at one spot, it comes before
# what the checker says about the same thing (read `3,5` as `3.5`, then: 3.5 what?).
PARSE_CODES = frozenset(name for name, code in CATALOGUE.items() if code.stage == "parse")


# Texts said about diagnostics that are not one code's: the summary of those not listed
# (diagnostics.bounded) and the hint of a misspelled name. Keyed as ("", "text", key).
TEXTS: dict[str, str] = {
    "omitted": "… and {count:,} more {counted} ({code}): only the first {per_code} of each "
    "kind are listed",
    "omitted-hint": "fix the ones listed and check again to see the rest",
    "did-you-mean": "did you mean '{match}'?",
    # the parts of an unreachable tier's finding (engine/analysis/prove.py)
    "tier-at": "'{tier}' (line {line})",
    "listed": "{items}",
    "shadowed-example": ": for example {example} goes to an earlier tier",
    # what the solver could not decide about an edit (engine/analysis/changes.py)
    "moves": "whether an account goes from {old} to {new}",
    "no-tier": "no tier",
    "label-gained": "whether label {label} is gained",
    "label-lost": "whether label {label} is lost",
}


def text(key: str, /, **fields: Any) -> str:
    """One of TEXTS, filled (a `Phrase`)."""
    return said(TEXTS[key], ("", "text", key), fields)


def listed(items: list[str]) -> str:
    """Texts of TEXTS joined by commas (a `Phrase` whose `items` each language says,
    in order): "'big' (line 6), 'mid' (line 7)"."""
    return Phrase(", ".join(items), ("", "text", "listed"), {"items": list(items)})


def counted(code: str) -> str:
    """How a summary names many diagnostics of `code` ("rules that can never match")."""
    known = CATALOGUE.get(code)
    return known.counted if known is not None else "findings"


def fields(template: str) -> set[str]:
    """The named fields a template takes (for the catalogue's own test)."""
    return {name for _text, name, _spec, _conv in Formatter().parse(template) if name is not None}
