"""Who may call the service, and over what: TLS and mutual TLS on the gRPC port
(`tls`: certificate files re-read when they change), callers and their roles
(`callers`: the `--auth-tokens` file, re-read when it changes), the interceptor
that lets a call in or refuses it (`guard`: UNAUTHENTICATED or PERMISSION_DENIED
naming the role), and the rule that plaintext stays on loopback (`exposure`).

In: the settings' file paths and each call's metadata and TLS auth context. Out:
server credentials for gRPC, an interceptor, and the caller's name bound for the
decision log (`caller`). A token is never kept, logged, counted or quoted: only
its SHA-256 is compared, in constant time."""
