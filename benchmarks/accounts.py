"""Benchmark accounts: real follower counts and categories from the Kim et al.
(WWW'20) Instagram influencer data set in ../shared/data, with engagement rates
drawn from a fixed seed. Without the data set the benchmarks stop, saying so:
figures on other accounts must not pass for these. TIERLINE_BENCH_SYNTHETIC=1
runs them on synthetic accounts instead, and every table then says so."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
# beside the main checkout (/work/main -> /work/shared), or two up from a worktree, as
# tests/conftest.py finds it
DATA = next(
    (
        up / "shared" / "data" / "influencers"
        for up in (_ROOT.parent, _ROOT.parent.parent)
        if (up / "shared" / "data" / "influencers").is_dir()
    ),
    _ROOT.parent / "shared" / "data" / "influencers",
)
KIM = DATA / "kim2020_instagram_influencers" / "influencers.txt"
PLATFORMS = ["instagram", "tiktok", "youtube"]


def accounts(n: int = 10_000, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows: list[tuple[int, str]] = []
    if KIM.exists():
        for line in KIM.read_text(encoding="utf-8").splitlines()[2:]:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[2].isdigit():
                rows.append((int(parts[2]), parts[1]))
    if not rows:
        if os.environ.get("TIERLINE_BENCH_SYNTHETIC") != "1":
            raise SystemExit(
                f"benchmarks: {KIM} is missing; the figures are measured on the Kim et al. "
                "accounts. Set TIERLINE_BENCH_SYNTHETIC=1 to measure on synthetic ones."
            )
        rows = [
            (int(10 ** rnd.uniform(2, 8)), rnd.choice(["beauty", "fashion", "tech"]))
            for _ in range(n)
        ]
    out = []
    for i in range(n):
        followers, category = rows[i % len(rows)]
        out.append(
            {
                "followers": followers,
                "engagement_rate": round(rnd.uniform(0.0, 0.08), 4),
                "topics": [category],
                "platform": rnd.choice(PLATFORMS),
            }
        )
    return out


def source() -> str:
    return f"Kim et al. 2020 ({KIM.name})" if KIM.exists() else "synthetic (shared data absent)"
