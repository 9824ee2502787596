"""CheckedRuleset → one SQL query, built as a sqlglot expression tree.

The query selects every column of the table plus `tier`, `labels`, `rule`
and `error`, with the Python evaluator's semantics: a row with a bad value
(a missing required input, a negative or fractional count, a number that is
not finite, a value outside its declared range) gets an `error` naming each
bad field, in the words of the Python API, and no tier; `between` is
inclusive; division by zero gives 0; optional inputs take their defaults;
under `policy unique` a row that two tiers match gets an error naming both.

Everything is one SELECT over the table: each input is read where it is used,
and levels become the index of their band. Each let is a helper column,
computed once per row in a layer of the query and read by name where it is
used (`layers.py`, which also drops the helpers from the answer in every
dialect); written out at each use, a chain of lets doubled the query per let.
Numbers with a fraction are written as `CAST('0.035' AS DOUBLE)`, never as a
decimal literal, so that `0.035` compares with a double column as Python's
float does. Whole-number arithmetic (counts under +, - and *) runs in
DECIMAL(38, 0), exact as Python's ints are, where its bound stays below 10^38;
division and arithmetic mixing in a number or percent run in doubles (BIGINT
arithmetic could overflow and stop the query). The few constructs dialects
spell differently (dropping NULLs from the labels array) are written per
dialect here; sqlglot writes the rest.
"""

from __future__ import annotations

import math
import string
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from typing import assert_never

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from engine.checker.model import CheckedRuleset, Input, Let, Level, Rule
from engine.language import ast
from engine.python import values as V
from engine.python.values import EXPECTED, MAX_COUNT, MAX_NUMBER
from engine.sql import DIALECTS
from engine.sql.layers import PREFIX, Columns, Layer, depths, query

T = ast.TypeName
_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_ARITH = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
MAX_EXACT = 10**38 - 1  # DECIMAL(38, 0), the widest whole number of every dialect
_DECIMAL = exp.DataType.build("DECIMAL(38, 0)")
# `_Builder._validation`'s, by its key: never handed out, only copies of them
_VALIDATION: OrderedDict[tuple[object, ...], tuple[list[tuple[exp.Expr, exp.Expr]], exp.Expr]] = (
    OrderedDict()
)
_VALIDATION_KEPT = 32
# the SQL of the error column by `_Builder.error_key` (result_columns): the largest
# column, and the same for every version of a file whose inputs stay as they are
_ERRORS: OrderedDict[tuple[object, ...], str] = OrderedDict()
_VALIDATING = threading.Lock()


class SqlError(Exception):
    """The ruleset cannot be written in this dialect, or the request is malformed."""


def compile_sql(
    checked: CheckedRuleset,
    dialect: str = "duckdb",
    table: str = "accounts",
    columns: Mapping[str, str] | None = None,
    pretty: bool = True,
    unreadable: Mapping[str, str] | None = None,
    absent: Collection[str] = (),
) -> str:
    """The query over `table`; `columns` maps an input to the column holding it
    (`--map followers=follower_count`), the input's own name otherwise.
    `unreadable` maps an input to a column that holds the cell as written where
    it could not be read as the input's type (a text "45k!" for a count), NULL
    elsewhere: such a row is refused with what the cell said. `absent` names
    optional inputs the table has no column for (`--absent`): every row takes
    the default, as an account without the field does."""
    builder = _builder(checked, dialect, columns, unreadable, absent)
    layers = builder.layers(PREFIX)
    select = query(dialect, table, layers, builder.results())
    try:
        return select.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise SqlError(f"{dialect} cannot express these rules: {error}") from None


