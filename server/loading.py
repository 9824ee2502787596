"""Rule files into the registry, and what is said about each load.

At start-up, on SIGHUP and on every change the watcher sees, a file is read,
handed to the registry (which only activates it if it checks and passes its
examples), and the outcome is logged (`ruleset_loaded`, `ruleset_rejected`)
and counted. Every activated source is kept in the archive by digest, for
`tierline audit`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.language.diagnostics import RuleError
from engine.load import read_source
from engine.registry import LoadResult, Registry
from engine.ruleset import Ruleset
from server.logs import get_logger
from server.metrics import Metrics
from server.settings import Settings

log = get_logger("tierline.server")


def archive_source(settings: Settings) -> Callable[[Ruleset], None]:
    directory = settings.archive_dir()

    def archive(ruleset: Ruleset) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{ruleset.digest}.tiers"
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_text(ruleset.source, encoding="utf-8")
            tmp.replace(target)

    return archive


def load_folder(
    registry: Registry, folder: Path, metrics: Metrics | None = None
) -> list[LoadResult]:
    try:
        paths = sorted(folder.glob("*.tiers"))
    except OSError as error:
        log.error("rules_folder_unreadable", folder=str(folder), error=error.strerror)
        return []
    return [load_file(registry, path, metrics) for path in paths]


def load_file(
    registry: Registry, path: Path, metrics: Metrics | None = None, replacing: str | None = None
) -> LoadResult:
    """Read, check and offer one file; whatever goes wrong is that file's rejection.
    `replacing`: a file going away whose ruleset this one may take over."""
    try:
        result = registry.load(read_source(path), replacing)
    except RuleError as error:  # not UTF-8, too large
        result = registry.refuse(str(path), str(error))
    except OSError as error:  # a folder, no permission, gone since it was listed
        result = registry.refuse(str(path), f"{path}: cannot be read: {error.strerror or error}")
    return report_load(result, metrics)


def report_load(result: LoadResult, metrics: Metrics | None) -> LoadResult:
    if result.unchanged:
        return result
    if result.accepted:
        serving = result.entry.serving
        assert serving is not None
        log.info(
            "ruleset_loaded",
            ruleset=result.name,
            path=result.path,
            version=serving.version,
            digest=serving.digest,
            previous_digest=result.entry.previous_digest,
        )
    else:
        assert result.failure is not None
        log.error(
            "ruleset_rejected",
            ruleset=result.name,
            path=result.path,
            digest=result.failure.digest,
            serving_digest=result.entry.serving.digest if result.entry.serving else None,
            diagnostics=result.failure.message,
        )
        if metrics is not None:
            metrics.rejected.labels(result.name).inc()
    return result
