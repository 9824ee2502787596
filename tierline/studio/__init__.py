"""`tierline studio`: the browser studio for the people who own the definitions.

In: a rules folder (`--rules`), sample tables (`--data`, or files dropped on the
page) and, optionally, a tokens file. Out: one page (CodeMirror 6, built from
`web/` into `static/` and shipped in the wheel) where a rule file is edited with
live diagnostics and examples, classified on the sample, compared with the saved
version and the folder's other definitions, and saved through the server's reload
gate with a record of who saved what. `app.py` is the HTTP side (Starlette),
`live.py` the checks of the unsaved text, `samples.py` the tables, `workspace.py`
the folder (paths, saves, history).
"""
