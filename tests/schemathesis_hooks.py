"""Schemathesis hooks for tests/test_openapi.py (loaded by SCHEMATHESIS_HOOKS).

HTTP servers rightly ignore headers they do not know, yet schemathesis's negative
mode counts a request with an undeclared header as invalid data that must be
refused (its issue #2726): headers the description does not name are not sent,
so `negative_data_rejection` judges bodies, parameters and declared headers."""

from __future__ import annotations

from typing import Any

import schemathesis

DECLARED = frozenset({"authorization", "x-request-id", "x-server-timeout", "content-type"})


@schemathesis.hook
def filter_headers(context: Any, headers: dict[str, Any] | None) -> bool:
    return headers is None or all(name.lower() in DECLARED for name in headers)


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """The same for the coverage phase, whose cases are not made by `filter_headers`."""
    return all(name.lower() in DECLARED for name in case.headers or {})
