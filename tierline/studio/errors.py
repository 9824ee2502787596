"""What the page is told instead of a result, in English or German."""

from __future__ import annotations

from typing import Any

from engine.language.languages import fill, refusal, table_problem

# The page's refusals in German, by code, from the details each one carries (numbers
# German: 10.000). A code not here, or a refusal without the details its sentence
# needs, is said in English.
GERMAN: dict[str, str] = {
    "upload-too-large": "{name} ist größer, als das Studio annimmt ({limit:,} Bytes); "
    "verwenden Sie einen Ausschnitt, oder starten Sie das Studio mit --data DATEI",
    "upload-format": "{name}: bitte eine .csv-, .tsv-, .parquet- oder .jsonl-Datei ablegen",
    "unauthenticated": "ein gültiges Zugangstoken wird benötigt",
    "forbidden": "Ihrem Token fehlt die Rolle {role}",
    "loopback-only": "das Studio antwortet nur unter Loopback-Namen",
    "too-large": "die Anfrage ist größer als {limit:,} Bytes",
    "rules-have-errors": "{name} hat Fehler; beheben Sie sie, um dies zu sehen",
    "saved-has-errors": "die gespeicherte Datei {name} hat Fehler: keine Auswirkung anzuzeigen",
    "nothing-to-compare": "der Ordner enthält keine andere Definition",
    "outside": "{name}: nur Dateien im Regelordner können geöffnet werden",
    "not-a-rule-file": "{name}: Regeldateien enden auf .tiers",
    "no-such-file": "{name}: keine solche Regeldatei",
    "no-such-sample": "keine Stichprobe {name}",
    "conflict": "{name} wurde seit dem Öffnen auf der Festplatte geändert; Ihr Text bleibt "
    "hier erhalten: laden Sie die Datei neu und wenden Sie Ihre Änderung erneut an",
    "row-refused": "die Regeln lehnen diese Zeile ab: {reason}",
    "table": "{problem}",
}


class StudioError(Exception):
    """A refusal the page shows: a stable `code` that the page translates (English and
    German), the English sentence, the HTTP status, and the details the sentence names
    (the page words its German sentence from them)."""

    def __init__(self, code: str, message: str, status: int = 400, **detail: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.detail = code, message, status, detail

    def said(self, language: str = "en") -> str:
        """The sentence in `language` (English where German lacks it)."""
        template = GERMAN.get(self.code) if language == "de" else None
        if template is None:
            return self.message
        try:
            detail = dict(self.detail)
            if "reason" in detail:  # why the rules refused an account
                detail["reason"] = refusal(str(detail["reason"]), language)
            if self.code == "table":  # the sample's columns against the rules' inputs
                said = table_problem(self.message, language)
                return self.message if said == self.message else said
            return fill(template, {"message": self.message, **detail})
        except (KeyError, IndexError, ValueError):
            return self.message

    def to_json(self, language: str = "en") -> dict[str, Any]:
        return {"error": self.code, "message": self.said(language), "detail": self.detail}
