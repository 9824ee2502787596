"""The sample tables of the studio: the `--data` files and the files dropped on the page,
classified on DuckDB the way `tierline classify` classifies them.

In: a sample, a ruleset (or two, or the folder's others) and the column mapping
chosen in the page (`--map INPUT=COLUMN` and `--id COLUMN` of the table commands).
Out: the tier counts, the label counts, the first rows with their tier, labels and
one-line reason; the migration of `tierline diff --data` between the saved file and
the edit; the comparison of `tierline compare` with the folder's other definitions.
Files are read by `tierline/tables/read.py` (the same cell reading: `45.2k`,
`1.39%`, `a;b`), the rules run as the SQL of `engine/sql`, and a row's reason and
explanation come from the Python evaluator. A dropped file is kept in a folder of
this process only, and refused past the upload limit.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from engine import ClassifyError, Ruleset
from engine.checker.model import CheckedRuleset, Input
from engine.language.languages import explanation, refusal
from engine.sql.compile import SqlError, compile_sql
from tierline.studio.errors import StudioError
from tierline.tables.cells import quoted
from tierline.tables.columns import TableError, inputs_of, required_by
from tierline.tables.compare import comparison as compared
from tierline.tables.joint import as_python, joint_staged, keep_results
from tierline.tables.migration import Disagreement, migration
from tierline.tables.read import (
    FORMATS,
    Staged,
    readable,
    serially_if_needed,
    source,
    stage,
)
from tierline.tables.why import why

ROWS_SHOWN = 200
KEPT_UPLOADS = 8  # dropped files kept at once (each at most --max-upload-mb): disk is bounded
MAPPINGS = ".columns.json"  # beside `x.tiers`: `x.tiers.columns.json`


@dataclass(frozen=True)
class Sample:
    id: str  # "data-0", "upload-3": what the page names it by
    name: str  # the file's own name, shown, and the key of a remembered mapping
    path: str
    uploaded: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "uploaded": self.uploaded}


@dataclass(frozen=True)
class Mapping_:
    columns: dict[str, str]  # input -> column (INPUT=COLUMN)
    id_column: str | None


class Samples:
    """The samples of one studio: the `--data` files, then the uploads."""

    def __init__(self, data: list[str], max_upload: int):
        self.max_upload = max_upload
        self._folder = tempfile.TemporaryDirectory(prefix="tierline-studio-")
        self._lock = threading.Lock()
        self._samples: dict[str, Sample] = {}
        self._uploads = 0
        for i, path in enumerate(data):
            sample = Sample(f"data-{i}", Path(path).name, path, False)
            self._samples[sample.id] = sample

    def close(self) -> None:
        self._folder.cleanup()

    def listed(self) -> list[Sample]:
        return list(self._samples.values())

    def get(self, sample_id: str) -> Sample:
        found = self._samples.get(sample_id)
        if found is None:
            raise StudioError(
                "no-such-sample", f"no sample {sample_id!r}", 404, name=repr(sample_id)
            )
        return found

    async def upload(self, name: str, chunks: AsyncIterator[bytes]) -> Sample:
        """Keep a dropped file, refused (and nothing kept) when it is larger than the
        limit or its extension names no format the table commands read."""
        plain = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name.replace("\\", "/")).name)[:120]
        suffix = Path(plain).suffix.lower()
        if suffix not in FORMATS or FORMATS[suffix] == "text":
            raise StudioError(
                "upload-format",
                f"{plain or 'the file'}: drop a .csv, .tsv, .parquet or .jsonl file",
                415,
                name=plain,
            )
        with self._lock:
            self._uploads += 1
            number = self._uploads
            sample_id = f"upload-{number}"
        path = Path(self._folder.name) / f"{number}{suffix}"
        size = 0
        with open(path, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_upload:
                    handle.close()
                    path.unlink(missing_ok=True)
                    raise StudioError(
                        "upload-too-large",
                        f"{plain} is larger than the studio takes ({self.max_upload:,} bytes); "
                        "use a sample of it, or start the studio with --data FILE",
                        413,
                        limit=self.max_upload,
                        name=plain,
                    )
                handle.write(chunk)
        sample = Sample(sample_id, plain or path.name, str(path), True)
        with self._lock:
            self._samples[sample_id] = sample
            uploads = [s for s in self._samples.values() if s.uploaded]
            for old in uploads[: max(0, len(uploads) - KEPT_UPLOADS)]:  # the oldest go
                del self._samples[old.id]
                Path(old.path).unlink(missing_ok=True)
        return sample


def columns_of(sample: Sample) -> list[str]:
    """The sample's column names, as `--map` and `--id` name them."""
    with _reading(), readable([sample.path]) as (paths, kind):
        described = duckdb.connect().sql(f"SELECT * FROM {source(paths, kind)} LIMIT 0")
        return list(described.columns)


