"""Node ids and the one walker (`engine/language/ast.py`): every node is numbered, every
node kind is reached by `walk`, `children` names every node a node holds, and mypy names
a `match` over the node kinds that misses one (each backend's ends in `assert_never`)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from engine import load_ruleset
from engine.checker.check import check
from engine.language import ast
from engine.language.parse import parse
from engine.language.source import Source
from tests.conftest import ROOT, RULES

# Every construct of the language at least once, beside the shipped rule files (which
# use no `let`, negation, text test, `not in` or `or`).
EVERY_CONSTRUCT = """\
ruleset every  # a trailing comment
version "1"
title "every construct"
policy first
# an own-line comment
input followers: count
input rate: percent at most 200%
input platform: text optional default "instagram"
input topics: set of text
input verified: flag optional default false
level size from followers
  small below 10k
  big   otherwise
let per = -(followers / 2) + 3 * 1
tier a when size is big and not verified and platform is not "x"
tier b when per between 1 and 2 or platform in {"y", "z"} or topics has any of {"q"}
tier c when platform not in {"w"} and topics has "t" and rate at least 3% and verified == true
label l when size small
otherwise none
example "one"
  given followers 5, rate 1%, topics {"q"}
  expect b labels l
"""

KINDS = frozenset(typing.get_args(ast.Node))


def _files() -> list[tuple[str, ast.RuleFile]]:
    found = [
        (path.name, parse(Source(path.read_text(), str(path)))) for path in RULES.glob("*.tiers")
    ]
    return [*found, ("every", parse(Source(EVERY_CONSTRUCT, "every.tiers")))]


def test_walk_reaches_every_node_kind() -> None:
    """Comments sit beside the statements (`RuleFile.comments`), not under them."""
    reached = {type(node) for _name, tree in _files() for node in ast.walk(tree)}
    assert reached == KINDS - {ast.Comment}
    assert {type(c) for c in _files()[-1][1].comments} == {ast.Comment}


def test_children_name_every_node_a_node_holds() -> None:
    """For every node of the shipped files: the nodes in its fields, in field order, are
    its children (a field added to a node and forgotten in `children` fails here)."""
    for name, tree in _files():
        for node in ast.walk(tree):
            held: list[object] = []
            for f in dataclasses.fields(node):
                if f.name in ("span", "id", "comments"):
                    continue
                value = getattr(node, f.name)
                for item in value if isinstance(value, tuple) else (value,):
                    if type(item) in KINDS:
                        held.append(item)
            assert list(ast.children(node)) == held, (name, node)


def test_every_node_has_its_own_number_and_a_copy_keeps_it() -> None:
    """Ids are unique across files (two versions are compared in one process) and survive
    `dataclasses.replace`, so facts keyed by them stay attached to a rebuilt node."""
    numbers = [n.id for _name, tree in _files() for n in ast.walk(tree)]
    assert len(numbers) == len(set(numbers))
    assert all(number > 0 for number in numbers)
    name = ast.Name("followers")
    assert dataclasses.replace(name).id == name.id
    assert ast.Name("followers") == name and ast.Name("followers").id != name.id


def test_types_are_kept_by_node_number() -> None:
    """The checker's types are keyed by the numbers of the file's own nodes."""
    tree = parse(Source(EVERY_CONSTRUCT, "every.tiers"))
    checked = check(Source(EVERY_CONSTRUCT, "every.tiers"), tree)
    expressions = {n.id: n for n in ast.walk(tree) if isinstance(n, typing.get_args(ast.Expr))}
    assert checked.types and set(checked.types) <= set(expressions)
    rule = next(r for r in checked.tiers if r.name == "c")
    assert checked.types[rule.when.id] is ast.TypeName.FLAG  # type: ignore[union-attr]


def test_value_names_leave_band_names_out() -> None:
    tree = parse(Source(EVERY_CONSTRUCT, "every.tiers"))
    rule = next(s for s in tree.statements if isinstance(s, ast.TierRule) and s.name.name == "a")
    assert [n.name for n in ast.value_names(rule.when)] == ["size", "verified", "platform"]


def test_the_construct_file_classifies() -> None:
    """The file above is a working ruleset (so the kinds it reaches are real ones)."""
    ruleset = load_ruleset(text=EVERY_CONSTRUCT, name="every")
    account = {"followers": 20_000, "rate": 0.01, "topics": []}
    assert ruleset.classify(account).tier == "a"


_MATCH = """\
from typing import assert_never

from engine.language import ast


def kind(node: ast.Expr) -> str:
    match node:
        case ast.Name() | ast.Number() | ast.Text() | ast.Flag() | ast.TextSet():
            return "value"
        case ast.Arith() | ast.Neg():
            return "arithmetic"
        case ast.Compare() | ast.Between() | ast.InSet() | ast.Has() | ast.LevelIs():
            return "test"
        case ast.TextIs() | ast.AllOf() | ast.AnyOf(){not_case}:
            return "condition"
        case _:
            assert_never(node)
"""


@pytest.mark.slow  # make test-slow and CI: over 5 s on 2 cores
@pytest.mark.parametrize("complete", [True, False])
def test_mypy_names_a_missing_case(tmp_path: Path, complete: bool) -> None:
    """A match over the node kinds that leaves `Not` out is a type error that names it;
    the same match with it passes. Each backend's match ends the same way."""
    module = tmp_path / "backend.py"
    module.write_text(_MATCH.format(not_case=" | ast.Not()" if complete else ""))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(module),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "MYPYPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=240,
    )
    if complete:
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert done.returncode == 1, done.stdout + done.stderr
        assert 'Argument 1 to "assert_never" has incompatible type "Not"' in done.stdout


def test_every_backend_match_ends_in_assert_never() -> None:
    """The matches over node kinds of codegen, SQL, SMT, the interpreter, the types, the
    formatter and the checker, and the walker's own."""
    for path in (
        "engine/python/codegen.py",
        "engine/sql/compile.py",
        "engine/analysis/smt.py",
        "engine/python/interpret.py",
        "engine/checker/types.py",
        "engine/language/format.py",
        "engine/checker/check.py",
        "engine/language/ast.py",
    ):
        text = (ROOT / path).read_text()
        assert "assert_never(" in text, path
        assert "raise AssertionError" not in text, path
