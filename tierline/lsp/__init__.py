"""`tierline lsp`: the language server for rule files (Language Server Protocol).

`server.py` speaks the protocol (pygls) and answers from `engine.services`;
`command.py` is the subcommand. Editors start it over stdio; `--tcp PORT`
serves one client at a time on 127.0.0.1 (editors that attach to a running
server, and debugging).
"""
