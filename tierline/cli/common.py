"""What every subcommand shares: the rule files named on the command line,
usage errors (exit 2), and diagnostics shown coloured on a terminal, plain
when piped, or as JSON for editors and CI bots."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeAlias

from engine import RuleError
from engine.language.diagnostics import Diagnostic, render_all, to_json
from engine.language.source import Source
from engine.load import check_source, decode
from engine.python.terminal import json_printable
from engine.python.terminal import printable as escaped

if TYPE_CHECKING:  # the evaluator is loaded by the commands that evaluate, when they do
    from engine import Ruleset

# what `add_subparsers()` returns; each subcommand module adds its parser to it
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

RED, YELLOW, CYAN, BOLD, RESET = "\033[31m", "\033[33m", "\033[36m", "\033[1m", "\033[0m"


class UsageError(Exception):
    pass


def rule_files(paths: list[str]) -> Iterator[Path]:
    """Files as given, and every `*.tiers` below a folder, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.tiers") if p.is_file())
        elif path.exists():
            yield path
        else:
            raise UsageError(f"no such file or folder: {raw}")


def printable(text: str) -> str:
    """Text of the tool's own lines with pieces from a rule file or data in them, safe for
    a terminal: control characters, bidi overrides and line separators shown as escapes
    (`\\x1b`, `\\u202e`; see engine/python/terminal.py), the newlines kept. A single value
    (an id, a file name) goes through `engine.python.terminal.printable` itself, which
    escapes its newlines too."""
    return escaped(text, newlines=True)


def use_color(args: argparse.Namespace, stream: TextIO) -> bool:
    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def paint(text: str, color: bool) -> str:
    """Colour the heads, carets and hints of rendered diagnostics."""
    if not color:
        return text
    out = []
    for line in text.splitlines():
        if line.startswith("ERROR:"):
            line = f"{BOLD}{RED}ERROR{RESET}{BOLD}{line[5:]}{RESET}"
        elif line.startswith("WARNING:"):
            line = f"{BOLD}{YELLOW}WARNING{RESET}{BOLD}{line[7:]}{RESET}"
        elif line.startswith(" | ") and line.rstrip().endswith("^") and set(line[3:]) <= {".", "^"}:
            line = " | " + line[3:].replace(".", " ").replace("^", f"{RED}^", 1) + RESET
        elif line.startswith(" = "):
            line = f" = {CYAN}{line[3:]}{RESET}"
        out.append(line)
    return "\n".join(out)


def report(args: argparse.Namespace, source: Source, diagnostics: list[Diagnostic]) -> None:
    """Diagnostics as text or JSON lines. Their messages and hints quote the rule file
    (texts, witnesses) and name it (a file name is anyone's bytes): each escaped for the
    terminal on its own, so that a newline in one shows as `\\n` and cannot forge a
    diagnostic; the rendering's own lines and colours go in after."""
    if args.output == "json":
        for item in to_json(source, diagnostics):
            print(json_printable(json.dumps(item, ensure_ascii=False)))
    elif diagnostics:
        named = Source(source.text, escaped(source.path))
        shown = [
            dataclasses.replace(
                d, message=escaped(d.message), hint=None if d.hint is None else escaped(d.hint)
            )
            for d in diagnostics
        ]
        print(paint(render_all(named, shown), use_color(args, sys.stdout)))


def usage(error: UsageError) -> int:
    print(f"tierline: {error}", file=sys.stderr)
    return 2


def load_rules(path: Path, args: argparse.Namespace) -> Ruleset | None:
    from engine import load_ruleset

    try:
        return load_ruleset(path)
    except RuleError as error:
        report(args, error.source, error.diagnostics)
    except OSError as error:
        print(f"tierline: cannot read {escaped(str(path))}: {error.strerror}", file=sys.stderr)
    return None


