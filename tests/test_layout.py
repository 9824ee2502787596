"""The layout keeps its promises: imports point down the pipeline, with no circles.

Read from the source (every `import`, those under `if TYPE_CHECKING:` and inside
functions included), so that a circle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "server", "tierline")

# Each stage of the engine may import only the stages before it, and itself.
ENGINE_ORDER = ("language", "checker", "analysis", "python", "sql", "columnar")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "gen" not in path.relative_to(ROOT).parts:
                found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project's modules that `name` imports (`from engine import ast` counts as engine.ast)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle_from(start: str) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in on_path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        on_path.add(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if found := visit(nxt):
                return found
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    return visit(start)


def test_the_layout_is_read_from_the_packages() -> None:
    assert "engine.language.parse" in MODULES and "tierline.cli.main" in MODULES
    assert "engine.language.ast" in GRAPH["engine.language.parse"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_circle(name: str) -> None:
    cycle = _cycle_from(name)
    assert cycle is None, " -> ".join(cycle or [])


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "engine" and parts[1] in ENGINE_ORDER:
        return ENGINE_ORDER.index(parts[1])
    return None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("engine.")))
def test_engine_stages_import_only_earlier_stages(name: str) -> None:
    own = _stage(name)
    for target in GRAPH[name]:
        assert target.split(".")[0] == "engine", f"{name} imports {target}: engine stays pure"
        theirs = _stage(target)
        if own is None:
            continue  # the top (load, ruleset, decision, registry) may use every stage
        assert theirs is not None, f"{name} (a stage) imports {target} (the top of the engine)"
        assert theirs <= own, f"{name} imports {target}, a later stage"


def test_engine_imports_no_grpc_and_does_no_serving() -> None:
    for name, path in MODULES.items():
        if name.startswith("engine"):
            text = path.read_text(encoding="utf-8")
            words = (
                "import grpc",
                "from grpc",
                "structlog",
                "watchfiles",
                "import duckdb",
                "pyspark",
            )
            for word in words:
                assert word not in text, f"{name} uses {word}"


def test_tables_run_the_engine_and_serve_nothing() -> None:
    for name in MODULES:
        if name.startswith("tierline.tables"):
            assert not any(t.startswith(("tierline.cli", "server")) for t in GRAPH[name]), name


def test_engine_and_server_do_not_import_the_tools() -> None:
    """`tierline.*` builds on `engine` and `server`; never the reverse."""
    for name in MODULES:
        if name.startswith(("engine", "server")):
            assert not any(t.startswith("tierline") for t in GRAPH[name]), name


def test_a_wheel_installs_exactly_three_packages() -> None:
    """`tables` is PyTables' import name, `cli` and `reports` are anyone's: the wheel installs
    only names the product owns."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'include = ["engine*", "server*", "tierline*"]' in text
    assert 'tierline = "tierline.cli.main:main"' in text
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert tops == {"engine", "server", "tierline", "tests", "benchmarks"}, tops


def test_no_test_code_in_the_runtime_packages() -> None:
    """What only tests and benchmarks use lives under tests/ or benchmarks/: nothing in the
    wheel imports a test framework or the test helpers, or refers to a repository checkout."""
    for name, path in MODULES.items():
        assert not name.rpartition(".")[2].startswith(("testing", "test_")), name
        for target in GRAPH[name]:
            assert not target.startswith(("tests", "benchmarks")), f"{name} imports {target}"
        text = path.read_text(encoding="utf-8")
        for word in ("import pytest", "import hypothesis", "from hypothesis"):
            assert word not in text, f"{name} uses {word}"


def test_every_package_is_typed() -> None:
    """PEP 561: a `py.typed` at the top of each package types its subpackages too."""
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
