"""`tierline studio` through its HTTP interface: a real studio subprocess on a free
loopback port, real rule files in a temporary folder, real sample files, and the
CLI commands whose answers the studio must repeat (`tierline classify`, `diff`)."""

from __future__ import annotations

import csv
import json
import os
import socket
import ssl
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from engine.language.source import Source
from tests.certs import CA
from tests.conftest import tierline
from tests.real_server import wait_until
from tests.studio_server import HEADERS, rules_folder, studio

SYNTHESIS = "synthesis.tiers"


def sample_csv(path: Path, rows: int = 300) -> Path:
    """Accounts spread over every tier of rules/synthesis.tiers, written as exports
    write them (`45.2k`, `4.2%`, `a;b`), under the column names the rules read."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "followers", "engagement_rate", "topics", "platform"])
        for i in range(rows):
            followers = [500, 5_000, 20_000, 45_200, 99_999, 150_000, 2_000_000][i % 7] + i
            rate = ["0.5%", "3%", "3.2%", "4.2%", "6%"][i % 5]
            topics = ["fashion", "tech;gaming", "", "food"][i % 4]
            out.writerow(
                [
                    f"acc{i}",
                    f"{followers / 1000:.1f}k" if i % 3 else followers,
                    rate,
                    topics,
                    "instagram",
                ]
            )
    return path


def post(base: str, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(base + path, json=body, headers={**HEADERS, **headers}, timeout=60)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rules_folder(tmp_path_factory.mktemp("studio"), SYNTHESIS, "agency.tiers")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_csv(tmp_path_factory.mktemp("data") / "accounts.csv")


@pytest.fixture(scope="module")
def base(folder: Path, data: Path) -> Iterator[str]:
    with studio(folder, "--data", str(data), "--max-upload-mb", "1") as url:
        yield url


def text_of(folder: Path, name: str = SYNTHESIS) -> str:
    return (folder / name).read_text(encoding="utf-8")


def test_the_page_and_its_assets_are_served(base: str) -> None:
    page = httpx.get(base + "/", timeout=10)
    assert page.status_code == 200 and "/static/studio.js" in page.text
    script = httpx.get(base + "/static/studio.js", timeout=10)
    assert script.status_code == 200 and len(script.content) > 100_000
    guide = httpx.get(base + "/help/de", timeout=10)
    assert "Anleitung" in guide.text


def test_files_and_a_misspelling_with_its_fix(base: str, folder: Path) -> None:
    files = httpx.get(base + "/api/files", timeout=30).json()["files"]
    assert [f["path"] for f in files] == ["agency.tiers", SYNTHESIS]
    broken = text_of(folder).replace("tier nano  when followers", "tier nano  when folowers")
    found = post(base, "/api/analyze", {"path": SYNTHESIS, "text": broken}).json()
    assert found["ok"] is False
    [diagnostic] = found["diagnostics"]
    assert (
        diagnostic["code"] == "unknown-name" and diagnostic["hint"] == "did you mean 'followers'?"
    )
    assert diagnostic["fix"]["title"]
    [fix] = diagnostic["fix"]["changes"]
    assert broken[fix["from"] : fix["to"]] == "folowers"  # ASCII: UTF-16 offsets equal
    fixed = broken[: fix["from"]] + fix["insert"] + broken[fix["to"] :]
    assert fixed == text_of(folder)
    again = post(base, "/api/analyze", {"path": SYNTHESIS, "text": fixed}).json()
    assert again["ok"] and again["diagnostics"] == []


def test_offsets_count_as_the_editor_counts(base: str, folder: Path) -> None:
    """CodeMirror counts UTF-16 code units: an emoji before a mistake moves it by two."""
    text = "# 🎉 party\n" + text_of(folder).replace(
        "when followers at least 1M", "when folowers at least 1M"
    )
    [diagnostic] = post(base, "/api/analyze", {"path": SYNTHESIS, "text": text}).json()[
        "diagnostics"
    ]
    as_editor = text.encode("utf-16-le")
    start, end = diagnostic["from"], diagnostic["to"]
    assert as_editor[2 * start : 2 * end].decode("utf-16-le") == "folowers"


def test_hover_and_completion_come_from_the_language_services(base: str, folder: Path) -> None:
    """The page's position is the services' (0-based, code points); the answers are
    `engine.services.Document`'s, as `tierline lsp` gives them."""
    from engine.services import Document, Position

    text = text_of(folder)
    line = next(i for i, t in enumerate(text.splitlines()) if t.startswith("tier micro"))
    at = {"line": line, "character": len("tier micro when foll")}
    hover = post(base, "/api/hover", {"path": SYNTHESIS, "text": text, "position": at}).json()
    expected = Document(text, SYNTHESIS).hover(Position(line, at["character"]))
    assert expected is not None and hover["contents"] == expected.markdown
    assert "followers" in hover["contents"]
    typed = text.replace("tier nano  when followers", "tier nano  when eng")
    end = {"line": line + 1, "character": len("tier nano  when eng")}
    found = post(base, "/api/complete", {"path": SYNTHESIS, "text": typed, "position": end})
    labels = [item["label"] for item in found.json()["items"]]
    assert "engagement" in labels and "engagement_rate" in labels
    nowhere = post(base, "/api/hover", {"path": SYNTHESIS, "text": text,
                                        "position": {"line": -1, "character": 0}})  # fmt: skip
    assert nowhere.status_code == 400


