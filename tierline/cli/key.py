"""`tierline key new`: an Ed25519 key pair for signing the decision log.

The private key is written with mode 0600 and never over an existing file (a
key that signed a log must not vanish under a typo); keep it apart from the
log, and give the public key to whoever verifies (`tierline audit verify`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.log_chain import key_id
from tierline.cli.common import Subparsers, UsageError, usage


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("key", help="a key pair for signing the decision log")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="write a new Ed25519 key pair (PEM)")
    new.add_argument("--private", required=True, type=Path, help="the private key (mode 0600)")
    new.add_argument("--public", required=True, type=Path, help="the public key")
    new.set_defaults(run=run)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never replace it) with `mode`, and write `data`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def run(args: argparse.Namespace) -> int:
    private: Path = args.private
    public: Path = args.public
    if private.resolve() == public.resolve():
        return usage(UsageError("--private and --public must be two files"))
    for path in (private, public):
        if path.exists():
            print(f"tierline key: {path} exists; a key is never overwritten", file=sys.stderr)
            return 1
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        _write(private, private_pem, 0o600)
        try:
            _write(public, public_pem, 0o644)
        except OSError:
            private.unlink()  # half a pair is of no use
            raise
    except OSError as error:
        print(f"tierline key: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"key {key_id(key.public_key())}: private {private} (0600), public {public}")
    return 0
