"""Which parts of a requested range still need fetching.

Pure interval arithmetic, kept apart from the database and the network so each
rule is easy to test: the trading windows of a range (``core.market.calendar``)
minus the ranges the sync log says were fetched, with neighbouring pieces joined
into one request when nothing already stored lies between them (a night or a
weekend between two missing days costs no extra request).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.market.calendar import Window


def merge(windows: Iterable[Window]) -> list[Window]:
    """Sorted, overlapping or touching windows joined."""
    merged: list[Window] = []
    for w in sorted(windows, key=lambda w: w.start):
        if merged and w.start <= merged[-1].end:
            if w.end > merged[-1].end:
                merged[-1] = Window(merged[-1].start, w.end)
        else:
            merged.append(w)
    return merged


def subtract(window: Window, covered: list[Window]) -> list[Window]:
    """The parts of ``window`` outside ``covered`` (merged, sorted)."""
    pieces, cursor = [], window.start
    for c in covered:
        if c.end <= cursor or c.start >= window.end:
            continue
        if c.start > cursor:
            pieces.append(Window(cursor, c.start))
        cursor = max(cursor, c.end)
    if cursor < window.end:
        pieces.append(Window(cursor, window.end))
    return pieces


def missing_ranges(trading: list[Window], fetched: Iterable[Window]) -> list[Window]:
    """Request ranges that cover every uncovered part of ``trading`` and nothing already fetched."""
    covered = merge(fetched)
    pieces = [p for w in trading for p in subtract(w, covered)]
    # Only fetched *trading* time keeps two pieces apart; a fetched night or weekend holds no bars to skip.
    fetched_trading = [
        Window(max(c.start, w.start), min(c.end, w.end))
        for w in trading
        for c in covered
        if c.start < w.end and c.end > w.start
    ]
    requests: list[Window] = []
    for piece in pieces:
        if requests and not any(c.start < piece.start and c.end > requests[-1].end for c in fetched_trading):
            requests[-1] = Window(requests[-1].start, piece.end)
        else:
            requests.append(piece)
    return requests
