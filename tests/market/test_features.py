"""Feature definitions checked against plain loops, causality, and the feature store against a real PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from core.db.raw import raw_connection
from core.market.feature_store import FeatureStore, MissingBarsError
from core.market.features import FEATURE_COLUMNS, FEATURES, compute_features
from core.market.frames import check_frame
from core.market.store import BarStore

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def bar_frame(close: np.ndarray, *, seed: int = 3, start: datetime = T0) -> pd.DataFrame:
    """A valid bar frame with the given closes (open = previous close, a random wick, random volume)."""
    rng = np.random.default_rng(seed)
    close = np.asarray(close, dtype=np.float64)
    n = len(close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = rng.uniform(0, 0.002, n) * close
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="1min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wick,
            "low": np.minimum(open_, close) - wick,
            "close": close,
            "volume": rng.integers(100, 5_000, n).astype(float),
            "trade_count": pd.array(rng.integers(1, 50, n), dtype="Int64"),
            "vwap": (open_ + close) / 2,
        }
    )
    checked = check_frame(frame)
    assert checked.rejected.empty
    return checked.valid


def random_walk(n: int, seed: int = 5, sigma: float = 0.002) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, sigma, n)))


def loop_rsi(close: list[float], period: int = 14) -> list[float]:
    """Wilder's RSI the way it is described on paper: seed with plain means, then smooth one bar at a time."""
    out = [math.nan] * len(close)
    changes = [close[i] - close[i - 1] for i in range(1, len(close))]
    if len(changes) < period:
        return out
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    out[period] = 100.0 - 100.0 / (1.0 + gain / loss) if loss else 100.0
    for i in range(period + 1, len(close)):
        c = changes[i - 1]
        gain = (gain * (period - 1) + max(c, 0.0)) / period
        loss = (loss * (period - 1) + max(-c, 0.0)) / period
        out[i] = 100.0 - 100.0 / (1.0 + gain / loss) if loss else 100.0
    return out


# -- definitions ---------------------------------------------------------------------------------------------


def test_every_feature_is_documented_and_float64():
    features = compute_features(bar_frame(random_walk(60)))
    assert tuple(features.columns) == FEATURE_COLUMNS == tuple(FEATURES)
    assert all(features[c].dtype == np.float64 for c in FEATURE_COLUMNS)
    assert all(FEATURES[c] for c in FEATURE_COLUMNS)


def test_values_on_a_hand_checkable_series():
    close = np.array([100.0, 110.0, 99.0, 99.0, 121.0] + [100.0 + i for i in range(25)])
    frame = bar_frame(close)
    frame.index = pd.RangeIndex(100, 100 + len(frame))  # features are indexed like their input
    f = compute_features(frame)
    assert f.index.equals(frame.index)
    assert math.isnan(f["log_return"].iloc[0])
    assert f["log_return"].iloc[1] == pytest.approx(math.log(1.1))
    assert f["log_return"].iloc[2] == pytest.approx(math.log(0.9))
    assert f["log_return"].iloc[3] == 0.0
    assert f["range"].iloc[4] == pytest.approx((frame["high"].iloc[4] - frame["low"].iloc[4]) / 121.0)
    # close / SMA(20) - 1 at position 19 uses closes 0..19
    assert f["sma_ratio_20"].iloc[19] == pytest.approx(close[19] / close[:20].mean() - 1)
    assert f["sma_ratio_20"].iloc[29] == pytest.approx(close[29] / close[10:30].mean() - 1)
    # volatility: sample std of the 20 log returns ending at the bar
    returns = np.diff(np.log(close))
    assert f["volatility_20"].iloc[20] == pytest.approx(np.std(returns[:20], ddof=1))
    assert f["volatility_20"].iloc[29] == pytest.approx(np.std(returns[9:29], ddof=1))
    volume = frame["volume"].to_numpy()
    window = volume[5:25]
    assert f["volume_z_20"].iloc[24] == pytest.approx((volume[24] - window.mean()) / window.std(ddof=1))


def test_rsi_matches_a_loop_implementation_of_wilder():
    close = random_walk(300, seed=11, sigma=0.01)
    rsi = compute_features(bar_frame(close))["rsi_14"].to_numpy()
    expected = np.array(loop_rsi(close.tolist()))
    assert np.isnan(rsi[:14]).all()
    np.testing.assert_allclose(rsi[14:], expected[14:], rtol=1e-12)
    assert 0 < rsi[14:].min() < 50 < rsi[14:].max() < 100


