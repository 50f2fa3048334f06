"""Watchlist quotes: change is measured from the previous New York day's last close."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from core.domain.bars import NormalizedBar
from core.market.calendar import NEW_YORK
from core.market.quotes import QuoteBoard


def bar(symbol: str, when: datetime, close: float, open_: float | None = None) -> NormalizedBar:
    o = close if open_ is None else open_
    return NormalizedBar(symbol=symbol, timeframe="1Min", timestamp=when.astimezone(UTC), open=o,
                         high=max(o, close), low=min(o, close), close=close, volume=100.0)  # fmt: skip


def test_change_is_from_the_previous_days_close_once_the_day_turns() -> None:
    board = QuoteBoard()
    first = board.update(bar("aapl", datetime(2026, 11, 23, 15, 59, tzinfo=NEW_YORK), 200.0, open_=199.0))
    assert first.symbol == "AAPL" and first.reference == 199.0 and not first.reference_is_prior_close
    board.update(bar("AAPL", datetime(2026, 11, 23, 19, 59, tzinfo=NEW_YORK), 201.0))  # after-hours: same day
    next_day = board.update(bar("AAPL", datetime(2026, 11, 24, 4, 0, tzinfo=NEW_YORK), 210.0))
    assert next_day.reference == 201.0 and next_day.reference_is_prior_close
    assert next_day.change == pytest.approx(9.0)
    assert next_day.change_pct == pytest.approx(9.0 / 201.0 * 100)


def test_seeded_history_gives_the_prior_close_and_old_bars_are_ignored() -> None:
    times = np.array([datetime(2026, 11, 20, 20, 59, tzinfo=UTC).timestamp(),   # Fri 15:59 NY
                      datetime(2026, 11, 23, 14, 30, tzinfo=UTC).timestamp(),   # Mon 09:30 NY
                      datetime(2026, 11, 23, 14, 31, tzinfo=UTC).timestamp()])  # fmt: skip
    closes = np.array([100.0, 102.0, 103.0])
    board = QuoteBoard()
    board.seed("MSFT", times, closes)
    quote = board.quote("msft")
    assert quote is not None and quote.last == 103.0 and quote.reference == 100.0 and quote.reference_is_prior_close
    stale = board.update(bar("MSFT", datetime(2026, 11, 23, 14, 0, tzinfo=UTC), 50.0))
    assert stale.last == 103.0  # an older bar does not move the quote
    assert [q.symbol for q in board.quotes(["NOPE", "MSFT"])] == ["MSFT"]
