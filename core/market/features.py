"""Per-bar features: a small, versioned set of numbers computed from bars alone.

The regime model, the chart and later the strategies read these values from
``computed_features``, so a stored value must mean one thing for as long as it is
stored: the definitions below are pinned by :data:`FEATURE_VERSION`, which is
part of every stored row's key. Change a definition, add or drop a feature ->
bump the version; rows of the old version stay readable and never mix with the new.

Every feature is *causal*: the value at bar t uses bar t and earlier bars only,
so a backtest reading it at t sees nothing it could not have known at the close
of t, and appending bars never changes the features of bars already computed.
Windows that are not yet full give NaN (warm-up), never a value over fewer bars.
Everything is vectorised (pandas rolling/ewm), about 20 ms per 100,000 bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_VERSION = "f1"

VOLATILITY_WINDOW = 20
VOLUME_WINDOW = 20
SMA_WINDOW = 20
RSI_PERIOD = 14

# Name -> one-line definition (also the column order of compute_features).
FEATURES: dict[str, str] = {
    "log_return": "ln(close_t / close_{t-1}); NaN on the first bar",
    "volatility_20": "sample std (ddof=1) of the last 20 log returns, bar t included (per bar, not annualised)",
    "range": "(high - low) / close of the bar",
    "volume_z_20": "(volume - mean) / sample std of the last 20 volumes, bar t included; 0 when those are all equal",
    "rsi_14": "Wilder's RSI(14) of closes, 0..100: smoothed gain / (gain + loss) * 100; 50 when both are 0",
    "sma_ratio_20": "close / mean of the last 20 closes - 1",
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURES)

# Bars before the first bar of interest that make every feature independent of where the input starts:
# rolling windows need 20 earlier bars; Wilder's smoothing forgets geometrically, (13/14)**500 < 1e-16,
# below float64 resolution.
WARMUP_BARS = 500


def compute_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The :data:`FEATURES` of every bar of a bar frame (sorted by time), float64, indexed like ``frame``.

    Bars of the warm-up (windows not yet full) are NaN. Only ``high``, ``low``, ``close`` and ``volume``
    are read; the frame is assumed valid (``core.market.frames.check_frame``: prices > 0)."""
    close = pd.Series(frame["close"].to_numpy(dtype=np.float64), index=frame.index)
    high = frame["high"].to_numpy(dtype=np.float64)
    low = frame["low"].to_numpy(dtype=np.float64)
    volume = pd.Series(frame["volume"].to_numpy(dtype=np.float64), index=frame.index)

    log_close = pd.Series(np.log(close.to_numpy()), index=frame.index)
    log_return = log_close.diff()
    volatility = log_return.rolling(VOLATILITY_WINDOW, min_periods=VOLATILITY_WINDOW).std()

    volume_mean = volume.rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).mean()
    volume_std = volume.rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).std()
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_z = (volume - volume_mean) / volume_std
    volume_z = volume_z.mask(volume_std == 0, 0.0)  # all equal: the bar is exactly average

    sma = close.rolling(SMA_WINDOW, min_periods=SMA_WINDOW).mean()

    return pd.DataFrame(
        {
            "log_return": log_return,
            "volatility_20": volatility,
            "range": (high - low) / close.to_numpy(),
            "volume_z_20": volume_z,
            "rsi_14": wilder_rsi(close, RSI_PERIOD),
            "sma_ratio_20": close / sma - 1.0,
        },
        index=frame.index,
        columns=list(FEATURE_COLUMNS),
        dtype=np.float64,
    )


def wilder_rsi(close: pd.Series, period: int = RSI_PERIOD) -> pd.Series:
    """Wilder's RSI: the first average gain/loss is the plain mean of the first ``period`` changes (so the
    first value is at position ``period``), then ``avg = (avg * (period - 1) + change) / period``, which is
    an EWM with ``alpha = 1 / period`` seeded by that mean. NaN before position ``period``."""
    change = close.diff()
    gain = change.clip(lower=0.0)
    loss = (-change).clip(lower=0.0)
    if len(close) <= period:
        return pd.Series(np.nan, index=close.index, dtype=np.float64)
    averages = []
    for part in (gain, loss):
        seeded = part.copy()
        seeded.iloc[:period] = np.nan
        seeded.iloc[period] = part.iloc[1 : period + 1].mean()
        averages.append(seeded.ewm(alpha=1.0 / period, adjust=False).mean())
    avg_gain, avg_loss = averages
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 * avg_gain / total
    return rsi.mask((total == 0) & total.notna(), 50.0)  # no movement at all: neutral
