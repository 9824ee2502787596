"""The interceptor that lets a call in, or refuses it before the servicer sees it.

Which role each method needs (DESIGN "Security"): the Classify calls need
`classify`; ListRulesets `classify` or `read` (a replica's names and digests,
which a client pinning digests and an operator rolling out rules both need);
GetRuleset, whose answer holds rule sources, `read`; ValidateRules, which runs
the solver, `validate`. Health is open (probes carry no credentials); reflection
needs an authenticated caller, any role. A method of the service that is not in
the table is refused to everyone: a new method is closed until it is given a role.

Who is calling: a bearer token (`authorization: Bearer T`) when the server has
`--auth-tokens`, else, under mutual TLS, the client certificate's name. A token,
when sent, decides (a bad one is refused even with a good certificate). A
certificate's roles are its `cert` line in the tokens file; with mutual TLS and no
tokens file, every certificate the client CA signed has every role (the CA is the
policy). UNAUTHENTICATED when no caller is established (no, malformed or unknown
token), PERMISSION_DENIED naming the role when the caller lacks it. Each refusal
is counted by method and reason, and said in a `call_refused` event (at most
`EVENTS_PER_S` a second; the rest are counted in the next event): never with the
token. The caller's name is bound for the call (`caller`), so that its decision-log
lines name it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
import structlog

from server.logs import get_logger
from server.metrics import Metrics
from server.security.callers import ROLES, Caller, CallersFile
from server.security.tls import certificate_names

log = get_logger("tierline.security")

CLASSIFIER = "/tierline.v1.Classifier/"
METHOD_ROLES: dict[str, tuple[str, ...]] = {
    f"{CLASSIFIER}Classify": ("classify",),
    f"{CLASSIFIER}ClassifyBatch": ("classify",),
    f"{CLASSIFIER}ClassifyStream": ("classify",),
    f"{CLASSIFIER}ClassifyColumns": ("classify",),
    f"{CLASSIFIER}ListRulesets": ("classify", "read"),
    f"{CLASSIFIER}GetRuleset": ("read",),
    f"{CLASSIFIER}ValidateRules": ("validate",),
}
OPEN = ("/grpc.health.v1.Health/",)
ANY_CALLER = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")
MAX_TOKEN_CHARS = 4096  # longer authorization metadata is malformed, and never hashed
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII, as RFC 6750's b64token and more
EVENTS_PER_S = 10

MISSING = (
    "this call needs a caller: send the metadata 'authorization: Bearer TOKEN' "
    "(a token from `tierline token new`)"
)
MALFORMED = "the authorization metadata must be one value, 'Bearer TOKEN'"
UNKNOWN = "the token is not known to this server (revoked, mistyped, or another server's)"
NO_CERTIFICATE = "this call needs a client certificate from the server's client CA"


class Refusals:
    """`call_refused` events, at most `EVENTS_PER_S` a second; the rest counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._second = 0
        self._said = 0
        self._unsaid = 0

    def say(self, **event: Any) -> None:
        now = int(time.monotonic())
        with self._lock:
            if now != self._second:
                self._second, self._said = now, 0
            if self._said >= EVENTS_PER_S:
                self._unsaid += 1
                return
            self._said += 1
            unsaid, self._unsaid = self._unsaid, 0
        log.warning("call_refused", **event, **({"not_said_since": unsaid} if unsaid else {}))


class Guard(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Authentication and roles for every method but health."""

    def __init__(self, callers: CallersFile | None, mutual_tls: bool, metrics: Metrics):
        self.callers = callers
        self.mutual_tls = mutual_tls
        self.metrics = metrics
        self.refusals = Refusals()

    def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        method: str = details.method
        if handler is None or method.startswith(OPEN):
            return handler
        if method.startswith(ANY_CALLER):
            needs: tuple[str, ...] | None = ()
        else:
            needs = METHOD_ROLES.get(method)  # None: no role opens it
        metadata = details.invocation_metadata or ()
        authorization = [str(v) for k, v in metadata if k == "authorization"]
        admit = self._admission(method, needs, authorization)
        return _wrapped(handler, admit)

    def check(self, method: str, authorization: list[str], context: grpc.ServicerContext) -> None:
        """The same admission for a call that came another way (HTTP/JSON, `server/http/`):
        returns with the caller bound, or aborts through `context` as a gRPC call would."""
        needs = () if method.startswith(ANY_CALLER) else METHOD_ROLES.get(method)
        self._admission(method, needs, authorization)(context)

    def _admission(
        self, method: str, needs: tuple[str, ...] | None, authorization: list[str]
    ) -> Callable[[grpc.ServicerContext], None]:
        """What runs first in the call: establish the caller, check the role, bind it."""
        short = method.rsplit("/", 1)[-1]

        def admit(context: grpc.ServicerContext) -> None:
            caller, why, message = self._identify(authorization, context)
            if caller is None:
                self._refuse(context, short, why, None, grpc.StatusCode.UNAUTHENTICATED, message)
            assert caller is not None
            if needs is None or (needs and caller.roles.isdisjoint(needs)):
                denied = grpc.StatusCode.PERMISSION_DENIED
                message = _denied(caller, short, needs)
                self._refuse(context, short, "missing_role", caller, denied, message)
            structlog.contextvars.bind_contextvars(caller=caller.name)

        return admit

    def _identify(
        self, authorization: list[str], context: grpc.ServicerContext
    ) -> tuple[Caller | None, str, str]:
        """(the caller, "", "") or (None, reason, message)."""
        if self.callers is not None and authorization:
            token = _bearer(authorization)
            if token is None:
                return None, "malformed_token", MALFORMED
            caller = self.callers.current().by_token(token)
            return (caller, "", "") if caller else (None, "unknown_token", UNKNOWN)
        if self.mutual_tls:
            names = certificate_names(context.auth_context())
            if not names:
                return None, "no_certificate", NO_CERTIFICATE
            if self.callers is None:  # the client CA is the policy
                return Caller(names[0], frozenset(ROLES), "cert"), "", ""
            found = self.callers.current().by_certificate(names)
            return found or Caller(names[0], frozenset(), "cert"), "", ""
        return None, "no_token", MISSING

    def _refuse(
        self,
        context: grpc.ServicerContext,
        method: str,
        reason: str,
        caller: Caller | None,
        code: grpc.StatusCode,
        message: str,
    ) -> None:
        self.metrics.refused.labels(method, reason).inc()
        self.refusals.say(
            rpc=method,
            reason=reason,
            code=code.name,
            peer=context.peer(),
            caller=caller.name if caller else None,
        )
        context.abort(code, message)


def _bearer(values: Sequence[str]) -> str | None:
    """The token of one `Bearer T` value; None when malformed (several values, another
    scheme, no token, spaces in it, too long)."""
    if len(values) != 1 or len(values[0]) > MAX_TOKEN_CHARS:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or _TOKEN.fullmatch(token) is None:
        return None
    return token


def _denied(caller: Caller, method: str, needs: tuple[str, ...] | None) -> str:
    if not needs:
        return f"no role allows {method}"
    wanted = " or ".join(f"'{role}'" for role in needs)
    return f"caller '{caller.name}' lacks the role {wanted} that {method} needs"


def _wrapped(handler: Any, admit: Callable[[grpc.ServicerContext], None]) -> Any:
    """The handler with `admit` run before its behaviour (which then sees the caller)."""

    def guarded(behavior: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            admit(context)
            return behavior(request, context)

        return call

    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    )
    for kind, make in kinds:
        behavior = getattr(handler, kind)
        if behavior is not None:
            return make(
                guarded(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler
