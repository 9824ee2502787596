"""What the page is told instead of a result."""

from __future__ import annotations

from typing import Any


class StudioError(Exception):
    """A refusal the page shows: a stable `code` that the page translates (English and
    German), the English sentence, the HTTP status, and the details the sentence names
    (the page words its German sentence from them)."""

    def __init__(self, code: str, message: str, status: int = 400, **detail: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.detail = code, message, status, detail

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "detail": self.detail}
