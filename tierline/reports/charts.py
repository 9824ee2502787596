"""The charts of the HTML reports, drawn with altair and rendered by vl-convert.

vl-convert runs Vega-Lite without a browser, so a chart becomes SVG, inline in
the page: the page needs no script and no network. Counts span orders of
magnitude (33,000 micro, 12 mega), so cells are shaded on a log scale and
always carry their number.
"""

from __future__ import annotations

from typing import Any, Literal

import altair as alt
import vl_convert

from tierline.reports.values import NOTHING, merged_order, tier_name
from tierline.tables.compare import Comparison
from tierline.tables.joint import REFUSED
from tierline.tables.migration import Migration

_SCHEMA = alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # "6.4"


def _data(values: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def svg(chart: alt.TopLevelMixin) -> str:
    return str(vl_convert.vegalite_to_svg(chart.to_dict(), vl_version=_SCHEMA))


def migration(m: Migration, was: str, now: str) -> alt.LayerChart:
    """Old tier down, new tier across: grey where nothing changed, orange where rows move.
    Both scales stop short of their darkest shades so that the counts stay readable."""
    data = [
        {
            "old": tier_name(a),
            "new": tier_name(b),
            "count": c,
            "moved": a != b,
        }
        for (a, b), c in m.matrix.items()
        if c
    ]
    old_order = [tier_name(t) for t in m.old_tiers]
    new_order = [tier_name(t) for t in m.new_tiers]
    base = alt.Chart(_data(data)).encode(
        x=alt.X(
            "new:N", sort=new_order, title=f"new: {now}", axis=alt.Axis(orient="top", labelAngle=0)
        ),
        y=alt.Y("old:N", sort=old_order, title=f"old: {was}"),
    )
    kept = (
        base.transform_filter("!datum.moved")
        .mark_rect(stroke="white")
        .encode(color=alt.Color("count:Q", scale=_shades("greys", 0.08, 0.45), legend=None))
    )
    moved = (
        base.transform_filter("datum.moved")
        .mark_rect(stroke="white")
        .encode(color=alt.Color("count:Q", scale=_shades("oranges", 0.2, 0.6), legend=None))
    )
    labels = base.mark_text(fontSize=13).encode(text=alt.Text("count:Q", format=","))
    size = 80
    chart: alt.LayerChart = (
        alt.LayerChart(layer=[kept, moved, labels])
        .resolve_scale(color="independent")
        .properties(
            width=max(size * len(new_order), 320),
            height=size * 0.6 * len(old_order),
            title=alt.TitleParams(
                "Where the change moves accounts",
                subtitle="rows: the old tier; columns: the new tier; orange: rows that move",
            ),
        )
    )
    return chart


def _shades(scheme: Literal["greys", "oranges"], lightest: float, darkest: float) -> alt.Scale:
    return alt.Scale(type="log", scheme=alt.SchemeParams(scheme, extent=[lightest, darkest]))


def tier_shares(c: Comparison) -> alt.Chart:
    """One bar per definition, split by tier: how much of the data each calls what."""
    data: list[dict[str, Any]] = []
    for name, counts in c.counts.items():
        for tier, count in counts.items():
            data.append(
                {
                    "definition": name,
                    "tier": tier_name(tier),
                    "count": count,
                    "share": count / c.rows if c.rows else None,
                }
            )
    order = _tier_order(c)
    chart: alt.Chart = (
        alt.Chart(_data(data))
        .mark_bar()
        .encode(
            y=alt.Y("definition:N", sort=list(c.names), title=None),
            x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%"), title="share of rows"),
            color=alt.Color(
                "tier:N",
                sort=order,
                scale=alt.Scale(domain=order, range=_colors(order)),
                title="tier",
            ),
            order=alt.Order("rank:Q"),
        )
        .transform_calculate(rank=f"indexof({order!r}, datum.tier)")
        .properties(
            width=640, height=34 * len(c.names), title="How each definition splits the rows"
        )
    )
    return chart


def agreement(c: Comparison) -> alt.LayerChart:
    """For every pair of definitions: with a focus tier, of the rows either calls it, the
    share both do (the overlap of their micro); without one, the share of rows they give
    the same tier. A share of nothing (neither calls any row micro: 0 of 0) is a grey
    cell marked "—", never a colour and a percentage."""
    data = []
    for p in c.pairs:
        part, whole = (p.both, p.either) if c.focus is not None else (p.same, c.rows)
        data += [_share_cell(p.a, p.b, part, whole), _share_cell(p.b, p.a, part, whole)]
    for n in c.names:
        own = c.counts[n].get(c.focus, 0) if c.focus is not None else c.rows
        data.append(_share_cell(n, n, own, own))
    names = list(c.names)
    base = alt.Chart(_data(data)).encode(
        x=alt.X("b:N", sort=names, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("a:N", sort=names, title=None),
    )
    legend = f"both {c.focus}" if c.focus is not None else "same tier"
    nothing = base.mark_rect(stroke="white", color="#eeeeee")
    cells = (
        base.transform_filter("isValid(datum.share)")
        .mark_rect(stroke="white")
        .encode(
            color=alt.Color(
                "share:Q",
                scale=alt.Scale(domain=[0, 1], scheme="blues"),
                legend=alt.Legend(format="%", title=legend),
            )
        )
    )
    text = base.mark_text(fontSize=13).encode(
        text=alt.Text("label:N"),
        color=alt.condition(
            "isValid(datum.share) && datum.share > 0.6", alt.value("white"), alt.value("black")
        ),
    )
    title = (
        f"Of the accounts either definition calls {c.focus}, the share both do"
        if c.focus is not None
        else "How often two definitions give a row the same tier"
    )
    size = 78
    chart: alt.LayerChart = alt.LayerChart(layer=[nothing, cells, text]).properties(
        width=size * len(names), height=size * 0.6 * len(names), title=title
    )
    return chart


def _share_cell(a: str, b: str, part: int, whole: int) -> dict[str, Any]:
    """A cell of the agreement chart: its share (None for 0 of 0) and its text."""
    share = part / whole if whole else None
    return {
        "a": a,
        "b": b,
        "share": share,
        "label": f"{share:.0%}" if share is not None else NOTHING,
    }


_PALETTE = [
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#79706e",
]


def _tier_order(c: Comparison) -> list[str]:
    return [tier_name(t) for t in merged_order(c.tiers)]


def _colors(order: list[str]) -> list[str]:
    named = [t for t in order if t not in ("(no tier)", REFUSED)]
    colors = {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(named)}
    colors |= {"(no tier)": "#d9d9d9", REFUSED: "#7f7f7f"}
    return [colors[t] for t in order]
