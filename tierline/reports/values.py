"""Numbers and accounts as a report writes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from engine import Ruleset
from engine.python.leaves import value_formatters
from tierline.tables.joint import REFUSED

Formats = Mapping[str, Callable[[Any], str]]


NOTHING = "—"  # a share of nothing: 0 of 0 is no percentage at all, not 0% nor 100%


def percent(part: int, whole: int) -> str:
    if not whole:
        return NOTHING
    share = 100 * part / whole
    return f"{share:.1f}%" if share >= 0.1 or part == 0 else "<0.1%"


def count_share(part: int, whole: int) -> str:
    return f"{part:,} ({percent(part, whole)})"


def labelled(labels: Iterable[tuple[str, tuple[str, ...]]]) -> str:
    """The labels each definition gives one account: "synthesis: fashion_expert; niche:
    techie" (definitions that give none left out), or "" when none gives any."""
    return "; ".join(f"{name}: {', '.join(given)}" for name, given in labels if given)


def formats(rulesets: Iterable[Ruleset]) -> dict[str, Callable[[Any], str]]:
    """How each input is written in the rules (`45,000`, `4.2%`, `{"fashion"}`)."""
    out: dict[str, Callable[[Any], str]] = {}
    for ruleset in rulesets:
        out |= value_formatters(ruleset.checked)
    return out


def account_text(account: Mapping[str, Any], shown: Formats) -> str:
    if not account:
        return "(no inputs)"
    return ", ".join(
        f"{name} {shown[name](v) if name in shown else v}" for name, v in account.items()
    )


def tier_name(tier: str) -> str:
    """A tier as a report shows it: no tier is "(no tier)"."""
    return tier or "(no tier)"


def merged_order(orders: Iterable[tuple[str, ...]]) -> list[str]:
    """The tiers of several rulesets in one order that keeps each ruleset's own: the
    longest first, and each other tier just before the next one of its own ruleset
    already placed (`mega` of mega/macro/micro goes before `macro` of vip/top/macro/…).
    No tier and refused rows go last."""
    last = ("", REFUSED)
    ordered = sorted(orders, key=len, reverse=True)
    placed: list[str] = []
    for order in ordered:
        named = [t for t in order if t not in last]
        for i, tier in enumerate(named):
            if tier in placed:
                continue
            after = next((t for t in named[i + 1 :] if t in placed), None)
            placed.insert(placed.index(after) if after else len(placed), tier)
    ends = [t for t in last if any(t in order for order in ordered)]
    return placed + ends
