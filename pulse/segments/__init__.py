"""Segments: dynamic (saved filters, live count) and static (hand-picked) lists of contacts."""