def test_rsi_extremes_and_flat_volume():
    up = compute_features(bar_frame(100.0 + np.arange(40.0)))
    assert (up["rsi_14"].iloc[14:] == 100.0).all()
    flat_frame = bar_frame(np.full(40, 50.0))
    flat_frame["volume"] = 1_000.0
    flat = compute_features(flat_frame)
    assert (flat["rsi_14"].iloc[14:] == 50.0).all()  # no movement: neutral, not NaN
    assert (flat["volume_z_20"].iloc[19:] == 0.0).all()  # constant volume: every bar is average
    assert (flat["log_return"].iloc[1:] == 0.0).all()


def test_warm_up_rows_are_nan_and_the_rest_are_not():
    f = compute_features(bar_frame(random_walk(50)))
    first_valid = {
        "log_return": 1,
        "volatility_20": 20,
        "range": 0,
        "volume_z_20": 19,
        "rsi_14": 14,
        "sma_ratio_20": 19,
    }
    assert set(first_valid) == set(FEATURE_COLUMNS)
    for name, first in first_valid.items():
        assert f[name].iloc[:first].isna().all(), name
        assert f[name].iloc[first:].notna().all(), name


def test_short_and_empty_frames_give_all_nan_rows():
    short = compute_features(bar_frame(random_walk(10)))
    assert len(short) == 10
    assert short.drop(columns=["range", "log_return"]).isna().all().all()
    empty = compute_features(bar_frame(random_walk(5)).iloc[:0])
    assert empty.empty
    assert tuple(empty.columns) == FEATURE_COLUMNS


def test_no_look_ahead_appending_or_changing_later_bars_changes_no_earlier_feature():
    frame = bar_frame(random_walk(400, seed=21))
    full = compute_features(frame)
    for n in (15, 21, 120, 399):
        assert_frame_equal(compute_features(frame.iloc[:n]), full.iloc[:n])
    shocked = frame.copy()
    shocked.loc[200:, ["open", "high", "low", "close"]] *= 3.0  # a different future from bar 200 on
    shocked.loc[200:, "volume"] *= 10.0
    changed = compute_features(shocked)
    assert_frame_equal(changed.iloc[:200], full.iloc[:200])
    assert not changed.iloc[200].equals(full.iloc[200])


# -- the feature store -----------------------------------------------------------------------------------------


@pytest.fixture
def stores(db):
    bars = BarStore(db.engine)
    yield bars, FeatureStore(db.engine)
    bars.close()


def stored_bars(bars: BarStore, n: int = 60, symbol: str = "AAPL") -> pd.DataFrame:
    frame = bar_frame(random_walk(n, seed=8))
    assert bars.insert(symbol, "1Min", frame, source="simulated").inserted == n
    return frame


def regimes_for(n: int) -> pd.DataFrame:
    state = pd.array([pd.NA] * 20 + [i % 3 for i in range(n - 20)], dtype="Int64")
    state[25] = -1
    prob = np.where(state.isna(), np.nan, np.linspace(0.3, 1.0, n))
    ll = np.where(state.isna(), np.nan, -np.linspace(1.0, 9.0, n))
    return pd.DataFrame({"state_id": state, "state_prob": prob, "log_likelihood": ll})


