"""Rule files are untrusted: nothing in one may become executable code."""

from __future__ import annotations

import re

import orjson
import pytest

from engine import load_ruleset
from engine.python.codegen import Module, trace_function
from engine.python.explainer import compile_explainer
from engine.python.log_encoder import compile_log_encoder
from engine.python.terminal import printable
from tests.test_log_writer import assert_same_as_to_dict
from tests.traced_explain import explain_traced

HOSTILE_NAMES = [
    "__import__",
    "exec",
    "raw",
    "run",
    "trace",
    "k0",
    "i0",
    "L",
    "r",
    "steps",
    "_t",
    "_div",
    "True",
    "None",
    "os",
    "self",
    "K",
    "_factory",
    "notes",
    "log",
    "P",
    "s0",
    "x0",
    "f0",
    "explain",
    "out",
    "failed",
    "why",
    "miss",
    "tried",
]
HOSTILE_TEXTS = [
    '"); import os; os.system("echo pwned',
    "\\\"; __import__('os').system('x') #",
    "line\nbreak",
    "tab\there",
    "\\",
    "'''",
    "{k0}",
    "\u0440\u0430\u0443\u0440\u0430l",  # Cyrillic look-alikes of "paypal"
    "__import__('os')",
]


def _quoted(text: str) -> str:
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        + '"'
    )


def hostile_ruleset() -> str:
    inputs = "\n".join(f"input {n}: count" for n in HOSTILE_NAMES)
    texts = ", ".join(_quoted(t) for t in HOSTILE_TEXTS)
    return f"""\
ruleset hostile
input platform: text
input topics: set of text
{inputs}
let exec_ = __import__ + exec
tier None when platform in {{{texts}}} and exec_ above 1
tier True when topics has any of {{{texts}}}
tier os when __import__ at least 1 and K / r above 2
otherwise self
label _factory when platform == {_quoted(HOSTILE_TEXTS[0])}
"""


@pytest.fixture(scope="module")
def hostile():  # type: ignore[no-untyped-def]
    return load_ruleset(text=hostile_ruleset(), name="hostile")


def account(**values: object) -> dict[str, object]:
    base: dict[str, object] = {n: 0 for n in HOSTILE_NAMES}
    base.update(platform="x", topics=[])
    base.update(values)
    return base


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_strings_are_data(hostile, text: str) -> None:  # type: ignore[no-untyped-def]
    assert hostile.classify(account(platform=text, exec=2)).tier == "None"
    assert hostile.classify(account(topics=[text])).tier == "True"
    assert hostile.classify(account(platform=text + " ")).tier == "self"


def test_hostile_names_are_data(hostile) -> None:  # type: ignore[no-untyped-def]
    d = hostile.classify(account(__import__=1, K=10, r=0))
    assert d.tier == "self"  # K / r is 10 / 0: defined as 0, not an exception
    assert d.notes == ("division by zero in `K / r` (r is 0): taken as 0",)
    assert hostile.classify(account(__import__=1, K=10, r=2)).tier == "os"
    labelled = hostile.classify(account(platform=HOSTILE_TEXTS[0], exec=5))
    assert labelled.labels == ("_factory",) and labelled.tier == "None"


@pytest.mark.parametrize("which", ["evaluator", "trace", "log encoder", "explainer"])
def test_generated_code_holds_no_rule_text(hostile, which: str) -> None:  # type: ignore[no-untyped-def]
    code = hostile.program.source_code
    if which == "trace":
        module = Module(hostile.program.checked)
        code = module.source([trace_function(module)])
    if which == "log encoder":
        code = compile_log_encoder(hostile.program.checked, orjson.dumps, {}).source_code
    if which == "explainer":
        code = compile_explainer(hostile.program.checked)[1]
    for text in HOSTILE_TEXTS:
        assert text not in code
    for word in ["__import__", "import", "os.system", "exec_", "_factory when", "None when"]:
        assert word not in code
    # every identifier in the generated code is one the compiler made
    made = re.compile(
        r"(k|i|l|v|t|s|x|f|c|p|g)\d+|_t|j|q|_div|_factory|K|raw|run|trace|log|steps|notes|r|L|P|a|b|x|i"
        r"|explain|out|tried|failed|why|miss|f|g"
        r"|type|int|float|str|bool|list|tuple|set|frozenset|isdisjoint|issubset"
        r"|join|get|append|any|not|and|or|is|in|if|elif|else|return|def|try|except"
        r"|Exception|KeyError|TypeError|AttributeError|None|True|False|for|while|break"
    )
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"'[^']*'", "", code)):
        assert made.fullmatch(name), name


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_strings_are_logged_as_data(hostile, text: str) -> None:  # type: ignore[no-untyped-def]
    for values in ({"platform": text, "exec": 2}, {"topics": [text]}, {"K": 10, "r": 0}):
        event = assert_same_as_to_dict(hostile.classify(account(**values)))
        assert event["input"]["platform"] == values.get("platform", "x")


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_strings_are_explained_as_data(hostile, text: str) -> None:  # type: ignore[no-untyped-def]
    for values in ({"platform": text, "exec": 2}, {"topics": [text]}, {"K": 10, "r": 0}):
        decision = hostile.classify(account(**values))
        assert decision.explain() == explain_traced(decision)
    # shown as data: its newline and tab as escapes, so that no line of it looks like the tool's
    assert printable(text) in hostile.classify(account(platform=text, exec=2)).explain()
