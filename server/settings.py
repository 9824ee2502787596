"""Server settings: command-line flags over TIERLINE_* environment variables over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    rules: Path = Field(Path("rules"), description="folder of *.tiers files to serve")
    host: str = "127.0.0.1"
    port: int = Field(50051, ge=0, le=65535, description="0 picks a free port")
    default_ruleset: str | None = Field(
        None,
        description="for requests that name none (unset: 'synthesis' if served, else the "
        "only ruleset, else none)",
    )
    metrics_port: int | None = Field(None, ge=0, le=65535)
    http_port: int | None = Field(
        None, ge=0, le=65535, description="serve HTTP/JSON on this port too (0: a free one)"
    )
    metrics_host: str = Field("127.0.0.1", description="where metrics listen: loopback only")
    decision_log: str = Field("-", description="file path, '-' for stdout, 'off' for none")
    archive: Path | None = Field(
        None, description="rule sources by digest (default: beside the log)"
    )
    log_signing_key: Path | None = Field(
        None, description="Ed25519 private key (PEM): chain and sign the decision log's lines"
    )
    log_checkpoint_seconds: float = Field(
        10.0, gt=0, le=10, description="with a signing key: the longest time between checkpoints"
    )
    strict_fields: bool = Field(False, description="refuse fields the rules do not declare")
    max_batch: int = Field(10_000, ge=1, description="accounts per ClassifyBatch call")
    max_column_rows: int = Field(1_000_000, ge=1, description="rows per ClassifyColumns call")
    max_message_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    workers: int = Field(16, ge=1, description="threads for calls other than streams")
    max_streams: int = Field(256, ge=1, description="ClassifyStream calls open at once")
    max_validations: int = Field(4, ge=1, description="ValidateRules calls admitted at once")
    validate_workers: int = Field(1, ge=1, description="processes that validate rule files")
    grace_seconds: float = Field(10.0, ge=0, description="time for in-flight calls at shutdown")
    watch: bool = Field(True, description="reload rule files when they change")
    debounce_ms: int = Field(300, ge=0, description="quiet time before a changed file is loaded")
    start_wait_seconds: float = Field(
        30.0, ge=0, description="longest wait for the rules before listening (the rest load on)"
    )
    mask_fields: list[str] = Field(default_factory=list, description="logged as '***'")
    hash_fields: list[str] = Field(default_factory=list, description="logged as a keyed hash")
    hash_key: str = Field("", description="secret for hash_fields (HMAC-SHA256)")
    log_queue: int = Field(
        64, ge=1, description="decision-log messages (of up to 1,000 decisions) waiting"
    )
    log_when_full: Literal["block", "drop"] = "block"
    log_wait_seconds: float = Field(
        5.0, ge=0, description="block: how long a call waits for room before UNAVAILABLE"
    )
    solver_ms: int = Field(
        1_000, ge=1, description="the analysis's budget per solver query, on load and validate"
    )
    tls_cert: Path | None = Field(None, description="the server's certificate chain (PEM)")
    tls_key: Path | None = Field(None, description="the server certificate's private key (PEM)")
    tls_client_ca: Path | None = Field(
        None, description="mutual TLS: clients must present a certificate from this CA (PEM)"
    )
    auth_tokens: Path | None = Field(
        None, description="callers by bearer token: NAME ROLE[,ROLE...] sha256:HEX a line"
    )
    insecure: bool = Field(
        False, description="allow plaintext on addresses other than loopback (TLS elsewhere)"
    )

    @classmethod
    def from_environment(cls, **flags: Any) -> Settings:
        """Flags over TIERLINE_* variables over defaults (mypy sees no environment)."""
        return cls(**flags)

    @model_validator(mode="after")
    def _hashing_needs_a_key(self) -> Settings:
        if self.hash_fields and not self.hash_key:
            raise ValueError(
                "hash_fields need a secret: set TIERLINE_HASH_KEY (without one, anybody can "
                "hash a guess and find the value)"
            )
        return self

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both files: give --tls-cert FILE and --tls-key FILE")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError(
                "--tls-client-ca (mutual TLS) needs TLS: give --tls-cert FILE and --tls-key FILE"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def archive_dir(self) -> Path:
        if self.archive is not None:
            return self.archive
        if self.decision_log in ("-", "off"):
            return Path("archive").absolute()  # said in full: which folder is it?
        return Path(self.decision_log).resolve().parent / "archive"
