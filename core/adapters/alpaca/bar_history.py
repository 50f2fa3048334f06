"""Historical bars from Alpaca's market-data API (alpaca-py ``StockHistoricalDataClient``).

alpaca-py pages through ``next_page_token`` itself (10,000 bars a page) and
retries a 429 a few times; what it does not do is bound a call in time, so every
call runs under the same deadline runner as the broker's REST calls. When the
club shares one key, each page first takes a slot of the shared request budget
(200 a minute per account), so many clients backfilling at once slow down
instead of being refused.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from core.adapters.alpaca.calls import DeadlineRunner
from core.adapters.alpaca.rate_budget import RateBudget
from core.broker.errors import BrokerError
from core.domain.timeframes import Timeframe
from core.market.errors import MarketDataError
from core.market.frames import BAR_COLUMNS

PAGE_BARS = 10_000  # alpaca-py's page size for bars
HISTORY_TIMEOUT_S = 60.0  # one call may page many times and wait out a 429

_TIMEFRAMES: dict[str, TimeFrame] = {
    Timeframe.MIN_1: TimeFrame(1, TimeFrameUnit.Minute),
    Timeframe.MIN_5: TimeFrame(5, TimeFrameUnit.Minute),
    Timeframe.MIN_15: TimeFrame(15, TimeFrameUnit.Minute),
    Timeframe.MIN_30: TimeFrame(30, TimeFrameUnit.Minute),
    Timeframe.HOUR_1: TimeFrame(1, TimeFrameUnit.Hour),
    Timeframe.DAY_1: TimeFrame(1, TimeFrameUnit.Day),
}
_FIELDS = {"t": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "n": "trade_count",
           "vw": "vwap"}  # fmt: skip


class AlpacaBarSource:
    """Fetches one symbol's bars for a range; answers a raw frame (checked by the caller)."""

    name = "alpaca"  # the bars' source in the database

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        url_override: str | None = None,
        feed: str = "iex",
        timeout_s: float = HISTORY_TIMEOUT_S,
        budget: RateBudget | None = None,
    ) -> None:
        self._client = StockHistoricalDataClient(api_key, secret_key, raw_data=True, url_override=url_override)
        self._feed = DataFeed(feed)
        self._runner = DeadlineRunner(timeout_s)
        self._budget = budget

    def fetch(self, symbol: str, timeframe: str, start: datetime, end: datetime, expected_bars: int) -> pd.DataFrame:
        """Bars with ``start <= open time < end``. ``expected_bars`` (at most) sizes the request budget."""
        if timeframe not in _TIMEFRAMES:
            raise MarketDataError(f"Alpaca has no {timeframe} bars")
        request = StockBarsRequest(
            symbol_or_symbols=symbol,
            timeframe=_TIMEFRAMES[timeframe],
            start=start,
            end=end,
            feed=self._feed,
            adjustment=Adjustment.RAW,
        )
        slots = []
        if self._budget is not None:
            slots = [
                self._budget.acquire("/v2/stocks/bars", "GET")
                for _ in range(max(1, math.ceil(expected_bars / PAGE_BARS)))
            ]
        started = time.monotonic()
        status: int | None = 200
        try:
            raw = self._runner.run(f"bars {symbol} {timeframe}", lambda: self._client.get_stock_bars(request))
        except BrokerError as exc:
            status = None
            raise MarketDataError(f"Could not fetch {symbol} {timeframe} bars from Alpaca: {exc}") from exc
        finally:
            if self._budget is not None:
                for slot in slots:
                    self._budget.record(slot, status, int((time.monotonic() - started) * 1000))
        rows = raw.get(symbol, []) if isinstance(raw, dict) else []
        frame = pd.DataFrame.from_records(rows).rename(columns=_FIELDS)
        if frame.empty:
            return pd.DataFrame(columns=list(BAR_COLUMNS))
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
        frame = frame[(frame["timestamp"] >= start) & (frame["timestamp"] < end)]  # Alpaca's end is inclusive
        return frame.reindex(columns=list(BAR_COLUMNS))
