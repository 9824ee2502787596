"""Rule files into the registry, and what is said about each load.

At start-up, on SIGHUP and on every change the watcher sees, a file is read,
handed to the registry (which only activates it if it checks and passes its
examples), and the outcome is logged (`ruleset_loaded`, `ruleset_rejected`)
and counted. Keeping every activated source in the archive by digest, for `tierline
audit`, is the decision log's part (`server/decision_log.py`): its failure is the log's,
not the file's.
"""

from __future__ import annotations

from pathlib import Path

from engine.language.diagnostics import RuleError
from engine.load import read_source
from engine.registry import LoadResult, Registry
from server.logs import get_logger
from server.metrics import Metrics

log = get_logger("tierline.server")


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
        source = read_source(path)
    except RuleError as error:  # not UTF-8, too large
        return report_load(registry.refuse(str(path), str(error)), metrics)
    except OSError as error:  # a folder, no permission, gone since it was listed
        message = f"{path}: cannot be read: {error.strerror or error}"
        return report_load(registry.refuse(str(path), message), metrics)
    # Only reading is the file's: what activation does (keeping the source in the archive,
    # the decision log) is the service's, and never a reason to call the file bad.
    return report_load(registry.load(source, replacing), metrics)


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
