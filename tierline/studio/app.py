"""The studio's HTTP application: the page, its assets, and JSON endpoints over the
engine's pieces (`live.py`, `samples.py`, `workspace.py`); nothing here decides
anything about rules.

Hover, completion and quick fixes come from `engine.services` (as `tierline lsp`'s).

Access: without `--auth-tokens`, the studio listens on loopback only, answers only
requests whose Host is a loopback name (a web page elsewhere cannot reach it by a
DNS name that points at 127.0.0.1), and saves under the name the page gives. With
tokens (`NAME ROLE[,ROLE…] sha256:HEX`, read as `tierline serve` reads them), every
`/api` request carries `Authorization: Bearer TOKEN`; `view` reads, `edit` also saves
and remembers a mapping, and a save is recorded under the token's name (beyond
loopback only over TLS or with `--insecure`: tierline/cli/studio.py). Requests
that change something must carry `X-Tierline-Studio: 1`, which a cross-site form
cannot send without the browser asking first.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine import Ruleset
from engine.language.languages import field_text, language_of
from engine.services import Position
from server.security.callers import STUDIO_ROLES, CallersFile
from tierline.studio import live, samples
from tierline.studio.errors import StudioError
from tierline.studio.samples import Staging
from tierline.studio.workspace import Workspace

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
MAX_JSON = 20 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Studio:
    workspace: Workspace
    samples: samples.Samples
    callers: CallersFile | None = None
    checker: live.Checker = field(default_factory=live.Checker)
    staging: Staging = field(default_factory=Staging)


def create_app(studio: Studio) -> Starlette:
    def api(role: str, work: Callable[[Request, dict[str, Any], str], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                who = _authorised(studio, request, role)
                body: dict[str, Any] = {}
                if request.method == "POST" and request.url.path != "/api/samples":
                    body = await _json(request)
                result = await run_in_threadpool(work, request, body, who)
                return result if isinstance(result, Response) else JSONResponse(result)
            except StudioError as error:
                return JSONResponse(error.to_json(_language(request)), status_code=error.status)

        return endpoint

    async def upload(request: Request) -> Response:
        try:
            _authorised(studio, request, "view")
            name = request.headers.get("x-filename", "")
            length = int(request.headers.get("content-length") or 0)
            if length > studio.samples.max_upload:
                raise StudioError(
                    "upload-too-large",
                    f"{name or 'the file'} is larger than the studio takes "
                    f"({studio.samples.max_upload:,} bytes); use a sample of it, or start "
                    "the studio with --data FILE",
                    413,
                    limit=studio.samples.max_upload,
                    name=name,
                )
            sample = await studio.samples.upload(name, request.stream())
            columns = await run_in_threadpool(samples.columns_of, sample)
            return JSONResponse({**sample.to_json(), "columns": columns})
        except StudioError as error:
            return JSONResponse(error.to_json(_language(request)), status_code=error.status)

    async def index(request: Request) -> Response:
        host = request.headers.get("host", "")
        if studio.callers is None and not _loopback_host(host):
            return Response("tierline studio answers loopback names only", 421)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def guide(request: Request) -> Response:
        name = "authoring.de.md" if request.path_params["lang"] == "de" else "authoring.md"
        return FileResponse(STATIC / name, media_type="text/plain; charset=utf-8")

    def worded(path: str, answer: Callable[[Studio, dict[str, Any], str], Any]) -> Route:
        """A view request whose answer is said in the page's language (`_language`)."""
        return Route(
            path, api("view", lambda r, b, who: answer(studio, b, _language(r))), methods=["POST"]
        )

    routes = [
        Route("/", index),
        Route("/help/{lang}", guide),
        Route("/api/session", api("view", lambda r, b, who: _session(studio, who))),
        Route("/api/files", api("view", lambda r, b, who: _files(studio))),
        Route("/api/file", api("view", lambda r, b, who: _open(studio, r))),
        worded("/api/analyze", _analyze),
        worded("/api/hover", _hover),
        worded("/api/complete", _complete),
        Route("/api/columns", api("view", lambda r, b, who: _columns(studio, r))),
        Route("/api/samples", upload, methods=["POST"]),
        worded("/api/table", _table),
        worded("/api/explain", _explain),
        Route("/api/example", api("view", lambda r, b, who: _example(studio, b)), methods=["POST"]),
        worded("/api/impact", _impact),
        worded("/api/impact/rules", _impact_rules),
        Route("/api/compare", api("view", lambda r, b, who: _compare(studio, b)), methods=["POST"]),
        Route(
            "/api/mapping", api("edit", lambda r, b, who: _remember(studio, b)), methods=["POST"]
        ),
        Route("/api/save", api("edit", lambda r, b, who: _save(studio, b, who)), methods=["POST"]),
        Route("/api/history", api("view", lambda r, b, who: _history(studio, r))),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


# ------------------------------------------------------------------ access


def _authorised(studio: Studio, request: Request, role: str) -> str:
    """The caller's name if it may do what `role` allows; StudioError 401/403/421 if not."""
    if request.method != "GET" and request.headers.get("x-tierline-studio") != "1":
        raise StudioError("bad-request", "requests that change something need the page", 400)
    if studio.callers is None:
        if not _loopback_host(request.headers.get("host", "")):
            raise StudioError("loopback-only", "the studio answers loopback names only", 421)
        return ""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    caller = (
        studio.callers.current().by_token(token.strip()) if scheme.lower() == "bearer" else None
    )
    if caller is None:
        raise StudioError("unauthenticated", "a valid token is needed", 401)
    # `edit` implies `view`: an editor reads what they edit
    if role not in caller.roles and not (role == "view" and "edit" in caller.roles):
        raise StudioError("forbidden", f"{caller.name} lacks the role {role}", 403, role=role)
    return caller.name


def _language(request: Request) -> str:
    """The language the page reads: `?lang=` on the request, else its Accept-Language
    (the page sends the language chosen in it); English by default."""
    return language_of(request.query_params.get("lang") or request.headers.get("accept-language"))


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOOPBACK_HOSTS


async def _json(request: Request) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_JSON:
        raise StudioError(
            "too-large", f"the request is over {MAX_JSON:,} bytes", 413, limit=MAX_JSON
        )
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        raise StudioError("bad-request", "the request is not JSON", 400) from None
    if not isinstance(body, dict):
        raise StudioError("bad-request", "the request is not a JSON object", 400)
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise StudioError("bad-request", f"{key}: give a text", 400)
    return value


# ------------------------------------------------------------------ endpoints


def _session(studio: Studio, who: str) -> dict[str, Any]:
    roles = ["view", "edit"]
    if studio.callers is not None:
        caller = next((c for _d, c in studio.callers.current().tokens if c.name == who), None)
        roles = sorted(caller.roles & set(STUDIO_ROLES)) if caller else []
        if "edit" in roles and "view" not in roles:
            roles = ["edit", "view"]
    return {
        "auth": studio.callers is not None,
        "name": who or getpass.getuser(),
        "roles": roles,
        "git": studio.workspace.git is not None,
        "samples": [s.to_json() for s in studio.samples.listed()],
        "max_upload": studio.samples.max_upload,
        "folder": studio.workspace.root.name,
    }


def _files(studio: Studio) -> dict[str, Any]:
    out = []
    for name in studio.workspace.files():
        try:
            opened = studio.workspace.open(name)
        except StudioError as error:
            out.append({"path": name, "error": error.message})
            continue
        item: dict[str, Any] = {"path": name, "digest": opened.digest}
        try:  # the list needs names and titles, not the solver's findings
            ruleset = studio.checker.ruleset(name, opened.text)
            item |= {"ok": True, "ruleset": ruleset.name, "title": ruleset.checked.title}
        except StudioError:
            item["ok"] = False
        out.append(item)
    return {"files": out}


def _open(studio: Studio, request: Request) -> dict[str, Any]:
    name = request.query_params.get("path", "")
    opened = studio.workspace.open(name)
    sample = request.query_params.get("sample")
    mapping = None
    if sample:
        found = studio.samples.get(sample)
        mapping = samples.remembered(studio.workspace.resolve(name), found.name)
    return {"path": opened.path, "text": opened.text, "digest": opened.digest, "mapping": mapping}


def _analyze(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    name, text = _text(body, "path"), _text(body, "text")
    studio.workspace.resolve(name)
    found = studio.checker.check(name, text)
    out: dict[str, Any] = {
        "diagnostics": live.diagnostics_json(found, language),
        "ok": found.ruleset is not None,
    }
    if found.ruleset is not None:
        out["examples"] = live.examples_json(found.ruleset, language)
        out["ruleset"] = live.declared(found.ruleset)
    return out


def _position(body: dict[str, Any]) -> Position:
    """The services' position: 0-based line and character in code points (the page
    counts them from the editor's line text)."""
    raw = body.get("position")
    if not isinstance(raw, dict):
        raise StudioError("bad-request", "position: give {line, character}", 400)
    line, character = raw.get("line"), raw.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        raise StudioError("bad-request", "position: line and character are counts from 0", 400)
    return Position(line, character)


def _hover(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    name, text = _text(body, "path"), _text(body, "text")
    studio.workspace.resolve(name)
    return studio.checker.hover(name, text, _position(body), language)


def _complete(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    name, text = _text(body, "path"), _text(body, "text")
    studio.workspace.resolve(name)
    return studio.checker.complete(name, text, _position(body), language)


def _columns(studio: Studio, request: Request) -> dict[str, Any]:
    sample = studio.samples.get(request.query_params.get("sample", ""))
    return {"columns": samples.columns_of(sample)}


def _edited(studio: Studio, body: dict[str, Any]) -> Ruleset:
    name, text = _text(body, "path"), _text(body, "text")
    studio.workspace.resolve(name)
    return studio.checker.ruleset(name, text)


def _saved(studio: Studio, name: str) -> Ruleset:
    """The saved file's rules, without waiting for the solver (`Checker.ruleset`): a
    keystroke's impact must not queue behind the analysis of the same keystroke, nor
    behind the previous one's "can any account move" query."""
    opened = studio.workspace.open(name)
    try:
        return studio.checker.ruleset(name, opened.text)
    except StudioError as error:
        if error.code != "rules-have-errors":
            raise
        raise StudioError(
            "saved-has-errors", f"the saved {name} has errors: no impact to show", 422, name=name
        ) from None


def _table(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    ruleset = _edited(studio, body)
    sample = studio.samples.get(_text(body, "sample"))
    mapping = samples.parse_mapping(body.get("mapping"))
    return samples.table(studio.staging, ruleset, sample, mapping, language=language)


def _explain(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    account = body.get("account")
    if not isinstance(account, dict):
        raise StudioError("bad-request", "account: give an object", 400)
    return samples.explain(_edited(studio, body), account, language)


def _example(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    account = body.get("account")
    if not isinstance(account, dict):
        raise StudioError("bad-request", "account: give an object", 400)
    described = body.get("description")
    text = described if isinstance(described, str) and described else "row from the sample"
    return {"block": live.example_block(_edited(studio, body), account, text)}


def _impact(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    edited = _edited(studio, body)
    saved = _saved(studio, _text(body, "path"))
    sample = studio.samples.get(_text(body, "sample"))
    mapping = samples.parse_mapping(body.get("mapping"))
    return samples.impact(studio.staging, saved, edited, sample, mapping, language)


def _impact_rules(studio: Studio, body: dict[str, Any], language: str) -> dict[str, Any]:
    from engine.analysis.changes import IncomparableError
    from engine.ruleset import rule_changes
    from tierline.reports.changes import to_json

    edited = _edited(studio, body)
    saved = _saved(studio, _text(body, "path"))
    try:
        with live.CHECKING:  # the solver: one query at a time in this process
            found = rule_changes(saved, edited)
    except IncomparableError as error:
        raise StudioError("incomparable", str(error), 422) from None
    out = to_json(found)
    if "undecided" in out:  # what the solver could not decide, in the page's words
        out["undecided"] = [field_text(what, language) for what in out["undecided"]]
    return out


def _compare(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    edited = _edited(studio, body)
    name = _text(body, "path")
    others: list[Ruleset] = [edited]
    for other in studio.workspace.files():
        if other == name:
            continue
        try:
            ruleset = studio.checker.ruleset(other, studio.workspace.open(other).text)
        except StudioError:  # unreadable, or with errors: not a definition to compare
            continue
        if ruleset.name not in {r.name for r in others}:
            others.append(ruleset)
    if len(others) < 2:
        raise StudioError("nothing-to-compare", "the folder has no other definition", 422)
    sample = studio.samples.get(_text(body, "sample"))
    mapping = samples.parse_mapping(body.get("mapping"))
    result = samples.comparison(studio.staging, others, sample, mapping)
    result["files"] = {r.name: Path(r.path).name for r in others}
    return result


def _remember(studio: Studio, body: dict[str, Any]) -> dict[str, Any]:
    name = _text(body, "path")
    rule_file = studio.workspace.resolve(name)
    sample = studio.samples.get(_text(body, "sample"))
    mapping = samples.parse_mapping(body.get("mapping"))
    samples.remember(rule_file, sample.name, mapping)
    return {"remembered": samples.mapping_file(rule_file).name}


def _save(studio: Studio, body: dict[str, Any], who: str) -> dict[str, Any]:
    name, text = _text(body, "path"), _text(body, "text")
    base = body.get("digest")
    if base is not None and not isinstance(base, str):
        raise StudioError("bad-request", "digest: give the digest the file was opened with", 400)
    author = who
    if not author:  # no tokens: loopback, the name the page gives (or the OS user's)
        given = body.get("author")
        author = (
            given.strip()[:100] if isinstance(given, str) and given.strip() else getpass.getuser()
        )
    return studio.workspace.save(name, text, base, author)


def _history(studio: Studio, request: Request) -> dict[str, Any]:
    return {"saves": studio.workspace.history(request.query_params.get("path", ""))}
