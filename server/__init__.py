"""The long-running service: the engine behind gRPC, and the decision log.

In: rule files in a folder (`rulefiles.py`, loaded into `engine.registry` by
`loading.py`, reloaded by `watch.py`) and gRPC calls (`proto/tierline/v1`).
Out: decisions, validations and the served rulesets' state over gRPC
(`service.py` converts with `convert.py` and calls the engine, nothing else),
one JSON line a decision in the hash-chained, signed decision log (written by
its own process, `log_writer.py`, fed by `decision_log.py`; `log_verify.py`
checks it), the archive of every source served (`archive.py`), metrics and
probes on a port of their own (`metrics.py`, `probes.py`, `health.py`) and
structlog events (`logs.py`, `observe.py`). `security/` decides who may call
over what (TLS, tokens, roles); `app.py` and `running.py` start a server and
stop it in order, draining calls in flight (`drain.py`); `settings.py` reads
flags and TIERLINE_* variables; `gen/` holds the generated protobuf modules,
used only through `pb.py`.
"""
