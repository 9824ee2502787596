"""The `tierline` command line: one module per subcommand, over `engine` and `server`.

In: argument lists (`tierline check rules/`); out: text or JSON on stdout,
diagnostics and summaries on stderr, and the exit code (0 ok, 1 rule or input
errors, 2 usage errors). `main.py` assembles the subcommands, each a module of
its own listed in `main.SUBCOMMANDS` (`check`, `fmt`, `test`, `eval`, `sql`,
`classify`, `compare`, `diff`, `serve`, `token`, `audit`, `key`), with their
helpers beside them (`examples.py` for `check --suggest-examples`, `verify.py`
for `audit verify`, `reporting.py` for what `compare` and `diff` share). What
all share (finding rule files, colour, usage errors, terminal-safe text) is in
`common.py`; tables run on DuckDB or Spark through `tierline.tables`, and
reports are rendered by `tierline.reports`.
"""
