"""The code generator that every per-ruleset Python function is made by.

Python source is generated once per ruleset, compiled with `compile()`, and
run for every account: nothing walks the AST per account. Rule files are
untrusted text, so nothing from one becomes code: generated source holds only
names made here (`i0`, `l1`, `v2`, `k3`), operators and numbers written by
`repr` (digits, a sign, a point); every name and text from the rule file
reaches the code as a constant, a global of the generated module.

A `Module` holds what the functions of one generated module share: its
constants, and the leaves and divisions, numbered once from the checked
ruleset. Each function is one `Function`: how its rules watch their leaves
(`plain`: not at all, for `run`, the fast path of `engine/python/evaluator.py`;
`steps`: a list of each leaf's result, for `trace`, the reference renderings
in tests; `locals`: each leaf's result in a local of its own) and its
`Ending`, the code after the rules. The endings of the `locals` functions live
with their users: the decision log's line encoder (`engine/python/log_encoder.py`),
the explainer (`engine/python/explainer.py`) and the reasons
(`engine/python/reasoner.py`). An ending reads the function's locals through the
`Frame` it is given (`frame.leaf(leaf)`, `frame.var(name)`, `frame.rule`),
which names them in one place.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, assert_never

from engine.checker.model import CheckedRuleset, Input, Let, Level, Rule, Value
from engine.language import ast
from engine.python.index import RangeIndex, range_index
from engine.python.leaves import Leaf, rule_leaves
from engine.python.values import MAX_COUNT, MAX_NUMBER, RuleConflict, validate

T = ast.TypeName
# The same bounds as `engine/python/values.py` (anything else goes to its slow path): a count
# fits in 64 bits, as in the gRPC API; a number is finite (NaN fails every comparison).
_NUMERIC = "(type({v}) is not float and type({v}) is not int) or not {low} <= {v} <= {high}"
_FAST_TYPE_CHECK = {
    T.COUNT: "type({v}) is not int or not 0 <= {v} <= {count}",
    T.NUMBER: _NUMERIC,
    T.PERCENT: _NUMERIC,
    T.TEXT: "type({v}) is not str",
    T.FLAG: "type({v}) is not bool",
    T.TEXT_SET: (
        "(type({v}) is not list and type({v}) is not frozenset"
        " and type({v}) is not tuple and type({v}) is not set)"
    ),
}

CHUNK = 500  # tiers in each function of a big ruleset's `run`
Watch = Literal["plain", "steps", "locals"]  # how a function's rules watch their leaves
Trace = tuple[Rule | None, tuple[str, ...], list[tuple[int, bool]], dict[str, Value], list[int]]


@dataclass(frozen=True)
class Division:
    """A `/` in the rules: its text, for the note when it divides by zero."""

    text: str
    divisor: str


def division_notes(divisions: Sequence[Division], indexes: Iterable[int]) -> tuple[str, ...]:
    """What a decision notes for each division by zero it met, once each."""
    said = (
        f"division by zero in `{divisions[i].text}` ({divisions[i].divisor} is 0): taken as 0"
        for i in indexes
    )
    return tuple(dict.fromkeys(said))


def number_divisions(checked: CheckedRuleset) -> tuple[tuple[Division, ...], dict[ast.NodeId, int]]:
    """Every `/` of the lets and rules, numbered once, by node id: the notes of every
    function made for a ruleset index this one list (`Program.divisions`)."""
    exprs = [item.expr for item in checked.derived if isinstance(item, Let)]
    exprs += [r.when for r in (*checked.tiers, *checked.labels) if r.when is not None]
    divisions: list[Division] = []
    numbers: dict[ast.NodeId, int] = {}
    for expr in exprs:
        for node in ast.walk(expr):
            if isinstance(node, ast.Arith) and node.op == "/" and node.id not in numbers:
                text = " ".join(checked.source.text_of(node.span).split())
                divisor = " ".join(checked.source.text_of(node.right.span).split())
                numbers[node.id] = len(divisions)
                divisions.append(Division(text, divisor))
    return tuple(divisions), numbers


class Module:
    """What the functions of one generated module share: its constants (the module's
    globals `k0`, `k1`, …), the leaves and the divisions, and the `Frame` that names the
    locals of its functions."""

    def __init__(self, checked: CheckedRuleset):
        self.checked = checked
        self.constants: list[Any] = []
        self._const_ids: dict[tuple[type, Any], int] = {}
        self.leaves = rule_leaves(checked)
        self.divisions, self.division_numbers = number_divisions(checked)
        self.frame = Frame(self)
        self.k_validate = self.const(lambda account: validate(checked.inputs, account))
        self.k_conflict = self.const(self._conflict)
        self.k_rerun = self.const(_rerun)

    def const(self, value: Any) -> int:
        """Index of a constant; hashable values are shared."""
        try:
            key = (type(value), value)
            if key in self._const_ids:
                return self._const_ids[key]
        except TypeError:
            key = None
        self.constants.append(value)
        if key is not None:
            self._const_ids[key] = len(self.constants) - 1
        return len(self.constants) - 1

    def k(self, value: Any) -> str:
        return f"k{self.const(value)}"

    def number(self, value: float) -> str:
        """A number of the rules as a literal where its text is only digits, a sign and a
        point (an int, or a float whose repr gives back exactly it): a literal is read
        faster than a global, 3 ns a bound on every rule tried. Others are constants."""
        text = repr(value)
        if type(value) is int or (
            type(value) is float and text.lstrip("-").replace(".", "", 1).isdigit()
        ):
            return f"({text})" if value < 0 else text
        return self.k(value)

    def _conflict(self, first: Rule, second: Rule) -> None:
        raise RuleConflict(self.checked.name, (first.name, first.line), (second.name, second.line))

    def source(self, functions: Sequence[Function]) -> str:
        """The module source of `functions` (`k0`, `k1`, … are its globals), for tests."""
        written = [_Writer(self, function).write() for function in functions]
        return "\n".join(_pieces(written))

    def build(self, functions: Sequence[Function]) -> tuple[str, tuple[Callable[..., Any], ...]]:
        """The generated source of `functions` and the functions, bound to the constants.

        The constants are the globals of the generated module, not the free variables of
        a closure: a call copies every free variable of its function into its frame, so
        a closure over 3 constants a rule cost 26 µs a call at 1,000 rules whatever
        matched; a global costs its lookup only where it is read."""
        written = [_Writer(self, function).write() for function in functions]
        pieces = _pieces(written)
        namespace: dict[str, Any] = {f"k{n}": value for n, value in enumerate(self.constants)}
        for piece in pieces:  # one at a time: the compiler's memory follows the largest
            exec(compile(piece, f"<tierline {self.checked.name}>", "exec"), namespace)
        for each in written:
            for fixup in each.fixups:
                fixup(namespace)
        return "\n".join(pieces), tuple(namespace[function.name] for function in functions)


class Ending(Protocol):
    """The code a function runs once the rules have: its return, and what it makes."""

    def __call__(self, frame: Frame) -> list[str]: ...


@dataclass(frozen=True)
class Function:
    """One generated function: `def NAME(raw)`, the rules watched as `watch` says, then
    `ending`. With `rerun`, an account that is not of exact types is validated and run
    again through `_rerun`, which gives the decision the caller's account; else the
    function calls itself on the validated facts."""

    name: str
    watch: Watch
    ending: Ending
    rerun: bool = False


def run_function(module: Module, make_decision: Callable[..., Any], owner: object) -> Function:
    """`run`, the fast path: `make_decision(owner, rule, labels, account)`."""
    frame = module.frame
    decide = f"{module.k(make_decision)}({module.k(owner)}, {frame.rule}, {frame.labels}, raw)"
    return Function("run", "plain", lambda _frame: [f"return {decide}"], rerun=True)


def trace_function(module: Module) -> Function:
    """`trace`: the rule, the labels, (leaf id, result) of each leaf evaluated, every
    value, and the divisions by zero met (`Trace`)."""

    def ending(frame: Frame) -> list[str]:
        env = ", ".join(f"{module.k(name)}: {frame.value(name)}" for name in frame.vars)
        return [f"return {frame.rule}, {frame.labels}, steps, {{{env}}}, {frame.notes}"]

    return Function("trace", "steps", ending)


class Frame:
    """The locals of a generated function, by what they mean: the rules' code and the
    endings ask here rather than spelling the names themselves. `i0` an input, `l1` a
    let, `v2` a level (its band's index), `x3` a leaf's result (`locals` functions)."""

    rule = "r"  # the tier rule that matched (a constant: a `Rule`), or the fallback
    labels = "L"  # the labels, a tuple
    notes = "notes"  # the divisions by zero met, by number (not in `run`)

    def __init__(self, module: Module):
        self._module = module
        checked = module.checked
        self.vars: dict[str, str] = {}
        for n, name in enumerate(checked.inputs):
            self.vars[name] = f"i{n}"
        for n, item in enumerate(checked.derived):
            self.vars[item.name] = f"{'l' if isinstance(item, Let) else 'v'}{n}"
        self._leaf_of = {leaf.expr.id: leaf for leaf in module.leaves}
        self._rule_leaves: dict[ast.NodeId, list[Leaf]] = {}
        for leaf in module.leaves:
            self._rule_leaves.setdefault(leaf.rule.id, []).append(leaf)

    def var(self, name: str) -> str:
        """The local of an input, let or level."""
        return self.vars[name]

    def value(self, name: str) -> str:
        """A name's value as the rules saw it: a level's band name (None for no band)."""
        var = self.vars[name]
        level = self._module.checked.levels.get(name)
        if level is None:
            return var
        names = self._module.k((*level.band_names(), None))
        return f"{names}[{var}]"

    def leaf_of(self, expr: ast.Expr) -> Leaf | None:
        return self._leaf_of.get(expr.id)

    def leaf(self, leaf: Leaf) -> str:
        """The local that keeps a leaf's result in a `locals` function."""
        return f"x{leaf.id}"

    def ran(self, rule: Rule) -> Iterator[tuple[Leaf, tuple[str, ...]]]:
        """A rule's leaves in evaluation order, each with the test of whether it ran:
        none for a leaf that runs whenever its rule does, and for one that `and` or
        `or` may skip, whether its local was set (cleared before the rule: `unset`).
        One test a leaf, so that the code stays linear in a rule's conditions."""
        if rule.when is None:
            return iter(())
        leaves = self._rule_leaves[rule.id]
        skippable = _skippable(rule.when)
        return (
            (leaf, (f"{self.leaf(leaf)} is not None",) if may_skip else ())
            for leaf, may_skip in zip(leaves, skippable, strict=True)
        )

    def unset(self, rule: Rule) -> list[str]:
        """Before a rule runs in a `locals` function: its skippable leaves' locals are
        None, so that `ran` can tell that they did not run."""
        names = [self.leaf(leaf) for leaf, guard in self.ran(rule) if guard]
        return [" = ".join([*names, "None"])] if names else []

    def result(self, expr: ast.Expr) -> str:
        """What `expr` gave, read from its leaves' locals as Python short-circuits them."""
        if isinstance(expr, ast.AllOf | ast.AnyOf):
            joined = " and " if isinstance(expr, ast.AllOf) else " or "
            return "(" + joined.join(self.result(p) for p in expr.parts) + ")"
        if isinstance(expr, ast.Not):
            return f"(not {self.result(expr.part)})"
        leaf = self.leaf_of(expr)
        assert leaf is not None  # every other node of a rule's `when` is a leaf
        return self.leaf(leaf)


@dataclass(frozen=True)
class _Written:
    source: str  # the function itself
    pieces: tuple[str, ...]  # the functions that hold the tiers of a big ruleset's `run`
    fixups: tuple[Callable[[dict[str, Any]], None], ...]  # run once the pieces exist


def _pieces(written: Sequence[_Written]) -> list[str]:
    """The functions, then the pieces they call, each compiled on its own."""
    return [w.source for w in written] + [piece for w in written for piece in w.pieces]


class _Writer:
    """Writes one `Function`: reads the inputs, derives the lets and levels, runs the
    tiers and the labels, then its ending. Made for one function and dropped."""

    def __init__(self, module: Module, function: Function):
        self.module = module
        self.checked = module.checked
        self.frame = module.frame
        self.function = function
        self.watch = function.watch
        self.k = module.k
        self._temp = 0
        self._pieces: list[str] = []
        self._fixups: list[Callable[[dict[str, Any]], None]] = []

    def write(self) -> _Written:
        watch, frame = self.watch, self.frame
        head = [f"def {self.function.name}(raw):"]
        if watch == "steps":
            head += [
                "    steps = []; append = steps.append",
                "    def _t(i, r):",
                "        append((i, r)); return r",
            ]
        if watch != "plain":
            head.append(f"    {frame.notes} = []")
        if watch != "plain" and self.module.divisions:
            head += [
                "    def _div(a, b, i):",
                "        if b == 0:",
                f"            {frame.notes}.append(i); return 0.0",
                "        return a / b",
            ]
        body = [*self._read_inputs(), *self._derive(), *self._tiers(), *self._labels()]
        body += self.function.ending(frame)
        source = "\n".join(head + ["    " + line for line in body])
        return _Written(source, tuple(self._pieces), tuple(self._fixups))

    def _unset(self, rule: Rule) -> list[str]:
        return self.frame.unset(rule) if self.watch == "locals" else []

    def _read_inputs(self) -> list[str]:
        """Locals for the inputs, read with exact types; anything else (a missing field,
        another type, an account that is not a dict) goes to the slow path. Any exception
        while reading does: an account that is not a mapping raises whatever its own
        `[]` raises (a numpy array: IndexError), and the slow path refuses it in words."""
        inputs = self.checked.inputs
        reads: list[str] = []
        for name, decl in inputs.items():
            var = self.frame.var(name)
            if not decl.optional:
                reads.append(f"{var} = raw[{self.k(name)}]")
                if decl.type is T.TEXT_SET:
                    reads.append(f"''.join({var})")  # TypeError unless all str
                continue
            reads.append(f"{var} = raw.get({self.k(name)})")
            reads.append(f"if {var} is None: {var} = {self.k(decl.default)}")
            if decl.type is T.TEXT_SET:
                reads.append(f"''.join({var})")
        if not reads:  # no inputs: the account must still be an object
            reads.append(f"if not isinstance(raw, {self.k(Mapping)}): raise TypeError")
        lines = ["try:", *("    " + line for line in reads)]
        lines.append("except Exception:")
        lines.append(f"    return {self._slow()}")
        bounds = {
            "low": self.k(-MAX_NUMBER),
            "high": self.k(MAX_NUMBER),
            "count": self.k(MAX_COUNT),
        }
        checks = [
            _FAST_TYPE_CHECK[i.type].format(v=self.frame.var(n), **bounds) + self._outside(n, i)
            for n, i in inputs.items()
        ]
        if checks:
            lines.append("if (" + "\n        or ".join(f"({c})" for c in checks) + "):")
            lines.append(f"    return {self._slow()}")
        return lines

    def _outside(self, name: str, decl: Input) -> str:
        """` or <outside the input's range>`: such a value goes to the slow path, where
        `validate` refuses it with what was probably meant (4.2 is 420%)."""
        allowed = decl.range
        if allowed is None:
            return ""
        var, parts = self.frame.var(name), []
        if math.isfinite(allowed.lo):
            parts.append(f"{var} {'<' if allowed.lo_closed else '<='} {self.k(allowed.lo)}")
        if math.isfinite(allowed.hi):
            parts.append(f"{var} {'>' if allowed.hi_closed else '>='} {self.k(allowed.hi)}")
        return "".join(f" or {part}" for part in parts)

    def _slow(self) -> str:
        """Anything but exact types: validate (coerce or raise InputError), then rerun."""
        validated = f"k{self.module.k_validate}(raw)"
        name = self.function.name
        if self.function.rerun:
            return f"k{self.module.k_rerun}({name}, {validated}, raw)"
        return f"{name}({validated})"

    def _derive(self) -> list[str]:
        lines: list[str] = []
        for item in self.checked.derived:
            var = self.frame.var(item.name)
            if isinstance(item, Let):
                lines.append(f"{var} = {self.expr(item.expr)}")
            else:
                lines += self._level(item, var)
        return lines

    def _level(self, level: Level, var: str) -> list[str]:
        src = self.frame.var(level.source)
        number = self.module.number
        lines: list[str] = []
        for index, band in enumerate(level.bands):
            if band.op == "":
                lines.append(f"else: {var} = {index}" if lines else f"{var} = {index}")
                break
            assert band.low is not None  # only the catch-all band has no bound
            if band.op == "between":
                assert band.high is not None
                test = f"{number(band.low)} <= {src} <= {number(band.high)}"
            else:
                test = f"{src} {band.op} {number(band.low)}"
            lines.append(f"{'elif' if lines else 'if'} {test}: {var} = {index}")
        else:
            lines.append(f"else: {var} = -1" if lines else f"{var} = -1")
        return lines

    def _labels(self) -> list[str]:
        labels = self.frame.labels
        lines = [f"{labels} = ()"]
        for rule in self.checked.labels:
            assert rule.when is not None
            lines += self._unset(rule)
            lines.append(f"if {self.expr(rule.when)}: {labels} = {labels} + ({self.k(rule.name)},)")
        return lines

    def _tiers(self) -> list[str]:
        r = self.frame.rule
        rules = [rule for rule in self.checked.tiers if rule.when is not None]
        fallback = next((rule for rule in self.checked.tiers if rule.when is None), None)
        fast = self.watch == "plain"  # only the fast path is indexed and cut into pieces
        index = range_index(self.checked) if fast else None
        if index is not None:
            return self._indexed(rules, fallback, index)
        if fast and len(rules) > CHUNK:
            return self._chunked(rules, fallback)
        lines: list[str] = []
        if self.checked.policy == "first":
            # Flat, not if/elif: an elif chain nests in the compiler, which stopped
            # (RecursionError) at a few thousand rules.
            lines.append("while True:")
            for rule in rules:
                assert rule.when is not None
                lines += ["    " + line for line in self._unset(rule)]
                lines.append(f"    if {self.expr(rule.when)}: {r} = {self.k(rule)}; break")
            lines.append(f"    {r} = {self.k(fallback)}; break")
            return lines
        lines.append(f"{r} = None")
        for rule in rules:
            assert rule.when is not None
            lines += self._unset(rule)
            lines.append(f"if {self.expr(rule.when)}:")
            lines.append(f"    if {r} is not None: k{self.module.k_conflict}({r}, {self.k(rule)})")
            lines.append(f"    {r} = {self.k(rule)}")
        lines.append(f"if {r} is None: {r} = {self.k(fallback)}")
        return lines

    def _chunked(self, rules: list[Rule], fallback: Rule | None) -> list[str]:
        """`run`'s tiers in functions of CHUNK tiers each, for big rulesets: compiling
        one function of 100,000 tiers took 15 s and 2 GB; in pieces, the time and memory
        are linear. A decision pays a call for each piece it tries (about 1/8 ns a tier),
        and a match in the first piece stops there."""
        r = self.frame.rule
        first = self.checked.policy == "first"
        args = ", ".join([r, *self.frame.vars.values()][first:])
        lines = ["while True:"] if first else [f"{r} = None"]
        for start in range(0, len(rules), CHUNK):
            body = []
            for rule in rules[start : start + CHUNK]:
                assert rule.when is not None
                if first:
                    body.append(f"    if {self.expr(rule.when)}: return {self.k(rule)}")
                    continue
                conflict = f"k{self.module.k_conflict}({r}, {self.k(rule)})"
                body.append(f"    if {self.expr(rule.when)}:")
                body.append(f"        if {r} is not None: {conflict}")
                body.append(f"        {r} = {self.k(rule)}")
            name = f"c{len(self._pieces)}"
            end = "    return None" if first else f"    return {r}"
            self._pieces.append("\n".join([f"def {name}({args}):", *body, end]))
            if first:
                lines += [f"    {r} = {name}({args})", f"    if {r} is not None: break"]
            else:
                lines.append(f"{r} = {name}({args})")
        if first:
            return [*lines, f"    {r} = {self.k(fallback)}; break"]
        return [*lines, f"if {r} is None: {r} = {self.k(fallback)}"]

    def _indexed(self, rules: list[Rule], fallback: Rule | None, index: RangeIndex) -> list[str]:
        """`run`'s tiers found by their range on one input (`index.py`): the region of the
        account's value, by binary search, names one function that tries the region's
        tiers in order: a tier's own (`p7`) where it is the only one, else one that
        tries each (`g2`: `p3(…) or p7(…)`), or `q` where there is none. All are
        compiled CHUNK at a time."""
        r = self.frame.rule
        args = ", ".join(self.frame.vars.values())
        for start in range(0, len(rules), CHUNK):
            body = []
            for n, rule in enumerate(rules[start : start + CHUNK], start):
                assert rule.when is not None
                body.append(f"def p{n}({args}):")
                body.append(f"    if {self.expr(rule.when)}: return {self.k(rule)}")
            self._pieces.append("\n".join(body))
        shared: dict[tuple[int, ...], str] = {(): "q"}
        chains = [f"def q({args}):\n    return None"]
        for region in index.regions:
            if len(region) > 1 and region not in shared:
                shared[region] = f"g{len(shared) - 1}"
                tries = " or ".join(f"p{n}({args})" for n in region)
                chains.append(f"def {shared[region]}({args}):\n    return {tries}")
        for start in range(0, len(chains), CHUNK):
            self._pieces.append("\n".join(chains[start : start + CHUNK]))
        table = self.module.const(object())  # the regions' functions, once they exist

        def fill(namespace: dict[str, Any]) -> None:
            namespace[f"k{table}"] = tuple(
                namespace[f"p{region[0]}" if len(region) == 1 else shared[region]]
                for region in index.regions
            )

        self._fixups.append(fill)
        value = self.frame.var(index.input)
        if index.cuts is not None:
            find = [f"j = {self.k(bisect.bisect_right)}({self.k(index.cuts)}, {value})"]
        else:
            bounds = self.k(index.bounds)
            find = [
                f"j = {self.k(bisect.bisect_left)}({bounds}, {value})",
                f"j = 2 * j + 1 if j < {len(index.bounds)} and {bounds}[j] == {value} else 2 * j",
            ]
        return [*find, f"{r} = k{table}[j]({args})", f"if {r} is None: {r} = {self.k(fallback)}"]

    # ----------------------------------------------------------- expressions

    def expr(self, node: ast.Expr) -> str:
        code = self._expr(node)
        if self.watch == "plain":
            return code
        leaf = self.frame.leaf_of(node)
        if leaf is None:
            return code
        if self.watch == "steps":
            return f"_t({leaf.id}, {code})"
        return f"({self.frame.leaf(leaf)} := {code})"

    def _expr(self, node: ast.Expr) -> str:
        k = self.k
        match node:
            case ast.Name(name=name):
                return self.frame.var(name)
            case ast.Number(value=value):
                return self.module.number(value)
            case ast.Text(value=value):
                return k(value)
            case ast.Flag(value=value):
                return "True" if value else "False"
            case ast.TextSet():
                return k(node.values)
            case ast.Arith(op="/", left=left, right=right):
                return self._divide(node, left, right)
            case ast.Arith(op=op, left=left, right=right):
                return f"({self.expr(left)} {op} {self.expr(right)})"
            case ast.Neg(operand=operand):
                return f"(-{self.expr(operand)})"
            case ast.Compare(value=value, op=op, bound=bound):
                return f"({self.expr(value)} {op} {self.expr(bound)})"
            case ast.Between(value=value, low=low, high=high):
                return f"({self.expr(low)} <= {self.expr(value)} <= {self.expr(high)})"
            case ast.InSet(value=value, items=items, negated=negated):
                return f"({self.expr(value)} {'not in' if negated else 'in'} {k(items.values)})"
            case ast.Has(value=value, mode="any", items=items):
                return f"(not {k(items.values)}.isdisjoint({self.expr(value)}))"
            case ast.Has(value=value, mode="all", items=items):
                return f"{k(items.values)}.issubset({self.expr(value)})"
            case ast.Has(value=value, items=items):
                return f"({k(items.items[0].value)} in {self.expr(value)})"
            case ast.TextIs(value=value, text=text, negated=negated):
                return f"({self.expr(value)} {'!=' if negated else '=='} {k(text.value)})"
            case ast.LevelIs(value=value, band=band, negated=negated):
                index = self.checked.levels[value.name].band_names().index(band.name)
                return f"({self.frame.var(value.name)} {'!=' if negated else '=='} {index})"
            case ast.AllOf(parts=parts):
                return "(" + " and ".join(self.expr(p) for p in parts) + ")"
            case ast.AnyOf(parts=parts):
                return "(" + " or ".join(self.expr(p) for p in parts) + ")"
            case ast.Not(part=part):
                return f"(not {self.expr(part)})"
            case _:
                assert_never(node)

    def _divide(self, node: ast.Arith, left: ast.Expr, right: ast.Expr) -> str:
        """Division by zero gives 0; the functions that watch their leaves note it."""
        if self.watch != "plain":
            index = self.module.division_numbers[node.id]
            return f"_div({self.expr(left)}, {self.expr(right)}, {index})"
        self._temp += 1
        t = f"t{self._temp}"
        return f"({self.expr(left)} / {t} if ({t} := {self.expr(right)}) != 0 else 0.0)"


def _skippable(expr: ast.Expr, after: bool = False) -> Iterator[bool]:
    """For each leaf of `expr` in evaluation order, whether `and`/`or` may skip it."""
    if isinstance(expr, ast.AllOf | ast.AnyOf):
        for n, part in enumerate(expr.parts):
            yield from _skippable(part, after or n > 0)
    elif isinstance(expr, ast.Not):
        yield from _skippable(expr.part, after)
    else:
        yield after


def _rerun(run: Callable[[Any], Any], facts: dict[str, Value], account: Any) -> Any:
    """The slow path's second pass: decide on validated facts, keep the caller's account."""
    decision = run(facts)
    decision.account = account
    return decision