def test_completion_on_a_new_statement_after_the_last_example(base: str, folder: Path) -> None:
    """The page's editor keeps the indentation on Enter: after a file's last example, the
    next line starts indented, and `ti` there must still offer `tier` (it answered nothing)."""
    text = text_of(folder).rstrip("\n")
    assert text.splitlines()[-1].lstrip().startswith("expect")
    typed = text + "\n  ti"
    end = {"line": len(typed.splitlines()) - 1, "character": len("  ti")}
    found = post(base, "/api/complete", {"path": SYNTHESIS, "text": typed, "position": end})
    labels = [item["label"] for item in found.json()["items"]]
    assert {"tier", "label", "example"} <= set(labels), labels


def test_a_failing_example_says_why(base: str, folder: Path) -> None:
    text = text_of(folder).replace("high   at least 3.5%", "high   at least 5%")
    found = post(base, "/api/analyze", {"path": SYNTHESIS, "text": text}).json()
    failed = [r for r in found["examples"]["results"] if not r["passed"]]
    assert failed and failed[0]["expected"].startswith("micro")
    assert "explanation" in failed[0] and "engagement" in failed[0]["explanation"]


def test_paths_outside_the_folder_are_refused(base: str, folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.tiers"
    outside.write_text(text_of(folder), encoding="utf-8")
    (folder / "leak.tiers").symlink_to(outside)
    (folder / "inside.tiers").symlink_to(folder / "agency.tiers")
    try:
        for name, status in [
            ("../rules/agency.tiers", 403),
            (str(outside), 403),
            ("/etc/passwd", 403),
            ("leak.tiers", 403),
            ("agency.tiers/../../x.tiers", 403),
            ("notes.txt", 400),
        ]:
            answer = httpx.get(base + "/api/file", params={"path": name}, timeout=10)
            assert answer.status_code == status, name
            assert "ruleset synthesis" not in answer.text  # nothing of the file itself
        assert httpx.get(base + "/api/file", params={"path": "inside.tiers"}, timeout=10).is_success
        listed = [f["path"] for f in httpx.get(base + "/api/files", timeout=30).json()["files"]]
        assert "leak.tiers" not in listed
        refused = post(base, "/api/save", {"path": "leak.tiers", "text": "x", "digest": None})
        assert refused.status_code == 403 and outside.read_text() == text_of(folder)
    finally:
        (folder / "leak.tiers").unlink()
        (folder / "inside.tiers").unlink()


def test_the_sample_table_counts_as_tierline_classify(
    base: str, folder: Path, data: Path, tmp_path: Path
) -> None:
    found = post(
        base, "/api/table", {"path": SYNTHESIS, "text": text_of(folder), "sample": "data-0"}
    ).json()
    out = tmp_path / "tiers.csv"
    done = tierline("classify", str(folder / SYNTHESIS), str(data), "-o", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, encoding="utf-8") as handle:
        classified = list(csv.DictReader(handle))
    expected = Counter(row["tier"] for row in classified)
    assert found["rows"] == len(classified) == 300
    assert {t: n for t, n in found["tiers"].items() if n} == dict(expected)
    first = found["shown"][0]
    assert first["id"] == "acc0" and first["tier"] == classified[0]["tier"]
    assert first["reason"]
    labels = Counter(x for row in classified for x in row["labels"].split(";") if x)
    assert {k: v for k, v in found["labels"].items() if v} == dict(labels)
    explained = post(
        base,
        "/api/explain",
        {"path": SYNTHESIS, "text": text_of(folder), "account": first["account"]},
    ).json()
    assert explained["tier"] == first["tier"] and explained["explanation"]
    block = post(
        base,
        "/api/example",
        {
            "path": SYNTHESIS,
            "text": text_of(folder),
            "account": first["account"],
            "description": "acc0",
        },
    )
    extended = text_of(folder) + "\n" + block.json()["block"]
    checked = post(base, "/api/analyze", {"path": SYNTHESIS, "text": extended}).json()
    assert checked["ok"] and all(r["passed"] for r in checked["examples"]["results"])
    assert checked["examples"]["results"][-1]["description"] == "acc0"


def test_impact_agrees_with_tierline_diff(
    base: str, folder: Path, data: Path, tmp_path: Path
) -> None:
    edited = text_of(folder).replace("high   at least 3.5%", "high   at least 3%")
    edited = edited.replace("expect nano\n", "expect micro\n", 1)  # the 3.4% example moves
    found = post(base, "/api/impact", {"path": SYNTHESIS, "text": edited, "sample": "data-0"})
    assert found.status_code == 200, found.text
    new_file = tmp_path / "new.tiers"
    new_file.write_text(edited, encoding="utf-8")
    done = tierline(
        "diff", str(folder / SYNTHESIS), str(new_file), "--data", str(data), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    studio_matrix = {(m["from"], m["to"]): m["count"] for m in found.json()["matrix"]}
    assert studio_matrix == {(m["from"], m["to"]): m["count"] for m in cli["matrix"]}
    assert found.json()["changed"] > 0
    rules = post(base, "/api/impact/rules", {"path": SYNTHESIS, "text": edited}).json()
    assert rules["equivalent"] is False
    moved = {(c["from"], c["to"]) for c in rules["changes"] if "label" not in c}
    assert ("nano", "micro") in moved
    same = post(base, "/api/impact/rules", {"path": SYNTHESIS, "text": text_of(folder)}).json()
    assert same == {"equivalent": True}


def test_compare_with_the_folders_other_definitions(base: str, folder: Path) -> None:
    found = post(
        base, "/api/compare", {"path": SYNTHESIS, "text": text_of(folder), "sample": "data-0"}
    ).json()
    assert [r["name"] for r in found["rulesets"]] == ["synthesis", "agency"]
    assert found["rows"] == 300 and found["agreement"]["focus"]["tier"] == "micro"


def test_uploads_are_bounded_and_read(base: str, folder: Path, tmp_path: Path) -> None:
    big = b"id,followers\n" + b"x,1\n" * 300_000  # 1.2 MB, over --max-upload-mb 1
    refused = httpx.post(
        base + "/api/samples", content=big, headers={**HEADERS, "X-Filename": "big.csv"}, timeout=30
    )
    assert refused.status_code == 413
    assert refused.json()["error"] == "upload-too-large"
    assert "larger than the studio takes (1,048,576 bytes)" in refused.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(12):
            yield b"x,1\n" * 30_000

    streamed = httpx.post(
        base + "/api/samples",
        content=chunks(),
        headers={**HEADERS, "X-Filename": "big.csv"},
        timeout=30,
    )
    assert streamed.status_code == 413
    wrong = httpx.post(
        base + "/api/samples", content=b"x", headers={**HEADERS, "X-Filename": "a.exe"}, timeout=30
    )
    assert wrong.status_code == 415
    small = sample_csv(tmp_path / "mine.csv", 20).read_bytes().replace(b"followers", b"#Followers")
    took = httpx.post(
        base + "/api/samples",
        content=small,
        headers={**HEADERS, "X-Filename": "../../mine.csv"},
        timeout=30,
    )
    assert took.status_code == 200 and took.json()["name"] == "mine.csv"
    assert "#Followers" in took.json()["columns"]
    sample = took.json()["id"]
    missing = post(
        base, "/api/table", {"path": SYNTHESIS, "text": text_of(folder), "sample": sample}
    )
    assert missing.status_code == 422 and "followers" in missing.json()["message"]
    mapping = {"map": {"followers": "#Followers"}, "id": "id"}
    body = {"path": SYNTHESIS, "text": text_of(folder), "sample": sample, "mapping": mapping}
    mapped = post(base, "/api/table", body)
    assert mapped.status_code == 200 and mapped.json()["rows"] == 20
    remembered = post(base, "/api/mapping", {**body})
    assert remembered.json()["remembered"] == "synthesis.tiers.columns.json"
    opened = httpx.get(base + "/api/file", params={"path": SYNTHESIS, "sample": sample}, timeout=10)
    assert opened.json()["mapping"] == mapping
    (folder / "synthesis.tiers.columns.json").unlink()


def test_changing_requests_need_the_page_header(base: str, folder: Path) -> None:
    """A cross-site form cannot set a header: without it, nothing changes."""
    plain = httpx.post(base + "/api/save", json={"path": SYNTHESIS, "text": "x"}, timeout=10)
    assert plain.status_code == 400


def test_a_loopback_studio_answers_loopback_names_only(base: str) -> None:
    rebound = httpx.get(base + "/api/files", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 421


def save(base: str, text: str, digest: str | None, **extra: Any) -> httpx.Response:
    return post(base, "/api/save", {"path": SYNTHESIS, "text": text, "digest": digest, **extra})


def test_save_outside_git_records_a_history_line(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    with studio(folder) as base:
        opened = httpx.get(base + "/api/file", params={"path": SYNTHESIS}, timeout=10).json()
        edited = opened["text"].replace('version "2026-11-25"', 'version "2026-12-06"')
        failing = edited.replace("high   at least 3.5%", "high   at least 5%")
        gate = save(base, failing, opened["digest"], author="Anna")
        assert gate.status_code == 422 and "example(s) failed" in gate.json()["message"]
        assert text_of(folder) == opened["text"]
        done = save(base, edited, opened["digest"], author="Anna")
        assert done.status_code == 200, done.text
        assert text_of(folder) == edited
        lines = (folder / ".tierline-history.jsonl").read_text().splitlines()
        [record] = [json.loads(line) for line in lines]
        assert record["author"] == "Anna" and record["old_digest"] == opened["digest"]
        assert '+version "2026-12-06"' in record["diff"]
        assert record["new_digest"] == done.json()["new_digest"]
        stale = save(base, edited.replace("2026-12-06", "2026-12-07"), opened["digest"])
        assert stale.status_code == 409 and stale.json()["error"] == "conflict"
        assert text_of(folder) == edited
        history = httpx.get(base + "/api/history", params={"path": SYNTHESIS}, timeout=10)
        assert history.json()["saves"][0]["author"] == "Anna"
        assert not [p for p in folder.iterdir() if p.name.endswith(".saving")]


def test_save_in_git_is_a_commit_by_the_tokens_name(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS, git=True)
    tokens = tmp_path / "tokens"
    made = {}
    for name, roles in (("anna", "edit"), ("viktor", "view")):
        done = tierline("token", "new", name, "--roles", roles, "--add-to", str(tokens))
        assert done.returncode == 0, done.stderr
        made[name] = done.stdout.strip()
    with studio(folder, "--auth-tokens", str(tokens)) as base:
        assert httpx.get(base + "/api/files", timeout=10).status_code == 401
        bad = httpx.get(base + "/api/files", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert bad.status_code == 401
        viewer = {"Authorization": f"Bearer {made['viktor']}"}
        editor = {"Authorization": f"Bearer {made['anna']}"}
        opened = httpx.get(
            base + "/api/file", params={"path": SYNTHESIS}, headers=viewer, timeout=10
        ).json()
        edited = opened["text"].replace("medium at least 1%", "medium at least 1.5%")
        body = {"path": SYNTHESIS, "text": edited, "digest": opened["digest"], "author": "x"}
        forbidden = post(base, "/api/save", body, **viewer)
        assert forbidden.status_code == 403 and forbidden.json()["detail"] == {"role": "edit"}
        done = post(base, "/api/save", body, **editor)
        assert done.status_code == 200, done.text
        session = httpx.get(base + "/api/session", headers=viewer, timeout=10).json()
        assert session["roles"] == ["view"] and session["auth"] is True
    log = subprocess.run(
        ["git", "-C", str(folder), "log", "-1", "--format=%an%n%B"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert log.startswith("anna\n") and f"New-digest: {done.json()['new_digest']}" in log
    assert (
        done.json()["commit"]
        in subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    status = subprocess.run(
        ["git", "-C", str(folder), "status", "--porcelain"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert status == ""


def test_no_tokens_means_loopback_only(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, SYNTHESIS)
    done = tierline("studio", "--rules", str(folder), "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2 and "--auth-tokens" in done.stderr
    tokens = tmp_path / "tokens"
    tokens.write_text("anna classify sha256:" + "0" * 64 + "\n")
    refused = tierline("studio", "--rules", str(folder), "--auth-tokens", str(tokens))
    assert (
        refused.returncode == 2 and "unknown role classify; roles are view, edit" in refused.stderr
    )
    assert os.path.exists(folder / SYNTHESIS)


def _served_serial(base: str, ca: CA) -> int:
    """The serial of the certificate a new TLS connection to the studio is given."""
    port = int(base.rsplit(":", 1)[1])
    context = ssl.create_default_context(cadata=ca.pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def test_the_studio_over_tls_with_tokens(tmp_path: Path) -> None:
    """`--tls-cert/--tls-key`: the page and the API over HTTPS (the test CA trusted), no
    plain HTTP on the port, and a rotated certificate served to new connections."""
    folder = rules_folder(tmp_path, SYNTHESIS)
    tokens = tmp_path / "tokens"
    made = tierline("token", "new", "anna", "--roles", "view", "--add-to", str(tokens))
    assert made.returncode == 0, made.stderr
    bearer = {"Authorization": f"Bearer {made.stdout.strip()}"}
    ca = CA()
    first = ca.server()
    cert, key = first.write(tmp_path / "pki", "studio")
    trust = ssl.create_default_context(cadata=ca.pem.decode())
    flags = ["--auth-tokens", str(tokens), "--tls-cert", str(cert), "--tls-key", str(key)]
    with studio(folder, *flags, verify=trust) as base:
        assert base.startswith("https://")
        page = httpx.get(base + "/", verify=trust, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        files = httpx.get(base + "/api/files", headers=bearer, verify=trust, timeout=10)
        assert files.status_code == 200, files.text
        assert SYNTHESIS in files.text
        assert httpx.get(base + "/api/files", verify=trust, timeout=10).status_code == 401
        with pytest.raises(httpx.HTTPError):  # no plaintext on the TLS port
            httpx.get(base.replace("https://localhost", "http://127.0.0.1") + "/", timeout=5)
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA
            httpx.get(base + "/", timeout=5)
        assert _served_serial(base, ca) == first.serial
        rotated = ca.server()
        key.write_bytes(rotated.key)
        cert.write_bytes(rotated.cert)
        assert wait_until(lambda: _served_serial(base, ca) == rotated.serial, 20)
        again = httpx.get(base + "/api/files", headers=bearer, verify=trust, timeout=10)
        assert again.status_code == 200


def test_beyond_loopback_the_studio_needs_tls_or_insecure(tmp_path: Path) -> None:
    """Bearer tokens must not cross the network in plaintext: a non-loopback host without
    TLS is refused at start with the fix; `--insecure` (a proxy does TLS) and TLS files
    pass that check (the runs below stop at a later, deliberate error, binding nothing)."""
    folder = rules_folder(tmp_path, SYNTHESIS)
    tokens = tmp_path / "tokens"
    made = tierline("token", "new", "anna", "--roles", "edit", "--add-to", str(tokens))
    assert made.returncode == 0, made.stderr
    wide = ["studio", "--rules", str(folder), "--host", "0.0.0.0", "--port", "0"]
    refused = tierline(*wide, "--auth-tokens", str(tokens))
    assert refused.returncode == 2
    assert "plain HTTP beyond this machine" in refused.stderr
    assert "--tls-cert FILE --tls-key FILE" in refused.stderr and "--insecure" in refused.stderr
    wrong_roles = tmp_path / "wrong"
    wrong_roles.write_text("anna classify sha256:" + "0" * 64 + "\n")
    insecure = tierline(*wide, "--auth-tokens", str(wrong_roles), "--insecure")
    assert insecure.returncode == 2 and "unknown role classify" in insecure.stderr
    missing = tmp_path / "missing"
    with_tls = tierline(*wide, "--auth-tokens", str(tokens), "--tls-cert", str(missing),
                        "--tls-key", str(missing))  # fmt: skip
    assert with_tls.returncode == 2 and "cannot read" in with_tls.stderr
    assert "plain HTTP" not in with_tls.stderr
    half = tierline(*wide, "--auth-tokens", str(tokens), "--tls-cert", str(missing))
    assert half.returncode == 2 and "--tls-cert and --tls-key go together" in half.stderr


def test_a_finding_of_the_analysis_blocks_the_save_not_the_sample(base: str, folder: Path) -> None:
    """Tiers that overlap under `policy unique` are an error of the analysis: the page
    still shows what the text does to the sample (those rows refused), never saves it."""
    text = text_of(folder).replace("policy first", "policy unique")
    checked = post(base, "/api/analyze", {"path": SYNTHESIS, "text": text}).json()
    assert checked["ok"] is False
    assert "overlapping-tiers" in {d["code"] for d in checked["diagnostics"]}
    table = post(base, "/api/table", {"path": SYNTHESIS, "text": text, "sample": "data-0"})
    assert table.status_code == 200 and table.json()["tiers"].get("(error)", 0) > 0
    opened = httpx.get(base + "/api/file", params={"path": SYNTHESIS}, timeout=10).json()
    refused = post(base, "/api/save", {"path": SYNTHESIS, "text": text, "digest": opened["digest"]})
    assert refused.status_code == 422 and refused.json()["error"] == "gate"
    assert text_of(folder) == opened["text"]


def test_only_the_last_uploads_are_kept(tmp_path: Path) -> None:
    """Each dropped file is bounded, and so is their number: the oldest go first."""
    from tierline.studio.samples import KEPT_UPLOADS

    folder = rules_folder(tmp_path, SYNTHESIS)
    small = sample_csv(tmp_path / "a.csv", 5).read_bytes()
    with studio(folder) as base:
        ids = []
        for i in range(KEPT_UPLOADS + 2):
            named = {**HEADERS, "X-Filename": f"s{i}.csv"}
            sent = httpx.post(base + "/api/samples", content=small, headers=named, timeout=30)
            assert sent.status_code == 200, sent.text
            ids.append(sent.json()["id"])
        listed = [s["id"] for s in httpx.get(base + "/api/session", timeout=10).json()["samples"]]
        assert listed == ids[2:]
        gone = post(
            base, "/api/table", {"path": SYNTHESIS, "text": text_of(folder), "sample": ids[0]}
        )
        assert gone.status_code == 404


REACH = """ruleset reach
version "1"
policy first
input followers: count
input engagement_rate: percent
let engaged = followers * engagement_rate
tier wide when engaged at least 2000
tier some when followers at least 5k
otherwise none
label loud when engaged above 5000
"""


def test_impact_follows_the_saved_file_and_its_refused_rows(tmp_path: Path) -> None:
    """The saved version's side of the impact is computed once per saved digest and kept
    beside the staged rows (samples.Staging): after the file changes on disk, the
    impact counts against the new saved version, and rows the saved version refuses
    (unreadable cells, a negative count) stay refused, with a let and a label in play.
    Every answer equals `tierline diff --data` on the same files."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "reach.tiers").write_text(REACH, encoding="utf-8")
    data = sample_csv(tmp_path / "accounts.csv", 400)
    with open(data, "a", encoding="utf-8") as handle:  # rows no version classifies
        handle.write("bad1,-5,3%,,x\nbad2,lots,3%,,x\nbad3,12k,,,x\n")

    def diff_cli(old: str, new: str) -> dict[tuple[str, str], int]:
        (tmp_path / "old.tiers").write_text(old, encoding="utf-8")
        (tmp_path / "new.tiers").write_text(new, encoding="utf-8")
        done = tierline(
            "diff", str(tmp_path / "old.tiers"), str(tmp_path / "new.tiers"),
            "--data", str(data), "--format", "json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return {(m["from"], m["to"]): m["count"] for m in json.loads(done.stdout)["matrix"]}

    with studio(folder, "--data", str(data)) as base:
        for old, new in [
            (REACH, REACH.replace("at least 2000", "at least 1500")),
            (REACH, REACH.replace("at least 2000", "at least 3100")),  # the same saved side
            (REACH.replace("5k", "6k"), REACH.replace("above 5000", "above 4000")),  # saved anew
            (REACH, REACH.replace("at least 2000", "at least 1500")),  # the first saved again
        ]:
            (folder / "reach.tiers").write_text(old, encoding="utf-8")
            body = {"path": "reach.tiers", "text": new, "sample": "data-0"}
            found = post(base, "/api/impact", body)
            assert found.status_code == 200, found.text
            answer = found.json()
            shown = {(m["from"], m["to"]): m["count"] for m in answer["matrix"]}
            assert shown == diff_cli(old, new)
            assert answer["rows"] == 403 and shown[("(error)", "(error)")] == 3
            assert answer["changed"] + answer["relabelled"] > 0
            assert answer["digests"] == {
                "old": Source(old, "x").digest,
                "new": Source(new, "x").digest,
            }
