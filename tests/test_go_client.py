"""Issue 26: a Go team's client, built from `proto/` alone, calls the real server over
TLS with a bearer token and gets the tier.

The Go code is generated here with protoc and Debian's `protoc-gen-go` and
`protoc-gen-go-grpc`, under the proto's own `go_package` (no `--go_opt=M…` for our
file), and built with Debian's Go and its gRPC library (`golang-google-grpc-dev`) in
GOPATH mode: the Go module proxy is not reachable from this machine or CI, and GOPROXY
is off so that the build can only use what Debian installed. `.ci/run` installs the
packages and sets TIERLINE_REQUIRE_GO, so CI fails instead of skipping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.certs import CA
from tests.conftest import RULES
from tests.real_server import ROOT, start_serve
from tests.test_faults import stop
from tests.test_security import new_token

CLIENT = Path(__file__).resolve().parent / "go_client"
GOCODE = Path("/usr/share/gocode")
TOOLS = ("go", "protoc", "protoc-gen-go", "protoc-gen-go-grpc")
IMPORT = "tierline.dev/gen/go"  # the go_package of proto/tierline/v1/classifier.proto
# protoc 3.21's timestamp.proto names the APIv2 package; Debian's gRPC 1.33 goes with
# golang/protobuf 1.3, whose Timestamp this is (a well-known type, not our file)
TIMESTAMP = "Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp"
BUILD_S = 300


def _missing() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not (GOCODE / "src/google.golang.org/grpc").is_dir():
        missing.append("golang-google-grpc-dev")
    return missing


@pytest.fixture(scope="module")
def classify_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go client, generated and built once for the module."""
    missing = _missing()
    if missing:
        if os.environ.get("TIERLINE_REQUIRE_GO"):
            pytest.fail(f"TIERLINE_REQUIRE_GO is set and these are missing: {missing}")
        pytest.skip(f"no Go toolchain for the Go client: {missing}")
    gopath = tmp_path_factory.mktemp("gopath")
    package = gopath / "src" / IMPORT
    package.mkdir(parents=True)
    generated = subprocess.run(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"--go_out={package}",
            f"--go_opt=paths=source_relative,{TIMESTAMP}",
            f"--go-grpc_out={package}",
            "--go-grpc_opt=paths=source_relative",
            str(ROOT / "proto/tierline/v1/classifier.proto"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert generated.returncode == 0, generated.stderr
    assert (package / "tierline/v1/classifier.pb.go").is_file()
    assert "package tierlinev1" in (package / "tierline/v1/classifier_grpc.pb.go").read_text()
    shutil.copytree(CLIENT / "cmd", package / "cmd")
    binary = gopath / "classify"
    built = subprocess.run(
        ["go", "build", "-o", str(binary), f"{IMPORT}/cmd/classify"],
        capture_output=True,
        text=True,
        timeout=BUILD_S,
        env={
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": f"{gopath}:{GOCODE}",
            "GOPROXY": "off",
            "GOFLAGS": "",
        },
    )
    assert built.returncode == 0, built.stderr
    return binary


@pytest.mark.slow
def test_a_go_client_built_from_the_proto_classifies_over_tls_with_a_token(
    classify_binary: Path, tmp_path: Path
) -> None:
    ca = CA()
    cert, key = ca.server().write(tmp_path / "pki", "server")
    ca_file = ca.write(tmp_path / "pki" / "ca.crt")
    tokens = tmp_path / "callers"
    token, _ = new_token("go-team", "classify", "--add-to", str(tokens))
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    wrong = tmp_path / "wrong-token"
    wrong.write_text("tl_" + "x" * 43)
    other_ca = CA("another CA").write(tmp_path / "other-ca.crt")
    log_path = tmp_path / "decisions.log"
    process, port = start_serve(
        RULES,
        "--no-watch",
        *("--tls-cert", str(cert), "--tls-key", str(key), "--auth-tokens", str(tokens)),
        *("--decision-log", str(log_path)),
    )
    try:
        common = [str(classify_binary), "-addr", f"127.0.0.1:{port}", "-ca", str(ca_file)]
        good = subprocess.run(
            [*common, "-token-file", str(token_file), "-want", "micro"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        refused = subprocess.run(
            [*common, "-token-file", str(wrong), "-want", "micro"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        untrusted = subprocess.run(  # the server's CA is not the one given: no handshake
            [*common[:-1], str(other_ca), "-token-file", str(token_file), "-dial-timeout", "2s"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        code, errors = stop(process, 20)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("tier=micro decision_id="), good.stdout
    assert refused.returncode == 1
    assert "Classify: Unauthenticated: the token is not known to this server" in refused.stderr
    assert untrusted.returncode == 1
    assert "certificate signed by unknown authority" in untrusted.stderr, untrusted.stderr
    assert code == 0, errors
    assert token not in errors
    decisions = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(d["caller"], d["request_id"], d["tier"]) for d in decisions] == [
        ("go-team", "go-client", "micro")
    ]
    assert good.stdout.split()[1] == f"decision_id={decisions[0]['decision_id']}"
