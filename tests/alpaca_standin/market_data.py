"""The market-data half of the stand-in: ``GET /v2/stocks/bars`` over bars a test supplies.

Like Alpaca's, answers hold ``{"bars": {symbol: [...]}, "next_page_token": ...}`` with
bars sorted by time, ``start`` inclusive and ``end`` inclusive (Alpaca's documented
semantics), at most ``limit`` bars per page in total across symbols, and an opaque
page token. Bars are served only for timeframes a test stored: the stand-in does
not aggregate.
"""

from __future__ import annotations

import base64
import threading
from datetime import datetime

import pandas as pd

from tests.alpaca_standin.account import ApiError, Json

MAX_LIMIT = 10_000


def _parse_time(value: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise ApiError(422, 42210000, f"invalid time {value!r}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class StandInBars:
    """Thread-safe bar series per (symbol, timeframe), each a frame with BAR_COLUMNS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], pd.DataFrame] = {}
        self.requests: list[Json] = []  # every bars query answered: its symbols, start, end, page_token

    def add(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        key = (symbol.upper(), timeframe)
        with self._lock:
            current = self._series.get(key)
            merged = frame if current is None else pd.concat([current, frame])
            merged = merged.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
            self._series[key] = merged.reset_index(drop=True)

    def query(self, q: dict[str, list[str]]) -> Json:
        symbols = [s.upper() for s in q.get("symbols", [""])[0].split(",") if s]
        if not symbols:
            raise ApiError(422, 42210000, "symbols is required")
        timeframe = q.get("timeframe", ["1Day"])[0]
        start = _parse_time(q["start"][0]) if "start" in q else pd.Timestamp("1970-01-01", tz="UTC")
        end = _parse_time(q["end"][0]) if "end" in q else pd.Timestamp.now(tz="UTC")
        limit = min(int(q.get("limit", [str(MAX_LIMIT)])[0]), MAX_LIMIT)
        token = q.get("page_token", [None])[0]
        skip = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        with self._lock:
            self.requests.append({"symbols": symbols, "start": start, "end": end, "page_token": token})
            rows: list[tuple[str, pd.Series]] = []
            for symbol in sorted(symbols):
                frame = self._series.get((symbol, timeframe))
                if frame is None:
                    continue
                chosen = frame[(frame["timestamp"] >= start) & (frame["timestamp"] <= end)]
                rows.extend((symbol, row) for _, row in chosen.iterrows())
        page = rows[skip : skip + limit]
        bars: dict[str, list[Json]] = {}
        for symbol, row in page:
            bars.setdefault(symbol, []).append(_bar_json(row))
        more = skip + limit < len(rows)
        next_token = base64.urlsafe_b64encode(str(skip + limit).encode()).decode() if more else None
        return {"bars": bars, "next_page_token": next_token}


def _bar_json(row: pd.Series) -> Json:
    stamp: datetime = row["timestamp"].to_pydatetime()
    count = row.get("trade_count")
    vwap = row.get("vwap")
    return {
        "t": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": float(row["open"]),
        "h": float(row["high"]),
        "l": float(row["low"]),
        "c": float(row["close"]),
        "v": float(row["volume"]),
        "n": None if count is None or pd.isna(count) else int(count),
        "vw": None if vwap is None or pd.isna(vwap) else float(vwap),
    }
