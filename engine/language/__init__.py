"""The rule language as text: source text → `RuleFile` syntax tree, and back.

In: a `Source` (the text of one `.tiers` file and its path). Out: a
`RuleFile` (`ast.py`: frozen dataclasses, every node with a `Span`), or a
`RuleError` carrying one `Diagnostic` per broken statement. `grammar.lark`
is the grammar, `parse.py` cuts a file into statements and parses each,
`build.py` turns lark's trees into syntax nodes (each numbered: `ast.new_id`;
`ast.children` and `ast.walk` are the one walker every later pass uses),
`format.py` prints a tree in the canonical layout (`tierline fmt`), and
`diagnostics.py` renders every stage's errors with file:line:column, the
line, a caret and a hint. Nothing here knows what a name means: that is the checker's.
"""
