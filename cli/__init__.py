"""The `tierline` command line (`main.py` parses, `commands.py` does).

It runs over `engine` and `server`; neither imports it.
"""
