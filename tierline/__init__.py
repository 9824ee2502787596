"""The tools people run, one subpackage each, over `engine` (the language) and `server` (the
service): `tierline.cli` is the `tierline` command, `tierline.tables` runs the rules' SQL where the
data is (DuckDB, Spark), `tierline.reports` renders comparisons and migrations as people read them.
Imports point down: `tierline.*` may import `engine` and `server`, never the reverse."""
