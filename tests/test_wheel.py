"""The wheel works alone: built from the repository, installed into a fresh virtual
environment outside it, its `tierline` command checks rules, classifies a CSV and serves.

The fresh environment takes its third-party dependencies from the test's own environment
(a `.pth` line, so nothing is downloaded), but tierline itself only from the wheel: a module
that still reached into the repository (a template read from a source path, test code, a
`python -m` of a package the wheel lacks) fails here.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import ROOT
from tests.real_server import free_port

# Nothing of the repository on the import path: tierline comes from the wheel alone.
OUTSIDE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding tierline from its wheel; yields its bin folder."""
    where = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(where / "dist"), str(ROOT)],
        env=OUTSIDE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (where / "dist").glob("tierline-*.whl")
    venv = where / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    (site_packages / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-deps", "--no-index", "-q", str(wheel)],
        env=OUTSIDE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    yield venv / "bin"
    shutil.rmtree(where, ignore_errors=True)


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "tierline"), *args],
        cwd=cwd, env=OUTSIDE, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_the_wheel_installs_only_the_products_packages(installed: Path) -> None:
    (wheel,) = installed.parent.parent.glob("dist/tierline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"engine", "server", "tierline"}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "tierline/reports/page.html.j2" in names and "engine/language/grammar.lark" in names
    assert not any(n.startswith("tierline/") and "testing" in n for n in names)


def test_tierline_checks_and_classifies_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "rules" / "synthesis.tiers", tmp_path / "synthesis.tiers")
    where = subprocess.run(
        [str(installed / "python"), "-c", "import tierline, engine; print(tierline.__file__)"],
        cwd=tmp_path, env=OUTSIDE, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(installed.parent)), where.stdout
    checked = _run(installed, tmp_path, "check", "synthesis.tiers")
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "accounts.csv").write_text(
        "id,followers,engagement_rate,topics,platform\n"
        "a,45k,4.2%,fashion,instagram\n"
        "b,2M,1%,tech,tiktok\n"
    )
    classified = _run(
        installed, tmp_path, "classify", "synthesis.tiers", "accounts.csv", "-o", "out.csv"
    )
    assert classified.returncode == 0, classified.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0].startswith("id,tier") and lines[1].startswith("a,micro")
    assert lines[2].startswith("b,mega")


def test_tierline_serves_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "synthesis.tiers", rules / "synthesis.tiers")
    port = free_port()
    process = subprocess.Popen(
        [str(installed / "tierline"), "serve", "--rules", str(rules), "--port", str(port),
         "--decision-log", "off"],
        cwd=tmp_path, env=OUTSIDE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        status = None
        deadline = time.monotonic() + 60
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    break
                except grpc.RpcError:
                    time.sleep(0.2)
        assert status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            process.kill()


def test_the_studio_serves_its_page_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    """The built page ships as package data: a user needs no Node.js and no repository."""
    import httpx

    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "synthesis.tiers", rules / "synthesis.tiers")
    port = free_port()
    process = subprocess.Popen(
        [str(installed / "tierline"), "studio", "--rules", str(rules), "--port", str(port)],
        cwd=tmp_path, env=OUTSIDE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        page = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                page = httpx.get(base + "/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200, process.stderr
        script = httpx.get(base + "/static/studio.js", timeout=10)
        assert (
            script.status_code == 200
            and script.content
            == (ROOT / "tierline" / "studio" / "static" / "studio.js").read_bytes()
        )
        assert httpx.get(base + "/help/en", timeout=10).text.startswith("# Writing")
        files = httpx.get(base + "/api/files", timeout=30).json()["files"]
        assert [f["path"] for f in files] == ["synthesis.tiers"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