@dataclass
class _Entry:
    connection: duckdb.DuckDBPyConnection
    staged: Staged  # its `sql` reads the staged table, not the file
    declared: dict[str, Input]
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the staged rows with a saved version's results, by its digest (`saved_results`):
    # (the table, the rows as `joint_staged` reads them)
    saved: OrderedDict[tuple[str, str], tuple[str, Staged]] = field(default_factory=OrderedDict)
    tables_made: int = 0  # numbers the tables of `saved`: never two of one name

    SAVED_KEPT = 2  # the saved version and the one before a save: each a copy of the rows

    def saved_results(self, saved: CheckedRuleset) -> Staged:
        """The staged rows with the saved version's tier, labels and error as columns,
        made on its first impact and kept by its digest: every later keystroke's impact
        computes only the edit's side of the pass (hold `lock`)."""
        key = (saved.digest, saved.name)
        found = self.saved.get(key)
        if found is None:
            self.tables_made += 1
            table = f"__saved_{self.tables_made}"
            rows = keep_results(self.connection, saved, self.declared, self.staged, table)
            found = self.saved[key] = (table, rows)
            while len(self.saved) > self.SAVED_KEPT:
                old, _rows = self.saved.popitem(last=False)[1]
                self.connection.execute(f"DROP TABLE IF EXISTS {quoted(old)}")
        self.saved.move_to_end(key)
        return found[1]


class Staging:
    """Samples staged once as DuckDB tables, each input read as its type by `read.stage`
    (the cell reading of `tierline classify`), for the rulesets' inputs and the page's
    mapping: every keystroke's table, impact and comparison then query the staged rows
    instead of reading and parsing the file again. A changed `--data` file (its size or
    time) is staged again; the last `KEPT` stagings are kept."""

    KEPT = 6

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def rows(
        self, sample: Sample, mapping: Mapping_, rulesets: list[CheckedRuleset]
    ) -> Iterator[_Entry]:
        declared = inputs_of(rulesets)
        info = os.stat(sample.path)
        key = (
            sample.path, info.st_mtime_ns, info.st_size,
            tuple(sorted(mapping.columns.items())), mapping.id_column,
            tuple((n, d.type.value, d.optional) for n, d in sorted(declared.items())),
            tuple(sorted(n for n, needed in required_by(rulesets).items() if needed)),
        )  # fmt: skip
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            entry = _stage(sample, mapping, rulesets, declared)
            with self._lock:
                self._entries[key] = entry
                while len(self._entries) > self.KEPT:
                    self._entries.popitem(last=False)[1].connection.close()
        with entry.lock:
            yield entry


def _stage(
    sample: Sample, mapping: Mapping_, rulesets: list[CheckedRuleset], declared: dict[str, Input]
) -> _Entry:
    with readable([sample.path]) as (paths, kind):

        def run(parallel: bool) -> _Entry:
            connection = duckdb.connect()
            connection.execute("SET enable_progress_bar = false")
            staged = stage(connection, declared, paths, kind, dict(mapping.columns),
                           mapping.id_column, parallel, required_by(rulesets))  # fmt: skip
            connection.execute(f"CREATE TABLE __sample AS {staged.sql}")
            kept = Staged("SELECT * FROM __sample", staged.plan)
            return _Entry(connection, kept, declared)

        return serially_if_needed(run)


