"""Comparisons and migrations as people read them.

In: a `Comparison` or `Migration` from `tables`. Out: text for a terminal,
markdown for a pull-request comment, or one self-contained HTML page with
charts (altair, rendered to SVG by vl-convert). Each report is built once as
a `document.Document` and rendered in each format; JSON is the results' own
`to_json`, not a rendering.
"""