def _builder(
    checked: CheckedRuleset,
    dialect: str,
    columns: Mapping[str, str] | None,
    unreadable: Mapping[str, str] | None,
    absent: Collection[str],
    *,
    mapped_elsewhere: bool = False,
) -> _Builder:
    """The builder for these arguments, after refusing what they cannot mean. With
    `mapped_elsewhere`, `columns` may name inputs of other rulesets read from the
    same table (`tierline compare --map`)."""
    if dialect not in DIALECTS:
        raise SqlError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    named = {"--map": set() if mapped_elsewhere else set(columns or {}), "--absent": set(absent)}
    for option, names in named.items():
        unknown = sorted(names - set(checked.inputs))
        if unknown:
            raise SqlError(
                f"{option} names {', '.join(unknown)}, which the rules do not declare "
                f"(inputs: {', '.join(checked.inputs)})"
            )
    required = [name for name in absent if not checked.inputs[name].optional]
    if required:
        raise SqlError(
            f"--absent {required[0]}: the rules require {required[0]} (it has no default), "
            f"so the table needs a column for it; --map {required[0]}=COLUMN names one"
        )
    both = sorted(set(absent) & set(columns or {}))
    if both:
        raise SqlError(f"{both[0]} is both mapped to a column (--map) and --absent; keep one")
    return _Builder(checked, dialect, dict(columns or {}), dict(unreadable or {}), set(absent))


class _Builder:
    def __init__(
        self,
        checked: CheckedRuleset,
        dialect: str,
        columns: dict[str, str],
        unreadable: dict[str, str],
        absent: set[str],
    ):
        self.checked = checked
        self.dialect = dialect
        self.columns = columns
        self.unreadable = unreadable
        self.absent = absent
        self.derived = {item.name: item for item in checked.derived}
        self._bounds: dict[ast.NodeId, int | None] = {}  # _whole_bound's, by node id
        self.let_columns: dict[str, str] = {}  # a let -> its helper column (`layers`)
        self.refused_column: str | None = None  # whether the row is refused, once per row

    # ----------------------------------------------------------------- query

    def layers(self, prefix: str) -> list[Layer]:
        """The helper columns, by layer: whether the row is refused, then each let,
        NULL on a refused row (its cells unchecked, its arithmetic could fail the
        query), in the layer of its depth. From here on, the expressions built read
        a let from its column (`layers.py` says why)."""
        lets = [item for item in self.checked.derived if isinstance(item, Let)]
        if not lets:
            return []
        found: list[Layer] = []
        checks = self._checks()
        if checks:
            self.refused_column = prefix + "refused"
            found.append([(self.refused_column, exp.or_(*(bad for bad, _said in checks)))])
        first, depth = len(found), depths(self.checked)
        for n, let in enumerate(lets, start=1):  # in dependency order: what it reads is there
            value = self.expr(let.expr)
            if self.refused_column is not None:
                refused = exp.column(self.refused_column, quoted=True)
                value = exp.Case().when(refused, exp.null()).else_(value)
            index = first + depth[let.name] - 1
            found += [[] for _ in range(index + 1 - len(found))]
            # numbered: `L1` and `l1` are one name to DuckDB and Spark, a let `refused` is not
            # the refusal, whose name has no number
            column = f"{prefix}{n}_{let.name}"
            found[index].append((column, value))
            self.let_columns[let.name] = column
        return found

    def results(self, error_too: bool = True) -> dict[str, exp.Expr]:
        """The four columns the rules add: tier, labels, rule and error (without the
        error when not `error_too`: `result_columns` has its SQL already)."""
        checked = self.checked
        checks, problems = self._validation()
        bad = exp.or_(*(b for b, _said in checks)) if checks else exp.false()
        if self.refused_column is not None:  # computed ahead of the lets (`layers`)
            bad = exp.column(self.refused_column, quoted=True)
        tiers = [r for r in checked.tiers if r.when is not None]
        fallback = next((r for r in checked.tiers if r.when is None), None)
        conditions = [(rule, self.condition(rule)) for rule in tiers]
        conflict = self._conflict(conditions) if checked.policy == "unique" else None
        refused = exp.or_(bad.copy(), conflict.copy()) if conflict is not None else bad

        def first(value: str) -> exp.Expr:
            case = exp.Case().when(refused.copy(), exp.null())
            for rule, condition in conditions:
                case = case.when(condition.copy(), _text_or_null(getattr(rule, value)))
            fallback_value = getattr(fallback, value) if fallback is not None else None
            return case.else_(_text_or_null(fallback_value))

        labels = exp.Case().when(refused.copy(), exp.null()).else_(self._labels())
        found = {"tier": first("tier"), "labels": labels, "rule": first("name")}
        if error_too:
            error = exp.Case().when(bad.copy(), problems)
            if conflict is not None:
                error = error.when(conflict.copy(), self._conflict_message(conditions))
            found["error"] = error.else_(exp.null())
        return found

    def error_key(self) -> tuple[object, ...] | None:
        """All that the error column depends on, unless the rules' tiers are in it too
        (`policy unique`: two tiers that match are an error): the inputs' checks, and
        the refusal's helper column when there is one (call after `layers`)."""
        if self.checked.policy == "unique":
            return None
        return (self._validation_key(), self.refused_column)

    def _labels(self) -> exp.Expr:
        items = [
            exp.Case().when(self.condition(rule), exp.Literal.string(rule.name))
            for rule in self.checked.labels
        ]
        array = exp.Array(expressions=items)
        if not items:
            return exp.cast(array, exp.DataType.build("ARRAY<TEXT>"))
        if self.dialect == "postgres":
            return exp.Anonymous(this="ARRAY_REMOVE", expressions=[array, exp.null()])
        if self.dialect == "bigquery":
            element = exp.to_identifier("label")
            unnested = exp.Unnest(expressions=[array], alias=exp.TableAlias(columns=[element]))
            query = (
                exp.select(exp.column(element))
                .from_(unnested)
                .where(exp.column(element).is_(exp.null()).not_())
            )
            return exp.Anonymous(this="ARRAY", expressions=[query.subquery()])
        return exp.ArrayCompact(this=array)

    # ------------------------------------------------------------ validation
    # The texts are engine/python/values.py's templates, filled with SQL (`_fill`):
    # one wording for the API and the tables, asked the same questions in the same
    # order as `validate` (missing; not a value of its type; outside its range).

    def _validation_key(self) -> tuple[object, ...]:
        """All that the checks of the inputs depend on: the inputs' declarations (not
        where they are written), the columns they are read from, the dialect, and the
        texts of the messages (the templates of engine/python/values.py)."""
        inputs = tuple(
            (d.name, d.type, d.optional, repr(d.default), repr(d.range), d.range_text)
            for d in self.checked.inputs.values()
        )
        texts = tuple(
            (k, v) for k, v in sorted(vars(V).items()) if k.isupper() and isinstance(v, str)
        )
        return (self.dialect, inputs, tuple(sorted(self.columns.items())),
                tuple(sorted(self.unreadable.items())), tuple(sorted(self.absent)),
                tuple(sorted(EXPECTED.items())), texts)  # fmt: skip

    def _validation(self) -> tuple[list[tuple[exp.Expr, exp.Expr]], exp.Expr]:
        """`_checks` and the error that joins their messages (`_problems`), built once per
        `_validation_key` and copied after: they are most of a ruleset's SQL, and the same
        for every version of a file whose inputs stay as they are (the studio compiles
        each keystroke's edit)."""
        key = self._validation_key()
        with _VALIDATING:
            found = _VALIDATION.get(key)
            if found is not None:
                _VALIDATION.move_to_end(key)
        if found is None:
            built = self._build_checks()
            found = (built, self._problems([(b.copy(), said.copy()) for b, said in built]))
            with _VALIDATING:
                _VALIDATION[key] = found
                while len(_VALIDATION) > _VALIDATION_KEPT:
                    _VALIDATION.popitem(last=False)
        checks, problems = found
        return [(b.copy(), said.copy()) for b, said in checks], problems.copy()

    def _checks(self) -> list[tuple[exp.Expr, exp.Expr]]:
        """(the value is bad, what the error says) for every bad field: one a field."""
        return self._validation()[0]

    def _build_checks(self) -> list[tuple[exp.Expr, exp.Expr]]:
        checks: list[tuple[exp.Expr, exp.Expr]] = []
        for decl in self.checked.inputs.values():
            if decl.name in self.absent:  # its default, which its declaration admits
                continue
            column = self._column(decl)
            cell = self.unreadable.get(decl.name)
            written = exp.column(cell, quoted=True) if cell is not None else None
            if written is not None:
                given = _fill(V.CELL_GIVEN, cell=written.copy())
                said = _fill(V.WRONG, field=decl.name, expected=EXPECTED[decl.type], given=given)
                checks.append((written.copy().is_(exp.null()).not_(), said))
            if not decl.optional:
                missing = V.MISSING.format(field=decl.name, expected=EXPECTED[decl.type])
                absent: exp.Expr = column.copy().is_(exp.null())
                if written is not None:
                    absent = exp.and_(absent, written.copy().is_(exp.null()))
                checks.append((absent, exp.Literal.string(missing)))
            if decl.type in (T.COUNT, T.NUMBER, T.PERCENT):
                present = column.copy().is_(exp.null()).not_()
                checks += self._number_checks(decl, self._value(decl), present)
        return checks

    def _number_checks(
        self, decl: Input, value: exp.Expr, present: exp.Expr
    ) -> list[tuple[exp.Expr, exp.Expr]]:
        """A number its type refuses (not finite; for a count negative, a fraction or past
        int64), else one outside its range (with a percent's hint): `validate`'s words."""
        finite = exp.Between(this=value.copy(), low=_double(-MAX_NUMBER), high=_double(MAX_NUMBER))
        infinity = _double(math.inf)
        shown = (
            exp.Case()
            .when(exp.EQ(this=value.copy(), expression=infinity.copy()), _text(V.INFINITY))
            .when(
                exp.EQ(this=value.copy(), expression=exp.Neg(this=infinity.copy())),
                _text(V.MINUS_INFINITY),
            )
            .else_(_text(V.NOT_A_NUMBER))
        )
        expected = EXPECTED[decl.type]
        wrong = exp.Case().when(exp.Not(this=finite), self._unfit(decl, value, shown))
        bad: list[exp.Expr] = [exp.Not(this=finite.copy())]
        if decl.type is T.COUNT:
            # `>= 2^63`, not `> 2^63 - 1`: against a double the latter is read as a double,
            # 2^63, and lets the double 2^63 through. 2^63 is a DECIMAL: an integer
            # literal past int64 is not every dialect's, and a BIGINT compares exactly.
            # ROUND, not FLOOR: Spark's FLOOR of a double is a BIGINT, which overflows in
            # ANSI mode past int64, and Spark may evaluate it ahead of the CASE that
            # guards it when several columns share it.
            past = value.copy() >= _whole_literal(MAX_COUNT + 1)
            fraction = exp.NEQ(this=value.copy(), expression=exp.Round(this=value.copy()))
            outside = exp.or_(value.copy() < 0, past.copy())
            whole = exp.Case().when(outside, exp.true()).else_(exp.Paren(this=fraction))
            unfit = exp.Paren(this=whole)
            bad.append(unfit.copy())
            wrong = wrong.when(unfit, self._unfit(decl, value, _number_text(value)))
        outside_range = self._outside(decl, value)
        if outside_range is not None:
            bad.append(outside_range)
            in_range = V.IN_RANGE.format(expected=expected, range=decl.range_text)
            said = _fill(
                V.WRONG, field=decl.name, expected=in_range, given=_number_text(value.copy())
            )
            if decl.type is T.PERCENT:
                said = _fill(V.HINTED, problem=said, hint=self._percent_hint(decl, value))
            wrong = wrong.else_(said)
        return [(exp.and_(present, exp.or_(*bad)), wrong)]

    def _unfit(self, decl: Input, value: exp.Expr, given: exp.Expr) -> exp.Expr:
        expected: exp.Expr = exp.Literal.string(EXPECTED[decl.type])
        if decl.type is T.COUNT:  # as `validate`: past int64 (+infinity too) says the limit
            larger = V.NO_LARGER.format(expected=EXPECTED[decl.type], largest=f"{MAX_COUNT:,}")
            # NaN is past every number in DuckDB, PostgreSQL and Spark (it sorts above
            # +infinity): `<= +infinity` keeps it out, as Python's `NaN > MAX_COUNT` does.
            past = exp.and_(
                value.copy() >= _whole_literal(MAX_COUNT + 1),
                value.copy() <= _double(math.inf),
            )
            expected = exp.Case().when(past, exp.Literal.string(larger)).else_(expected)
        return _fill(V.WRONG, field=decl.name, expected=expected, given=given)

    def _outside(self, decl: Input, value: exp.Expr) -> exp.Expr | None:
        """When a value of `decl` is outside its range (the Python API's `within`)."""
        allowed = decl.range
        if allowed is None:
            return None
        parts: list[exp.Expr] = []
        if allowed.lo != float("-inf"):
            low = _number(allowed.lo)
            parts.append(value.copy() < low if allowed.lo_closed else value.copy() <= low)
        if allowed.hi != float("inf"):
            high = _number(allowed.hi)
            parts.append(value.copy() > high if allowed.hi_closed else value.copy() >= high)
        return exp.Paren(this=exp.or_(*parts)) if parts else None

    def _percent_hint(self, decl: Input, value: exp.Expr) -> exp.Expr:
        """`percent_hint` of engine/python/values.py, for a cell: the value as a percentage,
        then what it probably was (each text once: SQL has no names for values)."""
        number = exp.cast(value.copy(), exp.DataType.build("DOUBLE"))
        hundred = exp.Literal.number(100)
        fraction = exp.Div(this=number.copy(), expression=hundred.copy())
        shown = _number_text(value.copy())
        percent = _number_text(self._tidy(exp.Mul(this=number.copy(), expression=hundred)))
        outside = self._outside(decl, exp.Paren(this=fraction.copy()))
        fits = exp.Not(this=outside) if outside is not None else exp.true()
        whole = exp.EQ(this=number.copy(), expression=exp.Round(this=number.copy()))
        tail = (
            exp.Case()
            .when(
                exp.and_(number.copy() > 1, fits),
                _fill(V.AS_A_PERCENT, value=shown, fraction=_number_text(self._tidy(fraction))),
            )
            .when(exp.and_(number.copy() > 100, whole), _text(V.AS_A_COUNT))
            .else_(_text(""))
        )
        return exp.DPipe(
            this=_fill(V.PERCENT_IS, value=shown, percent=percent), expression=tail, safe=True
        )

    def _tidy(self, number: exp.Expr) -> exp.Expr:
        """`tidy` of values.py: rounded to TIDY_DIGITS decimals below TIDY_BELOW. PostgreSQL
        rounds a double only to a whole number (and a NUMERIC of it keeps 15 digits, which
        rounds twice): scaled, rounded and scaled back, as DuckDB rounds a double."""
        digits = exp.Literal.number(V.TIDY_DIGITS)
        rounded: exp.Expr
        if self.dialect == "postgres":
            scale = _double(10.0**V.TIDY_DIGITS)
            scaled = exp.Round(this=exp.Mul(this=number.copy(), expression=scale.copy()))
            rounded = exp.Div(this=scaled, expression=scale)
        else:
            rounded = exp.Round(this=number.copy(), decimals=digits)
        small = exp.and_(
            number.copy() > _double(-V.TIDY_BELOW), number.copy() < _double(V.TIDY_BELOW)
        )
        return exp.Case().when(small, rounded).else_(number)

    def _problems(self, checks: list[tuple[exp.Expr, exp.Expr]]) -> exp.Expr:
        """Each bad field's message, joined as InputError joins them."""
        separator = exp.Literal.string(V.SEPARATOR)
        pieces = [
            exp.Case()
            .when(bad, exp.DPipe(this=said, expression=separator.copy()))
            .else_(exp.Literal.string(""))
            for bad, said in checks
        ]
        if not pieces:
            return exp.null()
        joined: exp.Expr = pieces[0]
        for piece in pieces[1:]:
            joined = exp.DPipe(this=joined, expression=piece, safe=True)
        text = _fill(V.INVALID, problems=joined)
        length = exp.Length(this=text.copy())
        return exp.Substring(
            this=text, start=exp.Literal.number(1), length=length - len(V.SEPARATOR)
        )

    # -------------------------------------------------------------- conflicts

    def _conflict(self, conditions: list[tuple[Rule, exp.Expr]]) -> exp.Expr | None:
        """Two tiers match (policy unique): some tier's condition and a later one's."""
        pairs = [
            exp.and_(a.copy(), b.copy())
            for n, (_r, a) in enumerate(conditions)
            for _s, b in conditions[n + 1 :]
        ]
        return exp.or_(*pairs) if pairs else None

    def _conflict_message(self, conditions: list[tuple[Rule, exp.Expr]]) -> exp.Expr:
        """RuleConflict's words, for the first matching tier and the next one."""
        outer = exp.Case()
        for n, (first, a) in enumerate(conditions):
            inner = exp.Case()
            for second, b in conditions[n + 1 :]:
                said = V.CONFLICT.format(
                    ruleset=self.checked.name,
                    first=first.name,
                    first_line=first.line,
                    second=second.name,
                    second_line=second.line,
                )
                inner = inner.when(b.copy(), exp.Literal.string(said))
            if conditions[n + 1 :]:
                outer = outer.when(a.copy(), inner)
        return outer

    # ----------------------------------------------------------- expressions

    def condition(self, rule: Rule) -> exp.Expr:
        assert rule.when is not None
        return self.expr(rule.when)

    def _column(self, decl: Input) -> exp.Column:
        return exp.column(self.columns.get(decl.name, decl.name), quoted=True)

    def _value(self, decl: Input) -> exp.Expr:
        if not decl.optional:
            return self._column(decl)
        assert decl.default is not None
        default = self._literal(decl.default, decl.type)
        if decl.name in self.absent:
            return default
        return exp.Coalesce(this=self._column(decl), expressions=[default])

    def _literal(self, value: object, type_: T) -> exp.Expr:
        if type_ is T.TEXT_SET:
            assert isinstance(value, frozenset | set | list | tuple)
            items = [exp.Literal.string(str(v)) for v in sorted(value)]
            array = exp.Array(expressions=items)
            return array if items else exp.cast(array, exp.DataType.build("ARRAY<TEXT>"))
        if isinstance(value, bool):
            return exp.true() if value else exp.false()
        if isinstance(value, int | float):
            return _number(value)
        return exp.Literal.string(str(value))

    def expr(self, node: ast.Expr) -> exp.Expr:
        match node:
            case ast.Name(name=name):
                return self._name(name)
            case ast.Number(value=value):
                return _number(value)
            case ast.Text(value=value):
                return exp.Literal.string(value)
            case ast.Flag(value=value):
                return exp.true() if value else exp.false()
            case ast.Arith(op="/", left=left, right=right):
                divisor = self._double(right)
                division = exp.Div(this=self._double(left), expression=divisor.copy())
                zero = exp.EQ(this=divisor, expression=exp.Literal.number(0))
                return exp.Case().when(zero, _double(0.0)).else_(division)
            case ast.Arith(op=op, left=left, right=right):
                bound = self._whole_bound(node)
                if bound is not None and bound <= MAX_EXACT:
                    return exp.Paren(
                        this=_ARITH[op](this=self._whole(left), expression=self._whole(right))
                    )
                return exp.Paren(
                    this=_ARITH[op](this=self._double(left), expression=self._double(right))
                )
            case ast.Neg(operand=operand):
                return exp.Neg(this=exp.Paren(this=self.expr(operand)))
            case ast.Compare(value=value, op=op, bound=bound):
                return _COMPARE[op](this=self.expr(value), expression=self.expr(bound))
            case ast.Between(value=value, low=low, high=high):
                return exp.Between(this=self.expr(value), low=self.expr(low), high=self.expr(high))
            case ast.InSet(value=value, items=items, negated=negated):
                texts = [exp.Literal.string(v) for v in sorted(items.values)]
                if not texts:
                    return exp.true() if negated else exp.false()
                inside = exp.In(this=self.expr(value), expressions=texts)
                return exp.Not(this=inside) if negated else inside
            case ast.Has(value=value, mode=mode, items=items):
                tests = [
                    exp.ArrayContains(this=self.expr(value), expression=exp.Literal.string(v))
                    for v in sorted(items.values)
                ]
                if not tests:
                    return exp.true() if mode == "all" else exp.false()
                return exp.or_(*tests) if mode == "any" else exp.and_(*tests)
            case ast.TextIs(value=value, text=text, negated=negated):
                test = exp.NEQ if negated else exp.EQ
                return test(this=self.expr(value), expression=exp.Literal.string(text.value))
            case ast.LevelIs(value=value, band=band, negated=negated):
                level = self.checked.levels[value.name]
                index = exp.Literal.number(level.band_names().index(band.name))
                test = exp.NEQ if negated else exp.EQ
                return test(this=self._name(value.name), expression=index)
            case ast.AllOf(parts=parts):
                return exp.Paren(this=exp.and_(*(self.expr(p) for p in parts)))
            case ast.AnyOf(parts=parts):
                return exp.Paren(this=exp.or_(*(self.expr(p) for p in parts)))
            case ast.Not(part=part):
                return exp.Not(this=exp.Paren(this=self.expr(part)))
            case ast.TextSet():  # a set as a value: the SQL writes one only after `in`, `has`
                raise SqlError(f"cannot write {type(node).__name__} in SQL")
            case _:
                assert_never(node)

    def _double(self, node: ast.Expr) -> exp.Expr:
        return exp.cast(self.expr(node), exp.DataType.build("DOUBLE"))

    def _whole(self, node: ast.Expr) -> exp.Expr:
        """An operand of exact whole-number arithmetic: DECIMAL(38, 0), which every
        dialect has (BigQuery's BIGNUMERIC), where a double would round past 2^53.

        A count's cell is cast only when it can be a count, NULL otherwise: the row is
        refused anyway, and casting an infinite or huge double fails the whole query
        (Spark may evaluate the cast ahead of the CASE that refuses the row)."""
        match node:
            case ast.Arith():  # exact already: its bound is within its parent's
                return self.expr(node)
            case ast.Neg(operand=operand):
                return exp.Neg(this=exp.Paren(this=self._whole(operand)))
            case ast.Number(value=literal):
                assert isinstance(literal, int)  # a whole bound holds only whole literals
                return _whole_literal(literal)
            case ast.Name(name=name) if isinstance(let := self.derived.get(name), Let):
                column = self.let_columns.get(name)
                if column is not None and isinstance(let.expr, ast.Arith):  # exact already
                    return exp.column(column, quoted=True)
                return exp.Paren(this=self._whole(let.expr))  # a count, a literal, a negation
        value = self.expr(node)  # a count input
        can_be = exp.Between(
            this=value.copy(), low=exp.Literal.number(0), high=exp.Literal.number(MAX_COUNT)
        )
        return exp.cast(exp.Case().when(can_be, value).else_(exp.null()), _DECIMAL)

    def _whole_bound(self, node: ast.Expr) -> int | None:
        """The largest magnitude of `node` and of each arithmetic inside it, where Python
        computes it in ints (counts and whole literals under +, - and *: exact at any
        size); None where it computes in floats (a division, a number, a percent).
        Kept by node: each arithmetic asks again for its parts, and a let is asked at
        every use."""
        if node.id not in self._bounds:
            self._bounds[node.id] = self._bound_of(node)
        return self._bounds[node.id]

    def _bound_of(self, node: ast.Expr) -> int | None:
        match node:
            case ast.Number(value=value):
                return abs(value) if isinstance(value, int) and not node.is_percent else None
            case ast.Name(name=name):
                decl = self.checked.inputs.get(name)
                if decl is not None:
                    if decl.type is not T.COUNT:
                        return None
                    top = decl.range.hi if decl.range is not None else math.inf
                    return int(top) if math.isfinite(top) else MAX_COUNT
                item = self.derived.get(name)
                return self._whole_bound(item.expr) if isinstance(item, Let) else None
            case ast.Neg(operand=operand):
                return self._whole_bound(operand)
            case ast.Arith(op=op, left=left, right=right) if op in _ARITH:
                a, b = self._whole_bound(left), self._whole_bound(right)
                if a is None or b is None:
                    return None
                return max(a, b, a * b if op == "*" else a + b)
        return None

    def _name(self, name: str) -> exp.Expr:
        decl = self.checked.inputs.get(name)
        if decl is not None:
            return self._value(decl)
        item = self.derived[name]
        if isinstance(item, Let):
            column = self.let_columns.get(name)
            if column is not None:
                return exp.column(column, quoted=True)
            return exp.Paren(this=self.expr(item.expr))
        return self._level(item)

    def _level(self, level: Level) -> exp.Expr:
        """The index of the first band that holds the source's value, -1 if none."""
        source = self._name(level.source)
        case = exp.Case()
        for index, band in enumerate(level.bands):
            if band.op == "":
                return case.else_(exp.Literal.number(index))
            assert band.low is not None
            if band.op == "between":
                assert band.high is not None
                test: exp.Expr = exp.Between(
                    this=source.copy(), low=_number(band.low), high=_number(band.high)
                )
            else:
                test = _COMPARE[band.op](this=source.copy(), expression=_number(band.low))
            case = case.when(test, exp.Literal.number(index))
        return case.else_(exp.Literal.number(-1))


