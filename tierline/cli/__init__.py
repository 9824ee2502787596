"""The `tierline` command line: one module per subcommand, over `engine` and `server`.

In: argument lists (`tierline check rules/`); out: text or JSON on stdout,
diagnostics and summaries on stderr, and the exit code (0 ok, 1 rule or input
errors, 2 usage errors). `main.py` assembles the subcommands; `check.py`,
`fmt.py`, `test.py`, `eval.py`, `serve.py` and `audit.py` each hold one, and a
new one (`sql`, `classify`, `compare`, `diff`) is a new module listed in
`main.SUBCOMMANDS`. What they share (finding rule files, colour, usage errors)
is in `common.py`; what runs tables on DuckDB or Spark belongs in a package of
its own beside this one, which these commands call.
"""
