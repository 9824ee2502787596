"""`tierline diff OLD NEW --data` as a document: the migration, label changes, examples."""

from __future__ import annotations

from engine import Ruleset
from tierline.reports.document import Chart, Details, Document, Heading, Para, Table
from tierline.reports.values import account_text, count_share, formats, percent, tier_name
from tierline.tables.migration import Migration


def document(m: Migration, old: Ruleset, new: Ruleset, data: str, charts: bool) -> Document:
    was, now = _called(old, new), _called(new, old)
    doc = Document(f"{was} → {now}: what changes on {m.rows:,} accounts")
    doc.add(
        Para(
            f"Data: {data}; {m.rows:,} rows, classified under both versions in one pass "
            f"({m.seconds:.2f} s). Old: {old.checked.title or old.name}{_version(old)}. "
            f"New: {new.checked.title or new.name}{_version(new)}."
        )
    )
    if m.equivalent:
        doc.add(Para(f"No row changes tier or labels: all {m.rows:,} stay where they were."))
    else:
        doc.add(
            Para(
                f"{count_share(m.changed, m.rows)} of the rows change tier; "
                f"{count_share(m.relabelled, m.rows)} change labels."
            )
        )
    if charts:
        from tierline.reports import charts as drawn

        doc.add(
            Chart(
                drawn.svg(drawn.migration(m, was, now)),
                "the migration matrix: old tier by new tier",
            )
        )
    doc.add(
        Heading("Migration matrix"),
        Para(
            "Rows: the old tier; columns: the new tier. Counts off the diagonal are rows that move."
        ),
    )
    doc.add(_matrix(m, was, now))
    moves = [
        (tier_name(a), tier_name(b), f"{c:,}", percent(c, m.rows))
        for (a, b), c in sorted(m.matrix.items(), key=lambda kv: -kv[1])
        if a != b
    ]
    if moves:
        doc.add(Table(("from", "to", "rows", "share"), moves, numeric=frozenset({2, 3})))
    doc.add(Heading("Tiers before and after"), _tier_counts(m))
    if m.labels:
        doc.add(Heading("Labels"))
        doc.add(
            Table(
                ("label", "rows that gain it", "rows that lose it"),
                [(n, f"{g:,}", f"{lost:,}") for n, (g, lost) in m.labels.items()],
                numeric=frozenset({1, 2}),
            )
        )
    if m.examples:
        doc.add(Heading("Examples"))
        shown = formats((old, new))
        for (a, b), moved in m.examples.items():
            count = m.matrix.get((a, b), 0)
            head = (
                f"{tier_name(a)} → {tier_name(b)}" if a != b else f"{tier_name(a)}, labels change"
            )
            doc.add(Heading(f"{head} ({count:,} rows in the cell)" if a != b else head, 3))
            doc.add(
                Table(
                    (m.id_name, "input", f"was ({was})", f"now ({now})"),
                    [
                        (
                            str(x.id),
                            account_text(x.account, shown),
                            _side(x.old.why, x.old.labels),
                            _side(x.new.why, x.new.labels),
                        )
                        for x in moved
                    ],
                )
            )
            for x in moved:
                doc.add(
                    Details(
                        f"{x.id}: both explanations",
                        f"was:\n{x.old.explanation}\n\nnow:\n{x.new.explanation}",
                    )
                )
    return doc


def _matrix(m: Migration, was: str, now: str) -> Table:
    marked = {
        (r, k)
        for r, a in enumerate(m.old_tiers)
        for k, b in enumerate(m.new_tiers, 1)
        if a != b and m.matrix.get((a, b))
    }
    rows = [
        (tier_name(a), *(_cell(m.matrix.get((a, b), 0), m.rows) for b in m.new_tiers))
        for a in m.old_tiers
    ]
    return Table(
        (f"{was} \\ {now}", *map(tier_name, m.new_tiers)),
        rows,
        numeric=frozenset(range(1, len(m.new_tiers) + 1)),
        marked=frozenset(marked),
    )


def _cell(count: int, rows: int) -> str:
    return count_share(count, rows) if count else "0"


def _tier_counts(m: Migration) -> Table:
    rows = []
    for tier, (before, after) in m.tier_counts().items():
        change = f"{after - before:+,}" if after != before else "="
        rows.append(
            (tier_name(tier), count_share(before, m.rows), count_share(after, m.rows), change)
        )
    return Table(("tier", "before", "after", "change"), rows, numeric=frozenset({1, 2, 3}))


def _side(why: str, labels: tuple[str, ...]) -> str:
    return why + (f" [labels: {', '.join(labels)}]" if labels else "")


def _called(ruleset: Ruleset, other: Ruleset) -> str:
    """The ruleset's name, with its version when the other has the same name."""
    if ruleset.name != other.name or not ruleset.version or ruleset.version == other.version:
        return ruleset.name
    return f"{ruleset.name} {ruleset.version}"


def _version(ruleset: Ruleset) -> str:
    return f" (version {ruleset.version})" if ruleset.version else ""
