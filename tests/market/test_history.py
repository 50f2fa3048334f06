"""Incremental history: the real alpaca-py data client against the stand-in, counting what it asks for."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from core.adapters.alpaca.bar_history import AlpacaBarSource
from core.market.calendar import NEW_YORK, TradingCalendar
from core.market.errors import MarketDataError
from core.market.history import HistoryService
from core.market.store import BarStore
from core.market.sync_log import SyncLog

JUL = [date(2025, 7, d) for d in (1, 2, 3, 7, 8)]  # July 3 closes at 13:00; July 4 is a holiday


def ny(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), NEW_YORK).astimezone(UTC)


def session_minutes(days: list[date], open_=(9, 30), extended: bool = False, seed: int = 0) -> pd.DataFrame:
    """Minute bars for each day: regular session (early close on July 3) or 04:00-20:00 when extended."""
    stamps = []
    for d in days:
        start = ny(d, 4) if extended else ny(d, *open_)
        end = ny(d, 20) if extended else ny(d, 13 if d == date(2025, 7, 3) else 16)
        stamps.append(pd.date_range(start, end, freq="1min", inclusive="left"))
    index = stamps[0].append(stamps[1:]) if len(stamps) > 1 else stamps[0]
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(index))))
    open_px = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {
            "timestamp": index,
            "open": open_px,
            "high": np.maximum(open_px, close) + 0.02,
            "low": np.minimum(open_px, close) - 0.02,
            "close": close,
            "volume": rng.integers(1, 5_000, len(index)).astype(float),
            "trade_count": rng.integers(1, 40, len(index)),
            "vwap": (open_px + close) / 2,
        }
    )


@pytest.fixture
def calendar():
    return TradingCalendar(2026)


@pytest.fixture
def history(db, alpaca, calendar):
    store = BarStore(db.engine)
    source = AlpacaBarSource(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=20)
    service = HistoryService(
        store, source, SyncLog(db.engine), calendar, clock=lambda: datetime(2025, 7, 20, tzinfo=UTC)
    )
    yield service
    store.close()


def requests(alpaca) -> list[tuple[datetime, datetime]]:
    """(start, end) of every first page asked for (later pages repeat them with a page token)."""
    return [(r["start"].to_pydatetime(), r["end"].to_pydatetime()) for r in alpaca.bar_requests if not r["page_token"]]


def test_empty_store_fetches_the_trading_span_once_not_nights_or_weekends(alpaca, history):
    bars = session_minutes(JUL)
    alpaca.add_bars("AAPL", "1Min", bars)
    # From midnight UTC (20:00 in New York, after the extended session of June 30) to July 9, midnight UTC.
    result = history.bars("AAPL", "1Min", datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 9, tzinfo=UTC))
    # One request from the first session's extended open to the last one's close: the nights, the holiday and the
    # weekend in between hold nothing stored, so they do not split it.
    assert requests(alpaca) == [(ny(JUL[0], 4), ny(JUL[-1], 20))]
    assert len(result.frame) == len(bars) == result.bars_stored
    assert result.frame["timestamp"].tolist() == bars["timestamp"].tolist()
    assert np.allclose(result.frame["close"], bars["close"])


def test_a_stored_prefix_is_not_fetched_again(alpaca, history):
    alpaca.add_bars("AAPL", "1Min", session_minutes(JUL))
    history.bars("AAPL", "1Min", ny(JUL[0], 0), ny(JUL[2], 0))  # July 1 and 2
    before = len(alpaca.bar_requests)
    result = history.bars("AAPL", "1Min", ny(JUL[0], 0), ny(JUL[-1], 23))
    assert requests(alpaca)[before:] == [(ny(JUL[2], 4), ny(JUL[-1], 20))]
    assert len(result.frame) == len(session_minutes(JUL))


def test_a_stored_middle_leaves_two_requests(alpaca, history):
    alpaca.add_bars("AAPL", "1Min", session_minutes(JUL))
    history.bars("AAPL", "1Min", ny(JUL[1], 0), ny(JUL[3], 23))  # July 2 to 7
    before = len(alpaca.bar_requests)
    result = history.bars("AAPL", "1Min", ny(JUL[0], 0), ny(JUL[4], 23))
    assert requests(alpaca)[before:] == [(ny(JUL[0], 4), ny(JUL[0], 20)), (ny(JUL[4], 4), ny(JUL[4], 20))]
    assert len(result.frame) == len(session_minutes(JUL))
    assert result.frame["timestamp"].is_monotonic_increasing


def test_a_holiday_is_never_requested_and_a_complete_range_costs_nothing(alpaca, history):
    alpaca.add_bars("AAPL", "1Min", session_minutes(JUL))
    holiday = history.bars("AAPL", "1Min", ny(date(2025, 7, 4), 0), ny(date(2025, 7, 5), 0))
    assert alpaca.bar_requests == [] and holiday.frame.empty and holiday.fetched_ranges == ()
    history.bars("AAPL", "1Min", ny(JUL[2], 0), ny(JUL[3], 23))  # July 3 (early close), 4 (holiday), weekend, 7
    assert requests(alpaca) == [(ny(JUL[2], 4), ny(JUL[3], 20))]
    again = history.bars("AAPL", "1Min", ny(JUL[2], 0), ny(JUL[3], 23))
    assert len(requests(alpaca)) == 1 and again.fetched_ranges == ()
    assert again.frame["timestamp"].iloc[-1] == pd.Timestamp(ny(JUL[3], 15, 59))
    july3 = again.frame[again.frame["timestamp"] < pd.Timestamp(ny(JUL[2], 20))]
    assert july3["timestamp"].iloc[-1] == pd.Timestamp(ny(JUL[2], 12, 59))  # the early close


def test_pagination_follows_next_page_token(alpaca, history):
    days = [date(2025, 6, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16)]  # 11 x 960 extended minutes
    bars = session_minutes(days, extended=True)
    assert len(bars) > 10_000
    alpaca.add_bars("MSFT", "1Min", bars)
    result = history.bars("MSFT", "1Min", ny(days[0], 0), ny(days[-1], 23))
    pages = alpaca.bar_requests
    assert len(pages) == 2 and pages[0]["page_token"] is None and pages[1]["page_token"] is not None
    assert len(result.frame) == len(bars) and result.frame["timestamp"].is_unique


def test_a_429_in_the_middle_is_waited_out(alpaca, history):
    days = [date(2025, 6, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16)]
    bars = session_minutes(days, extended=True)
    alpaca.add_bars("SPY", "1Min", bars)
    alpaca.inject_error(429, "rate limit exceeded", route="GET /v2/stocks/bars", skip=1)  # the second page, once
    result = history.bars("SPY", "1Min", ny(days[0], 0), ny(days[-1], 23))
    assert alpaca.request_count("GET /v2/stocks/bars") == 3  # page 1, page 2 refused with 429, page 2 again
    assert len(alpaca.bar_requests) == 2
    assert len(result.frame) == len(bars)


def test_malformed_provider_bars_are_counted_and_never_stored(alpaca, history, db):
    bars = session_minutes(JUL[:1])
    bars.loc[10, "high"] = bars.loc[10, "low"] - 1  # high below low
    alpaca.add_bars("TSLA", "1Min", bars)
    result = history.bars("TSLA", "1Min", ny(JUL[0], 0), ny(JUL[0], 23))
    assert result.rejected == {"high is below low": 1}
    assert len(result.frame) == len(bars) - 1
    assert pd.Timestamp(bars.loc[10, "timestamp"]) not in set(result.frame["timestamp"])
    again = history.bars("TSLA", "1Min", ny(JUL[0], 0), ny(JUL[0], 23))  # the answer is known: not asked again
    assert again.fetched_ranges == ()


def test_a_failed_fetch_is_logged_reported_and_retried_next_time(alpaca, history, db):
    alpaca.add_bars("QQQ", "1Min", session_minutes(JUL[:2]))
    alpaca.inject_error(500, "internal error", route="GET /v2/stocks/bars")
    with pytest.raises(MarketDataError, match="QQQ 1Min"):
        history.bars("QQQ", "1Min", ny(JUL[0], 0), ny(JUL[1], 23))
    with db.engine.connect() as conn:
        statuses = [r[0] for r in conn.exec_driver_sql("SELECT status FROM data_sync_log")]
    assert statuses == ["failed"]
    result = history.bars("QQQ", "1Min", ny(JUL[0], 0), ny(JUL[1], 23))
    assert len(result.frame) == len(session_minutes(JUL[:2]))


def test_a_range_into_the_present_is_covered_up_to_the_last_finished_bar(db, alpaca, calendar):
    bars = session_minutes(JUL[:1])
    alpaca.add_bars("IBM", "1Min", bars)
    now = [
        ny(
            JUL[0],
            10,
            0,
        )
        + timedelta(seconds=30)
    ]
    store = BarStore(db.engine)
    source = AlpacaBarSource(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=20)
    service = HistoryService(store, source, SyncLog(db.engine), calendar, clock=lambda: now[0])
    try:
        first = service.bars("IBM", "1Min", ny(JUL[0], 0), ny(JUL[0], 23))
        assert first.frame["timestamp"].iloc[-1] == pd.Timestamp(ny(JUL[0], 9, 59))  # 10:00 is still forming
        now[0] = ny(JUL[0], 10, 30)
        second = service.bars("IBM", "1Min", ny(JUL[0], 0), ny(JUL[0], 23))
        assert requests(alpaca)[-1] == (ny(JUL[0], 10), ny(JUL[0], 10, 30))
        assert len(second.frame) == 60
    finally:
        store.close()


def test_bad_ranges_are_refused_clearly(history):
    with pytest.raises(MarketDataError, match="before it starts"):
        history.bars("AAPL", "1Min", ny(JUL[1], 0), ny(JUL[0], 0))
    with pytest.raises(MarketDataError, match="time zones"):
        history.bars("AAPL", "1Min", datetime(2025, 7, 1), datetime(2025, 7, 2))  # noqa: DTZ001
    with pytest.raises(ValueError, match="unknown timeframe"):
        history.bars("AAPL", "2Min", ny(JUL[0], 0), ny(JUL[1], 0))
