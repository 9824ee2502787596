"""The Classifier service as HTTP/JSON (`tierline serve --http-port N`), for teams
without gRPC: the same servicer (`server/service.py`), the same guard (callers and
roles), the same decision log, drain and metrics, behind the proto3 JSON mapping of
the same messages. Only the wire differs: a call's status becomes an HTTP status as
google.rpc maps them, and its error a JSON body.

`context`: what the servicer and the guard see of a call (a gRPC ServicerContext's
few methods they use), and the mapping of codes to HTTP statuses. `tls`: the HTTP
port's TLS, certificate files re-read for new connections, and the client
certificate's names for the guard. `api`: the Starlette routes. `openapi`: the
description served at `/openapi.json`, made from the proto's descriptors. `serve`:
uvicorn in a thread of the server's process, started and stopped with the rest."""