def result_columns(
    checked: CheckedRuleset,
    dialect: str,
    columns: Mapping[str, str] | None = None,
    unreadable: Mapping[str, str] | None = None,
    absent: Collection[str] = (),
    prefix: str = PREFIX,
) -> Columns:
    """The SQL of each column the rules add (tier, labels, rule, error), after the
    layers of helper columns they read (each let once per row), for an API that
    takes expressions, not a query: PySpark's `F.expr`, a pass of several rulesets.
    Arguments as `compile_sql`'s, except that `columns` may name other rulesets'
    inputs; `prefix` starts every helper's name (one per ruleset in a joint pass)."""
    builder = _builder(checked, dialect, columns, unreadable, absent, mapped_elsewhere=True)

    def sql(value: exp.Expr) -> str:
        # not copied first (the generator's default): each tree here is built for this
        # call and written once; the copy was a third of the time of a keystroke's SQL
        return value.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, copy=False)

    try:
        layers = builder.layers(prefix)
        key = builder.error_key()
        with _VALIDATING:
            error = _ERRORS.get(key) if key is not None else None
        results = {name: sql(value) for name, value in builder.results(error is None).items()}
        if error is None:
            error = results["error"]
            if key is not None:
                with _VALIDATING:
                    _ERRORS[key] = error
                    while len(_ERRORS) > _VALIDATION_KEPT:
                        _ERRORS.popitem(last=False)
        results["error"] = error
        return Columns(
            layers=tuple({name: sql(value) for name, value in layer} for layer in layers),
            results=results,
        )
    except UnsupportedError as error:
        raise SqlError(f"{dialect} cannot express these rules: {error}") from None


