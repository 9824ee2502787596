"""The rule language as text: source text → `RuleFile` syntax tree, and back.

In: a `Source` (the text of one `.tiers` file and its path). Out: a
`RuleFile` (`ast.py`: frozen dataclasses, every node with a `Span`), or a
`RuleError` carrying one `Diagnostic` per broken statement. `grammar.lark`
is the grammar, `parse.py` cuts a file into statements and parses each,
`build.py` turns lark's trees into syntax nodes (each numbered: `ast.new_id`;
`ast.children` and `ast.walk` are the one walker every later pass uses); a
statement that does not parse is explained (`syntax_errors.py`, with the common mistakes of
`mistakes.py`) and repaired where it can be (`recover.py`), so that the rest
of the file is still checked. `format.py` prints a tree in the canonical
layout (`tierline fmt`). `codes.py` is the catalogue of every diagnostic code
of every stage, with its message and hint templates, and `diagnostics.py`
renders them with file:line:column, the line, a caret and a hint. Nothing
here knows what a name means: that is the checker's.
"""
