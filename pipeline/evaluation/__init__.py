"""``pipeline eval``: the full pipeline over an evaluation suite, scored against exact truth.

``suite`` reads a suite folder, ``score`` measures one result against its truth (pure), ``run``
runs configs over the episodes through the one job path, ``report`` makes the table and JSON.
"""
