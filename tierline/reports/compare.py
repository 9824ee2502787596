"""`tierline compare` as a document: tier counts, agreement, disputes."""

from __future__ import annotations

from engine import Ruleset
from tierline.reports.document import Chart, Document, Heading, Para, Table
from tierline.reports.values import (
    NOTHING,
    Formats,
    account_text,
    count_share,
    formats,
    labelled,
    merged_order,
    percent,
    tier_name,
)
from tierline.tables.compare import Comparison, Pair
from tierline.tables.joint import Example


def document(c: Comparison, rulesets: list[Ruleset], data: str, charts: bool) -> Document:
    n = len(c.names)
    doc = Document(f"How {n} definitions classify {c.rows:,} accounts")
    doc.add(
        Para(
            f"Data: {data}; {c.rows:,} rows, classified under every definition in one pass "
            f"({c.seconds:.2f} s)."
        )
    )
    for warning in c.warnings:
        doc.add(Para(f"Warning: {warning}."))
    doc.add(
        Table(
            ("definition", "title"),
            [(name, title) for name, title in zip(c.names, c.titles, strict=True)],
        )
    )
    if charts:
        from tierline.reports import charts as drawn

        doc.add(
            Chart(drawn.svg(drawn.tier_shares(c)), "the share of rows in each tier, per definition")
        )
    doc.add(Heading("Tier counts"), _counts(c))
    if any(c.labels.values()):
        doc.add(Heading("Labels"), _label_counts(c))
    doc.add(Heading("Agreement"))
    if c.focus is not None:
        doc.add(Para(_headline(c)))
        doc.add(
            Table(
                (f"which say {c.focus}", "rows"),
                [
                    (", ".join(k) or "none of them", count_share(v, c.rows))
                    for k, v in c.focus_sets.items()
                ],
                numeric=frozenset({1}),
            )
        )
    if charts and c.pairs:
        from tierline.reports import charts as drawn

        doc.add(Chart(drawn.svg(drawn.agreement(c)), "how much each pair of definitions agrees"))
    header: tuple[str, ...] = ("definition", "and", "same tier (or both none)", "share of rows")
    if c.focus is not None:
        header += (f"both {c.focus}", f"either {c.focus}", "overlap")
    doc.add(Table(header, [_pair_row(c, p) for p in c.pairs], numeric=frozenset(range(2, 7))))
    unanimous = [(tier_name(t), count_share(v, c.rows)) for t, v in c.unanimous.items()]
    doc.add(Para(f"Rows on which all {n} agree: {count_share(sum(c.unanimous.values()), c.rows)}."))
    if unanimous:
        doc.add(Table(("every definition says", "rows"), unanimous, numeric=frozenset({1})))
    doc.add(Heading("Cross-tables"))
    for pair in c.pairs:
        doc.add(Heading(f"{pair.a} (rows) by {pair.b} (columns)", 3), _cross(c, pair.a, pair.b))
    doc.add(Heading("Where they disagree most"))
    if not c.disputes:
        doc.add(Para("Every row gets the same tier under every definition."))
    else:
        shown = formats(rulesets)
        doc.add(
            Table(
                (*c.names, "rows", f"for example ({c.id_name}: input [labels])"),
                [
                    (
                        *map(tier_name, d.tiers),
                        f"{d.count:,}",
                        "; ".join(_example(c, e, shown) for e in d.examples),
                    )
                    for d in c.disputes
                ],
                numeric=frozenset({n}),
            )
        )
    return doc


def _example(c: Comparison, e: Example, shown: Formats) -> str:
    given = labelled(zip(c.names, e.labels, strict=False))
    return f"{e.id}: {account_text(e.account, shown)}" + (f" [labels: {given}]" if given else "")


def _label_counts(c: Comparison) -> Table:
    """Each label, per definition: the rows that have it ("—" where it is not declared)."""
    names = list(dict.fromkeys(label for labels in c.labels.values() for label in labels))
    rows = [
        (
            label,
            *(
                count_share(c.labels[name][label], c.rows) if label in c.labels[name] else NOTHING
                for name in c.names
            ),
        )
        for label in names
    ]
    return Table(("label", *c.names), rows, numeric=frozenset(range(1, len(c.names) + 1)))


def _headline(c: Comparison) -> str:
    """How far the definitions agree on the focus tier, in one sentence that stays true
    at the edges: no rows, no account in the focus tier at all, no two agreeing."""
    n = len(c.names)
    most = max((k for k, v in c.focus_votes.items() if v), default=0)
    everyone = c.focus_votes.get(n, 0)
    if c.rows == 0:
        return f"The data has no rows, so no account is {c.focus} under any definition."
    if most == 0:
        return (
            f"No account is {c.focus} under any of the {n} definitions: all {c.rows:,} rows "
            f"are {c.focus} under none."
        )
    if everyone:
        said = (
            f"{count_share(everyone, c.rows)} of the accounts are {c.focus} "
            f"under all {n} definitions"
        )
    elif most == 1:
        said = f"No account is {c.focus} under two definitions or more: no two agree on any"
    else:
        said = f"No account is {c.focus} under all {n} definitions; at most {most} agree on any"
    return f"{said}, and {count_share(c.focus_votes.get(0, 0), c.rows)} are {c.focus} under none."


def _pair_row(c: Comparison, p: Pair) -> tuple[str, ...]:
    row: tuple[str, ...] = (p.a, p.b, f"{p.same:,}", percent(p.same, c.rows))
    if c.focus is not None:
        row += (f"{p.both:,}", f"{p.either:,}", percent(p.both, p.either))
    return row


def _counts(c: Comparison) -> Table:
    rows = [
        (
            tier_name(t),
            *(
                count_share(c.counts[name][t], c.rows) if t in c.counts[name] else NOTHING
                for name in c.names
            ),
        )
        for t in merged_order(c.tiers)
    ]
    return Table(("tier", *c.names), rows, numeric=frozenset(range(1, len(c.names) + 1)))


def _cross(c: Comparison, a: str, b: str) -> Table:
    pair = next(p for p in c.pairs if (p.a, p.b) == (a, b))
    rows_tiers = c.tiers[c.names.index(a)]
    cols_tiers = c.tiers[c.names.index(b)]
    marked = {
        (r, k) for r, ta in enumerate(rows_tiers) for k, tb in enumerate(cols_tiers, 1) if ta == tb
    }
    rows = [
        (tier_name(ta), *(f"{pair.cross.get((ta, tb), 0):,}" for tb in cols_tiers))
        for ta in rows_tiers
    ]
    return Table(
        (f"{a} \\ {b}", *map(tier_name, cols_tiers)),
        rows,
        numeric=frozenset(range(1, len(cols_tiers) + 1)),
        marked=frozenset(marked),
    )