def _number(value: float) -> exp.Expr:
    """An int as an integer literal; a float as a double (never a decimal literal)."""
    if isinstance(value, int):
        return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))
    return _double(value)


def _whole_literal(value: int) -> exp.Expr:
    """A whole number of any size up to 10^38 as DECIMAL(38, 0), exact in every dialect."""
    return exp.cast(exp.Literal.string(str(value)), _DECIMAL)


def _double(value: float) -> exp.Expr:
    return exp.cast(exp.Literal.string(repr(float(value))), exp.DataType.build("DOUBLE"))


def _fill(template: str, **parts: exp.Expr | str) -> exp.Expr:
    """A template of engine/python/values.py as SQL text: its words as literals, each
    `{name}` the given expression (or text), joined with `||`."""
    if all(isinstance(part, str) for part in parts.values()):
        return exp.Literal.string(template.format(**parts))
    pieces: list[exp.Expr] = []
    words = ""  # text not yet written: the template's and the parts given as text
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        words += literal
        part = parts[name] if name is not None else ""
        if isinstance(part, str):
            words += part
            continue
        if words:
            pieces.append(exp.Literal.string(words))
            words = ""
        pieces.append(part.copy())
    if words:
        pieces.append(exp.Literal.string(words))
    joined = pieces[0]
    for piece in pieces[1:]:
        joined = exp.DPipe(this=joined, expression=piece, safe=True)
    return joined


def _text(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def _number_text(value: exp.Expr) -> exp.Expr:
    """`number_text` of engine/python/values.py: the number as the engine writes it,
    without a trailing ".0" (DuckDB writes a double as Python's repr does)."""
    text = exp.cast(value.copy(), exp.DataType.build("TEXT"))
    return exp.RegexpReplace(
        this=text, expression=exp.Literal.string("[.]0$"), replacement=exp.Literal.string("")
    )


def _text_or_null(value: str | None) -> exp.Expr:
    return exp.null() if value is None else exp.Literal.string(value)
