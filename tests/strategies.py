"""Hypothesis strategies for rule-language ASTs, shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from engine.language import ast
from engine.language.build import number_value
from engine.language.grammar import keywords

IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in keywords() and s not in {"at", "least", "most"}
)
NUMBER_TEXT = st.sampled_from(
    [
        "0",
        "1",
        "7",
        "42",
        "999",
        "1000",
        "10_000",
        "10k",
        "1.5k",
        "1M",
        "2.5M",
        "1B",
        "0.5",
        "3.5%",
        "1%",
        "0%",
        "100%",
        "12.25",
    ]
)
TEXT_VALUE = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    ),
    max_size=12,
)


def numbers() -> st.SearchStrategy[ast.Number]:
    return NUMBER_TEXT.map(lambda t: ast.Number(number_value(t), t))


def texts() -> st.SearchStrategy[ast.Text]:
    return TEXT_VALUE.map(ast.Text)


def text_sets(min_size: int = 0) -> st.SearchStrategy[ast.TextSet]:
    return st.lists(texts(), min_size=min_size, max_size=3).map(lambda xs: ast.TextSet(tuple(xs)))


def names() -> st.SearchStrategy[ast.Name]:
    return IDENT.map(ast.Name)


def sums() -> st.SearchStrategy[ast.Expr]:
    leaves = st.one_of(names(), numbers())
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(ast.Arith, st.sampled_from("+-*/"), inner, inner),
            st.builds(ast.Neg, st.one_of(names(), st.builds(ast.Neg, names()))),
        ),
        max_leaves=4,
    )


_SPELLINGS = [
    ("at least", ">="),
    ("at most", "<="),
    ("above", ">"),
    ("below", "<"),
    (">=", ">="),
    ("<=", "<="),
    (">", ">"),
    ("<", "<"),
    ("==", "=="),
    ("!=", "!="),
]


def tests() -> st.SearchStrategy[ast.Expr]:
    def compare(value: ast.Expr, spelled: tuple[str, str], bound: ast.Expr) -> ast.Compare:
        return ast.Compare(value, spelled[1], bound, spelled[0])

    return st.one_of(
        st.builds(compare, sums(), st.sampled_from(_SPELLINGS), sums()),
        st.builds(ast.Between, sums(), sums(), sums()),
        st.builds(ast.InSet, sums(), text_sets(), st.booleans()),
        st.builds(ast.Has, sums(), st.sampled_from(["any", "all"]), text_sets()),
        st.builds(lambda v, t: ast.Has(v, "one", ast.TextSet((t,))), sums(), texts()),
        st.builds(
            lambda v, b, sp: ast.LevelIs(v, b, sp == "is not", sp),
            names(),
            names(),
            st.sampled_from(["", "is", "is not"]),
        ),
        st.builds(ast.TextIs, sums(), texts(), st.booleans()),
        names(),
        st.builds(ast.Flag, st.booleans()),
    )


def conditions() -> st.SearchStrategy[ast.Expr]:
    return st.recursive(
        tests(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda p: ast.AllOf(tuple(p))),
            st.lists(inner, min_size=2, max_size=3).map(lambda p: ast.AnyOf(tuple(p))),
            st.builds(ast.Not, inner),
        ),
        max_leaves=6,
    )


def literals() -> st.SearchStrategy[ast.Literal]:
    return st.one_of(numbers(), texts(), st.builds(ast.Flag, st.booleans()), text_sets())


def statements() -> st.SearchStrategy[ast.Statement]:
    bound = st.one_of(
        st.builds(lambda n, sp: ast.Bound(sp[1], sp[0], n), numbers(), st.sampled_from(_SPELLINGS)),
        st.builds(lambda a, b: ast.Bound("between", "between", a, b), numbers(), numbers()),
        st.just(ast.Bound("", "otherwise")),
    )
    return st.one_of(
        st.builds(ast.RulesetDecl, names()),
        st.builds(ast.VersionDecl, texts()),
        st.builds(ast.TitleDecl, texts()),
        st.builds(ast.PolicyDecl, st.sampled_from(["first", "unique"])),
        st.builds(
            lambda n, t, o, d: ast.InputDecl(n, t, o, d if o else None),
            names(),
            st.sampled_from(list(ast.TypeName)),
            st.booleans(),
            st.one_of(st.none(), literals()),
        ),
        st.builds(
            lambda n, s, bands: ast.LevelDecl(n, s, tuple(bands)),
            names(),
            names(),
            st.lists(st.builds(ast.Band, names(), bound), min_size=1, max_size=3),
        ),
        st.builds(
            ast.LetDecl,
            names(),
            st.one_of(st.none(), st.sampled_from(list(ast.TypeName))),
            st.one_of(sums(), conditions()),
        ),
        st.builds(ast.TierRule, names(), conditions()),
        st.builds(ast.LabelRule, names(), conditions()),
        st.builds(ast.OtherwiseRule, names()),
        st.builds(
            lambda d, g, e, labels: ast.Example(d, tuple(g), e, labels),
            texts(),
            st.lists(st.builds(ast.Given, names(), literals()), min_size=1, max_size=3),
            names(),
            st.one_of(st.none(), st.lists(names(), max_size=2).map(tuple)).filter(
                lambda ls: ls is None or all(n.name != "none" for n in ls)
            ),
        ),
    )


def rule_files() -> st.SearchStrategy[ast.RuleFile]:
    return st.lists(statements(), max_size=6).map(lambda s: ast.RuleFile(tuple(s)))