def row_count(db) -> int:
    with raw_connection(db.engine, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM computed_features").fetchone()[0]


def test_save_and_load_round_trip_exactly(db, stores):
    bars, store = stores
    frame = stored_bars(bars)
    features = compute_features(frame)
    regimes = regimes_for(len(frame))
    assert store.save("aapl", "1Min", frame["timestamp"], features, regimes, model_id="hmm3-f1-0123abcd").rows == 60

    loaded = store.load("AAPL", "1Min")
    assert list(loaded.columns) == [
        "timestamp",
        "state_id",
        "state_prob",
        "log_likelihood",
        "model_id",
        *FEATURE_COLUMNS,
    ]
    assert loaded["timestamp"].equals(frame["timestamp"])
    assert_frame_equal(loaded[list(FEATURE_COLUMNS)], features)  # float8 -> JSON number -> float8 is exact
    assert_frame_equal(loaded[["state_id", "state_prob", "log_likelihood"]], regimes)
    assert (loaded["model_id"] == "hmm3-f1-0123abcd").all()

    window = store.load("AAPL", "1Min", frame["timestamp"].iloc[10], frame["timestamp"].iloc[15])
    assert window["timestamp"].tolist() == frame["timestamp"].iloc[10:15].tolist()
    assert store.load("AAPL", "1Min", version="f0").empty
    assert store.load("MSFT", "1Min").empty


def test_nan_features_are_stored_as_json_null_and_come_back_as_nan(db, stores):
    bars, store = stores
    frame = stored_bars(bars, 30)
    features = compute_features(frame)
    features.loc[25, "rsi_14"] = np.inf  # JSONB holds neither NaN nor infinity
    store.save("AAPL", "1Min", frame["timestamp"], features)
    with raw_connection(db.engine, autocommit=True) as conn:
        kinds = conn.execute(
            "SELECT jsonb_typeof(features -> 'volatility_20'), jsonb_typeof(features -> 'rsi_14'), state_id "
            "FROM computed_features ORDER BY timestamp"
        ).fetchall()
    assert kinds[0] == ("null", "null", None)
    assert kinds[25] == ("number", "null", None)
    assert kinds[29] == ("number", "number", None)
    loaded = store.load("AAPL", "1Min")
    assert np.isnan(loaded["volatility_20"].iloc[:20]).all()
    assert np.isnan(loaded["rsi_14"].iloc[25])
    assert loaded["state_id"].isna().all()
    assert loaded["model_id"].isna().all()


def test_saving_again_replaces_the_same_version_and_keeps_others(db, stores):
    bars, store = stores
    frame = stored_bars(bars, 40)
    features = compute_features(frame)
    store.save("AAPL", "1Min", frame["timestamp"], features, regimes_for(40), model_id="model-a")
    changed = features * 2.0
    second = regimes_for(40)
    second["state_id"] = second["state_id"].where(second["state_id"].isna(), 1)
    store.save("AAPL", "1Min", frame["timestamp"], changed, second, model_id="model-b")
    assert row_count(db) == 40
    loaded = store.load("AAPL", "1Min")
    assert_frame_equal(loaded[list(FEATURE_COLUMNS)], changed)
    assert set(loaded["state_id"].dropna()) == {1}
    assert set(loaded["model_id"].dropna()) == {"model-b"}

    # Features alone refresh the features and keep the stored regimes.
    store.save("AAPL", "1Min", frame["timestamp"], features)
    again = store.load("AAPL", "1Min")
    assert_frame_equal(again[list(FEATURE_COLUMNS)], features)
    assert_frame_equal(again[["state_id", "model_id"]], loaded[["state_id", "model_id"]])

    # Another version is another row per bar.
    store.save("AAPL", "1Min", frame["timestamp"].iloc[:5], features.iloc[:5, :2], version="f0")
    assert row_count(db) == 45
    old = store.load("AAPL", "1Min", version="f0")
    assert list(old.columns[5:]) == ["log_return", "volatility_20"]
    assert len(store.load("AAPL", "1Min")) == 40


def test_features_of_bars_that_are_not_stored_are_refused_and_nothing_is_written(db, stores):
    bars, store = stores
    frame = stored_bars(bars, 30)
    features = compute_features(frame)
    stamps = frame["timestamp"].copy()
    stamps.iloc[-1] += timedelta(days=1)  # no bar there
    with pytest.raises(MissingBarsError, match="1 of 30 bars of AAPL 1Min are not stored"):
        store.save("AAPL", "1Min", stamps, features)
    with pytest.raises(MissingBarsError):
        store.save("AAPL", "5Min", frame["timestamp"], features)  # same times, other timeframe
    with pytest.raises(MissingBarsError, match="no bars are stored for MSFT"):
        store.save("MSFT", "1Min", frame["timestamp"], features)
    assert row_count(db) == 0


def test_save_rejects_malformed_input(stores):
    _, store = stores
    frame = bar_frame(random_walk(5))
    features = compute_features(frame)
    with pytest.raises(ValueError, match="one row per bar"):
        store.save("AAPL", "1Min", frame["timestamp"].iloc[:4], features)
    with pytest.raises(ValueError, match="time-zone aware"):
        store.save("AAPL", "1Min", frame["timestamp"].dt.tz_localize(None), features)
    with pytest.raises(ValueError, match="unique"):
        store.save("AAPL", "1Min", pd.Series([frame["timestamp"].iloc[0]] * 5), features)
    with pytest.raises(ValueError, match="model_id"):
        store.save("AAPL", "1Min", frame["timestamp"], features, regimes_for(40).iloc[:5])
    with pytest.raises(ValueError, match="model_id"):
        store.save("AAPL", "1Min", frame["timestamp"], features, model_id="hmm3-f1-0123abcd")
    with pytest.raises(ValueError, match="version"):
        store.save("AAPL", "1Min", frame["timestamp"], features, version="v" * 21)
    with pytest.raises(ValueError, match="exactly the columns"):
        store.save("AAPL", "1Min", frame["timestamp"], features.drop(columns=["rsi_14"]))


def test_deleting_bars_deletes_their_features(db, stores):
    bars, store = stores
    frame = stored_bars(bars, 30)
    store.save("AAPL", "1Min", frame["timestamp"], compute_features(frame))
    assert bars.forget("AAPL") == 30
    assert row_count(db) == 0
