"""Comparisons and migrations as people read them.

In: a `Comparison` or `Migration` from `tierline.tables`, or the `Changes`
that `engine.analysis` finds between two versions from the rules alone
(`changes.py`: `tierline diff` without data). Out: text for a terminal,
markdown for a pull-request comment, or one self-contained HTML page with
charts (altair, rendered to SVG by vl-convert). Each report is built once as
a `document.Document` and rendered in each format; JSON is the results' own
`to_json`, not a rendering.
"""
