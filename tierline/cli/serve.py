"""`tierline serve`: the gRPC service (`server/`), with settings from flags, then
`TIERLINE_*` variables, then defaults."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tierline.cli.common import Subparsers, UsageError, settings_problems, usage


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("serve", help="serve the rulesets over gRPC")
    parser.add_argument("--rules", type=Path, help="folder of *.tiers files (default rules/)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 50051; 0 picks a free one)")
    parser.add_argument("--default-ruleset", help="ruleset for requests that name none")
    parser.add_argument("--decision-log", help="file, - for stdout (default), off for none")
    parser.add_argument("--archive", type=Path, help="where rule sources are kept by digest")
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument("--metrics-host", help="address for metrics (default 127.0.0.1)")
    parser.add_argument(
        "--http-port",
        type=int,
        metavar="N",
        help="also serve HTTP/JSON on this port (same TLS, callers, roles and log)",
    )
    parser.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        default=None,
        help="do not reload rule files when they change",
    )
    parser.add_argument("--log-when-full", choices=("block", "drop"))
    parser.add_argument(
        "--log-signing-key",
        type=Path,
        metavar="FILE",
        help="Ed25519 private key (PEM, `tierline key new`): chain and sign the decision log",
    )
    parser.add_argument(
        "--log-checkpoint-seconds",
        type=float,
        metavar="S",
        help="with a signing key: the longest time between signed checkpoints (default 10)",
    )
    parser.add_argument(
        "--solver-ms",
        type=int,
        metavar="MS",
        help="the analysis's budget per solver query (default 1000)",
    )
    security = parser.add_argument_group(
        "security", "TLS, callers and roles (see README, 'Run it in production')"
    )
    security.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="serve TLS: certificate chain (PEM)"
    )
    security.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)"
    )
    security.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="mutual TLS: clients need a certificate from this CA; its name is the caller",
    )
    security.add_argument(
        "--auth-tokens",
        type=Path,
        metavar="FILE",
        help="callers by bearer token and their roles (lines from `tierline token new`)",
    )
    security.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow plaintext beyond loopback (only when a proxy or mesh does TLS)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # gRPC's own lines (a failed TLS handshake: INFO) are not JSON events; before its import
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    # imported here, not above: the other subcommands start without loading gRPC
    from pydantic import ValidationError

    from server.app import serve as run_server
    from server.archive import StartRefused
    from server.logs import configure_logging
    from server.settings import Settings

    flags = {
        key: value
        for key in (
            "rules",
            "host",
            "port",
            "default_ruleset",
            "decision_log",
            "archive",
            "metrics_port",
            "metrics_host",
            "http_port",
            "watch",
            "log_when_full",
            "log_signing_key",
            "log_checkpoint_seconds",
            "solver_ms",
            "tls_cert",
            "tls_key",
            "tls_client_ca",
            "auth_tokens",
            "insecure",
        )
        if (value := getattr(args, key)) is not None
    }
    try:
        settings = Settings.from_environment(**flags)
    except ValidationError as error:
        settings_problems(error, "tierline serve")
        return 2
    if not settings.rules.is_dir():
        return usage(UsageError(f"no such rules folder: {settings.rules}"))
    configure_logging()
    try:
        return run_server(settings)
    except StartRefused as refused:  # a log or archive that cannot be written: the fix
        print(f"tierline serve: {refused}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"tierline serve: {error}", file=sys.stderr)
        return 1