def table(
    staging: Staging,
    ruleset: Ruleset,
    sample: Sample,
    mapping: Mapping_,
    shown: int = ROWS_SHOWN,
    language: str = "en",
) -> dict[str, Any]:
    """The sample under the ruleset: counts per tier, per label, errors, and the first
    `shown` rows with the account each row gives the rules and its one-line reason (in
    `language`)."""
    checked = ruleset.checked
    with _reading(), staging.rows(sample, mapping, [checked]) as entry:
        staged, connection = entry.staged, entry.connection
        rules = compile_sql(checked, "duckdb", "__staged", staged.columns, pretty=False,
                            unreadable=staged.unreadable)  # fmt: skip
        inputs = ", ".join(quoted(column) for column in staged.columns.values())
        results = (
            f"WITH __staged AS ({staged.sql}) "
            f"SELECT __id, tier, labels, rule, error{', ' + inputs if inputs else ''} "
            f"FROM ({rules})"
        )
        connection.execute(f"CREATE OR REPLACE TEMP TABLE __out AS {results}")
        counts = connection.sql(
            "SELECT CASE WHEN error IS NOT NULL THEN '(error)' ELSE coalesce(tier, '') END, "
            "count(*) FROM __out GROUP BY ALL"
        ).fetchall()
        labels = connection.sql(
            "SELECT l, count(*) FROM (SELECT unnest(labels) AS l FROM __out) GROUP BY l"
        ).fetchall()
        rows = connection.sql(f"SELECT * FROM __out LIMIT {int(shown)}").fetchall()
        return _shaped(ruleset, staged.columns, staged.id_name, counts, labels, rows, language)


def _shaped(
    ruleset: Ruleset,
    staged: Mapping[str, str],
    id_name: str,
    counts: list[tuple[Any, ...]],
    labels: list[tuple[Any, ...]],
    rows: list[tuple[Any, ...]],
    language: str,
) -> dict[str, Any]:
    declared = ruleset.checked.inputs
    by_tier = dict(counts)
    order = [*ruleset.checked.tier_names(), "", "(error)"]
    tiers = {t: by_tier.get(t, 0) for t in order if t in by_tier or t in order[:-2]}
    label_counts = dict(labels)
    shaped_rows = []
    for row in rows:
        row_id, tier, row_labels, rule, error = row[:5]
        account = {
            name: as_python(declared[name].type, value)
            for name, value in zip(staged, row[5:], strict=True)
            if value is not None
        }
        shaped_rows.append(
            {
                "id": row_id,
                "tier": tier or "",
                "labels": list(row_labels or []),
                "rule": rule,
                "error": error,
                "reason": refusal(error, language)
                if error is not None
                else _reason(ruleset, account, language),
                "account": account,
            }
        )
    return {
        "rows": sum(by_tier.values()),
        "id_name": id_name,
        "tiers": tiers,
        "labels": {r.name: label_counts.get(r.name, 0) for r in ruleset.checked.labels},
        "shown": shaped_rows,
    }


def _reason(ruleset: Ruleset, account: dict[str, Any], language: str) -> str:
    try:
        return why(ruleset, ruleset.classify(account), language)
    except ClassifyError as error:
        return refusal(str(error), language)


def explain(ruleset: Ruleset, account: dict[str, Any], language: str = "en") -> dict[str, Any]:
    """A row's full explanation (click a row), from the Python evaluator, in `language`."""
    own = {n: v for n, v in account.items() if n in ruleset.checked.inputs}
    try:
        decision = ruleset.classify(own)
    except ClassifyError as error:
        return {"error": refusal(str(error), language)}
    conditions = [r.text for r in decision.reasons]
    return {
        "tier": decision.tier or "",
        "labels": list(decision.labels),
        "explanation": explanation(decision.explain(), language, conditions),
    }


