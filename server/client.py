"""A small typed client: plain dicts in, decisions as dicts out.

from server.client import Client
with Client("127.0.0.1:50051") as client:
    d = client.classify({"followers": 45_000, "engagement_rate": 0.042,
                         "topics": ["fashion"], "platform": "instagram"})
    d["tier"], d["decision_id"]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from server.convert import to_value
from server.pb import pb, pb_grpc

VIEWS = {"basic": pb.DECISION_VIEW_BASIC, "full": pb.DECISION_VIEW_FULL}


def account_message(values: Mapping[str, Any], account_id: str = "") -> pb.Account:
    """A plain dict as an Account; an "id" key becomes the account id."""
    attributes = {
        k: to_value(v if not isinstance(v, list | tuple) else frozenset(v))
        for k, v in values.items()
        if k != "id"
    }
    return pb.Account(id=str(values.get("id", account_id)), attributes=attributes)


def decision_dict(message: pb.Decision) -> dict[str, Any]:
    out = MessageToDict(message, preserving_proto_field_name=True)
    out["tier"] = message.tier if message.has_tier else None
    out.setdefault("labels", [])
    return out


def result_dict(response: pb.ClassifyResponse) -> dict[str, Any]:
    if response.WhichOneof("result") == "error":
        return {"account_id": response.account_id, "error": MessageToDict(response.error)}
    return decision_dict(response.decision)


@dataclass
class ColumnsAnswer:
    """ClassifyColumns' answer: the outcome as an Arrow table, and about the batch."""

    table: Any  # pyarrow.Table: id, decision_id, tier, labels, rule, error
    ruleset: str
    version: str
    digest: str
    decided: int
    failed: int
    ignored_columns: list[str]
    batch_id: str


class Client:
    """`tls_ca` (PEM bytes) makes the channel TLS, trusting that CA; `tls_cert` and
    `tls_key` add a client certificate (mutual TLS); `token` is sent as
    `authorization: Bearer TOKEN` with every call."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        timeout: float = 10.0,
        token: str | None = None,
        tls_ca: bytes | None = None,
        tls_cert: bytes | None = None,
        tls_key: bytes | None = None,
    ):
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if tls_ca is not None or tls_cert is not None:
            credentials = grpc.ssl_channel_credentials(tls_ca, tls_key, tls_cert)
            self.channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.stub = pb_grpc.ClassifierStub(self.channel)
        self.timeout = timeout
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def classify(
        self,
        account: Mapping[str, Any],
        *,
        ruleset: str = "",
        digest: str = "",
        view: str = "basic",
        request_id: str = "",
    ) -> dict[str, Any]:
        response = self.stub.Classify(
            pb.ClassifyRequest(
                ruleset=ruleset,
                digest=digest,
                account=account_message(account),
                view=VIEWS[view],
                request_id=request_id,
            ),
            timeout=self.timeout,
            metadata=self.metadata,
        )
        return decision_dict(response.decision)

    def classify_batch(
        self, accounts: Iterable[Mapping[str, Any]], *, ruleset: str = "", view: str = "basic"
    ) -> list[dict[str, Any]]:
        request = pb.ClassifyBatchRequest(
            ruleset=ruleset, accounts=[account_message(a) for a in accounts], view=VIEWS[view]
        )
        return [
            result_dict(r)
            for r in self.stub.ClassifyBatch(
                request, timeout=self.timeout, metadata=self.metadata
            ).results
        ]

    def classify_stream(
        self, accounts: Iterable[Mapping[str, Any]], *, ruleset: str = "", view: str = "basic"
    ) -> Iterator[dict[str, Any]]:
        requests = (
            pb.ClassifyRequest(ruleset=ruleset, account=account_message(a), view=VIEWS[view])
            for a in accounts
        )
        for response in self.stub.ClassifyStream(requests, metadata=self.metadata):
            yield result_dict(response)

    def classify_columns(
        self,
        table: Any,
        *,
        ruleset: str = "",
        digest: str = "",
        id_column: str = "id",
        request_id: str = "",
        strict: bool = False,
    ) -> ColumnsAnswer:
        """Classify an Arrow table (or anything `pyarrow.table()` takes: a pandas or
        polars DataFrame through its Arrow export, a dict of lists): one row per account,
        an id column and one column per input. The answer's `table` has the columns id,
        decision_id, tier, labels, rule and error, in row order."""
        import pyarrow as pa  # only callers of this method need pyarrow

        if not isinstance(table, pa.Table):
            table = table.to_arrow() if hasattr(table, "to_arrow") else pa.table(table)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        response = self.stub.ClassifyColumns(
            pb.ClassifyColumnsRequest(
                ruleset=ruleset,
                digest=digest,
                arrow_stream=sink.getvalue().to_pybytes(),
                request_id=request_id,
                strict=strict,
                id_column=id_column,
            ),
            timeout=self.timeout,
            metadata=self.metadata,
        )
        with pa.ipc.open_stream(pa.py_buffer(response.arrow_stream)) as reader:
            outcome = reader.read_all()
        return ColumnsAnswer(
            table=outcome,
            ruleset=response.ruleset,
            version=response.version,
            digest=response.digest,
            decided=response.decided,
            failed=response.failed,
            ignored_columns=list(response.ignored_columns),
            batch_id=response.batch_id,
        )

    def rulesets(self) -> list[dict[str, Any]]:
        response = self.stub.ListRulesets(
            pb.ListRulesetsRequest(), timeout=self.timeout, metadata=self.metadata
        )
        return [MessageToDict(r, preserving_proto_field_name=True) for r in response.rulesets]

    def validate(self, source: str, file_name: str = "candidate.tiers") -> dict[str, Any]:
        response = self.stub.ValidateRules(
            pb.ValidateRulesRequest(source=source, file_name=file_name),
            timeout=self.timeout,
            metadata=self.metadata,
        )
        return MessageToDict(response, preserving_proto_field_name=True)
