"""Property-based: whatever bytes or rows a bar file holds, the import reports or refuses in one line of our own,
and the store holds exactly the valid rows (nothing when refused)."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db.database import Database
from core.market.errors import MarketDataError
from core.market.files import ImportReport, import_bars
from core.market.frames import Plausible
from core.market.store import BarStore

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
HEADER = "timestamp,open,high,low,close,volume\n"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure here is reproducible, never flaky
)
_names = (f"FZ{n}" for n in itertools.count())


@pytest.fixture
def store(db: Database) -> BarStore:
    return BarStore(db.engine)


def attempt(store: BarStore, path: Path, symbol: str) -> ImportReport | None:
    """The import's report, or None when it refused the file with a one-line error of ours."""
    try:
        return import_bars(store, path, symbol)
    except (ValueError, MarketDataError) as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        assert "Traceback" not in message
        return None


def assert_stored_rows_are_valid(store: BarStore, symbol: str, report: ImportReport | None) -> None:
    frame = store.load_frame(symbol, "1Min")
    if report is None:
        assert frame.empty
        return
    assert len(frame) == report.imported
    assert report.rows_read == (
        report.imported + report.duplicates_skipped + report.rejected + report.stored_conflicts
        + report.other_symbol_rows
    )  # fmt: skip
    limits = Plausible()
    prices = frame[["open", "high", "low", "close"]].to_numpy()
    assert np.isfinite(prices).all() and (prices > 0).all() and (prices <= limits.max_price).all()
    assert ((frame["volume"] >= 0) & (frame["volume"] <= limits.max_volume)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


@FUZZ
@given(data=st.binary(max_size=600), gz=st.booleans())
def test_random_bytes_are_reported_or_refused_in_one_line(store: BarStore, tmp_path: Path, data: bytes, gz: bool):
    symbol = next(_names)
    path = tmp_path / f"{symbol}.csv{'.gz' if gz else ''}"
    path.write_bytes(data)
    assert_stored_rows_are_valid(store, symbol, attempt(store, path, symbol))


cell = st.one_of(
    st.sampled_from(["", "nan", "inf", "-1", "0", "1e308", "9e18", "abc", '"', "10", "11", "9", "1,5", " "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
stamp = st.one_of(
    st.sampled_from(["", "9999-12-31T00:00:00Z", "0001-01-01", "2025-13-01", "yesterday", "1735828200"]),
    # hypothesis takes naive bounds for naive datetimes: the zone is what the import is being tested on
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(  # noqa: DTZ001
        lambda d: d.isoformat()
    ),
    st.integers(-(10**19), 10**19).map(str),
)


@FUZZ
@given(rows=st.lists(st.tuples(stamp, cell, cell, cell, cell, cell), max_size=12), extra=st.text(max_size=30))
def test_random_rows_under_a_good_header(store: BarStore, tmp_path: Path, rows: list, extra: str):
    symbol = next(_names)
    path = tmp_path / f"{symbol}.csv"
    body = HEADER + "".join(",".join(row) + "\n" for row in rows) + extra
    path.write_bytes(body.encode("utf-8", errors="replace"))
    assert_stored_rows_are_valid(store, symbol, attempt(store, path, symbol))


DEFECTS = {
    "high is below low": {"high": 8.0, "low": 9.0},
    "price must be > 0": {"open": -1.0},
    "price above 1e+06 (the plausibility limit)": {"open": 2e6, "high": 2e6},
    "volume above 1e+12 (the plausibility limit)": {"volume": 5e12},
    "volume is negative": {"volume": -5.0},
    "close is missing or not a finite number": {"close": math.inf},
    "timestamp out of range": {"year": 9999},
}


@FUZZ
@given(kinds=st.lists(st.sampled_from([None, *DEFECTS]), min_size=1, max_size=20))
def test_exactly_the_valid_rows_are_stored(store: BarStore, tmp_path: Path, kinds: list[str | None]):
    symbol = next(_names)
    lines, valid = [], []
    for k, kind in enumerate(kinds):
        bar = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0, "year": 2025}
        bar.update(DEFECTS[kind] if kind else {})
        when = (T0 + timedelta(minutes=k)).replace(year=int(bar["year"]))
        lines.append(f"{when.isoformat()},{bar['open']},{bar['high']},{bar['low']},{bar['close']},{bar['volume']}\n")
        if kind is None:
            valid.append(when)
    path = tmp_path / f"{symbol}.csv"
    path.write_text(HEADER + "".join(lines))

    report = import_bars(store, path, symbol)

    assert [t.to_pydatetime() for t in store.load_frame(symbol, "1Min")["timestamp"]] == valid
    assert report.imported == len(valid)
    expected = {why: kinds.count(why) for why in DEFECTS if why in kinds}
    assert report.rejected_reasons == expected