def impact(
    staging: Staging,
    saved: Ruleset,
    edited: Ruleset,
    sample: Sample,
    mapping: Mapping_,
    language: str = "en",
) -> dict[str, Any]:
    """`tierline diff SAVED EDITED --data SAMPLE --format json` (the same joint count and
    migration, over the staged rows), and each tier's rows before and after."""
    checked = [saved.checked, edited.checked]
    with _reading(), staging.rows(sample, mapping, checked) as entry:
        rows = entry.saved_results(saved.checked)
        joint = joint_staged(entry.connection, checked, entry.declared, rows, 3, True, kept=[0])
        found = migration(saved, edited, joint, 3, language)
    out = found.to_json()
    out["tier_counts"] = [
        {"tier": t, "before": b, "after": a} for t, (b, a) in found.tier_counts().items()
    ]
    out["seconds"] = found.seconds
    out["id_name"] = found.id_name
    # which texts the answer is for: the page draws only the answer for its latest text
    out["digests"] = {"old": saved.digest, "new": edited.digest}
    return out


def comparison(
    staging: Staging, rulesets: list[Ruleset], sample: Sample, mapping: Mapping_
) -> dict[str, Any]:
    """`tierline compare … --data SAMPLE --format json` over the given definitions."""
    checked = [r.checked for r in rulesets]
    with _reading(), staging.rows(sample, mapping, checked) as entry:
        joint = joint_staged(entry.connection, checked, entry.declared, entry.staged, 2, True)
        return compared(rulesets, joint, None, 2).to_json()


class _reading:
    """The refusals of the table path as the page's errors: a column that is missing
    or mapped twice, a file DuckDB cannot read."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 _tb: object) -> None:  # fmt: skip
        if isinstance(error, (TableError, SqlError)):
            raise StudioError("table", str(error), 422) from None
        if isinstance(error, duckdb.Error):
            raise StudioError("table", f"the sample cannot be read: {error}", 422) from None
        if isinstance(error, Disagreement):
            raise StudioError("internal", f"internal error, please report it: {error}", 500)


# ------------------------------------------------------------- remembered mappings


def mapping_file(rule_file: Path) -> Path:
    return rule_file.with_name(rule_file.name + MAPPINGS)


def remembered(rule_file: Path, sample_name: str) -> dict[str, Any] | None:
    """The mapping chosen for this sample (by its file name) beside the rule file."""
    try:
        saved = json.loads(mapping_file(rule_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = saved.get("samples", {}).get(sample_name) if isinstance(saved, dict) else None
    return found if isinstance(found, dict) else None


def remember(rule_file: Path, sample_name: str, mapping: Mapping_) -> None:
    """Keep the mapping beside the rule file (atomically), for the next time this sample
    is opened with this file, in the page or by anyone reading the file."""
    target = mapping_file(rule_file)
    try:
        saved = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or not isinstance(saved.get("samples"), dict):
            saved = {"samples": {}}
    except (OSError, ValueError):
        saved = {"samples": {}}
    saved["samples"][sample_name] = {"map": mapping.columns, "id": mapping.id_column}
    text = json.dumps(saved, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)


def parse_mapping(raw: Any) -> Mapping_:
    """The page's mapping: {"map": {INPUT: COLUMN}, "id": COLUMN or null}."""
    raw = raw if isinstance(raw, dict) else {}
    columns = raw.get("map") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        raise StudioError("bad-request", "map: give {INPUT: COLUMN} with texts", 400)
    id_column = raw.get("id")
    if id_column is not None and not isinstance(id_column, str):
        raise StudioError("bad-request", "id: give a column name or null", 400)
    return Mapping_({k: v for k, v in columns.items() if v}, id_column or None)