def rules_and_map(args: argparse.Namespace) -> tuple[Ruleset, dict[str, str]] | int:
    """The RULES file and the `--map INPUT=COLUMN` pairs of a table command, or the exit
    code after saying what is wrong (2 for usage, 1 for broken rules)."""
    path = Path(args.rules)
    if not path.is_file():
        return usage(UsageError(f"no such rule file: {args.rules}"))
    try:
        columns = mapped(args.map)
    except UsageError as error:
        return usage(error)
    ruleset = load_rules(path, args)
    return 1 if ruleset is None else (ruleset, columns)


def mapped(pairs: list[str]) -> dict[str, str]:
    """The `--map INPUT=COLUMN` pairs (COLUMN may list several columns of a set of text,
    `topics=category_1,category_2`, which the table commands resolve against the files).
    An input mapped twice is a usage error naming both: silently keeping the last would
    classify on a column the user may not have meant."""
    columns: dict[str, str] = {}
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise UsageError(f"--map {pair}: expected INPUT=COLUMN, e.g. followers=follower_count")
        if name in columns:
            raise UsageError(
                f"--map {given[name]} and --map {pair} both map {name}; give one (a set of "
                f"text may take several columns: --map {name}={columns[name]},{column})"
            )
        columns[name], given[name] = column, pair
    return columns


def load_version(spec: str, args: argparse.Namespace) -> Ruleset | None:
    """A rule file, or `REV:PATH`: the file as git has it at a revision (`main:rules/x.tiers`),
    so that a pull request can be compared with main. Diagnostics name `REV:PATH`."""
    path = Path(spec)
    if path.is_file():
        return load_rules(path, args)
    rev, sep, inside = spec.partition(":")
    if not sep or not rev or not inside:
        raise UsageError(f"no such rule file: {spec} (a file, or REV:PATH from git)")
    try:
        shown = subprocess.run(["git", "show", f"{rev}:{inside}"], capture_output=True,
                               timeout=60, check=False)  # fmt: skip
    except FileNotFoundError:
        raise UsageError(f"{spec}: git is not installed, so REV:PATH cannot be read") from None
    if shown.returncode != 0:
        said = shown.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"{spec}: git cannot show it: {said[0] if said else 'no output'}")
    from engine import Ruleset

    try:
        return Ruleset(check_source(decode(shown.stdout, spec)))
    except RuleError as error:
        report(args, error.source, error.diagnostics)
        return None


def map_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="INPUT=COLUMN",
        help="read an input from a column of another name (repeatable)",
    )


def engine_options(parser: argparse.ArgumentParser) -> None:
    """Where a table command runs: DuckDB embedded, or Spark at `--master`."""
    parser.add_argument(
        "--engine", choices=("duckdb", "spark"), default="duckdb", help="default duckdb"
    )
    parser.add_argument(
        "--master", default="local[*]", help="Spark's master (--engine spark; default local[*])"
    )


def output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", dest="output")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def settings_problems(error: Any, command: str) -> None:
    """pydantic's ValidationError, one line a problem, in the words of the settings."""
    for problem in error.errors():
        field = ".".join(str(p) for p in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        print(f"{command}: {field + ': ' if field else ''}{message}", file=sys.stderr)


def guarded(command: str, work: Callable[[], int], tables: bool = True) -> int:
    """Run a command: usage errors are 2. With `tables` (the command reads data),
    refusals of the files or columns are usage errors too, and DuckDB failing on the
    data is 1, said in one line; without, DuckDB and the tables are not even imported."""
    if not tables:
        try:
            return work()
        except UsageError as error:
            return usage(error)
    import duckdb

    from engine.sql.compile import SqlError
    from tierline.tables.columns import TableError
    from tierline.tables.migration import Disagreement

    try:
        return work()
    except UsageError as error:
        return usage(error)
    except (TableError, SqlError) as error:
        return usage(UsageError(str(error)))
    except duckdb.Error as error:
        print(f"tierline {command}: {error}", file=sys.stderr)
        return 1
    except Disagreement as error:
        print(f"tierline {command}: internal error, please report it: {error}", file=sys.stderr)
        return 1
