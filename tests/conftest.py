"""Shared paths for the test suites."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
SHARED_DATA = ROOT.parent / "shared" / "data" / "influencers"


@pytest.fixture
def rules_dir() -> Path:
    return RULES
