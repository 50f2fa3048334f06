"""check_frame: NormalizedBar's rules applied to many bars at once, with every rejection explained."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from core.domain.bars import MalformedBar, NormalizedBar
from core.market.frames import BAR_COLUMNS, CONFLICT, Plausible, check_frame, frame_to_arrays


def rows(*bars: dict) -> pd.DataFrame:
    base = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0}
    return pd.DataFrame([{**base, **b} for b in bars])


def test_valid_rows_become_a_sorted_utc_bar_frame():
    frame = rows(
        {"timestamp": "2025-01-02T09:31:00-05:00"},
        {"timestamp": "2025-01-02T14:30:00+00:00", "trade_count": 4, "vwap": 10.2},
    )
    check = check_frame(frame)
    assert check.rejected.empty
    assert list(check.valid.columns) == list(BAR_COLUMNS)
    assert check.valid["timestamp"].tolist() == [
        pd.Timestamp("2025-01-02T14:30:00Z"),
        pd.Timestamp("2025-01-02T14:31:00Z"),
    ]
    assert check.valid["trade_count"].tolist() == [4, pd.NA]
    assert np.isnan(check.valid["vwap"].iloc[1])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"high": 8.0}, "high is below low"),
        ({"high": 10.2}, "high is below open/close"),
        ({"low": 10.4}, "low is above open/close"),
        ({"volume": -1.0}, "volume is negative"),
        ({"close": float("nan")}, "close is missing or not a finite number"),
        ({"open": "abc"}, "open is missing or not a finite number"),
        ({"open": 0.0, "low": 0.0}, "price must be > 0"),
        ({"trade_count": 2.5}, "trade_count must be a whole number >= 0"),
        ({"vwap": -3.0}, "vwap must be > 0"),
        ({"timestamp": "not a time"}, "timestamp is not a date/time"),
        ({"timestamp": "2025-01-02 14:30:00"}, "timestamp is naive (no time zone)"),
    ],
)
def test_each_rule_rejects_with_its_reason(bad, reason):
    frame = rows({"timestamp": "2025-01-02T14:30:00Z"}, {"timestamp": "2025-01-02T14:31:00Z", **bad})
    check = check_frame(frame)
    assert len(check.valid) == 1
    assert check.rejected["reason"].tolist() == [reason]
    assert check.reasons == {reason: 1}


def test_the_same_rules_as_a_single_bar():
    """Whatever NormalizedBar refuses, check_frame refuses (and the other way round)."""
    t = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
    cases = [
        (10, 11, 9, 10.5, 5),
        (10, 9, 11, 10, 5),
        (10, 10.2, 9, 10.5, 5),
        (10, 11, 10.6, 10.5, 5),
        (10, 11, 9, 10, -1),
    ]
    for o, h, lo, c, v in cases:
        try:
            NormalizedBar("X", "1Min", t, o, h, lo, c, v)
            single_ok = True
        except MalformedBar:
            single_ok = False
        frame = pd.DataFrame([{"timestamp": t, "open": o, "high": h, "low": lo, "close": c, "volume": v}])
        assert (len(check_frame(frame).valid) == 1) == single_ok, (o, h, lo, c, v)


def test_naive_timestamps_are_utc_only_when_asked():
    frame = rows({"timestamp": "2025-01-02 14:30:00"})
    assert check_frame(frame).valid.empty
    assert check_frame(frame, naive_is_utc=True).valid["timestamp"].iloc[0] == pd.Timestamp("2025-01-02T14:30Z")
    naive_column = frame.assign(timestamp=pd.to_datetime(frame["timestamp"]))
    assert check_frame(naive_column).reasons == {"timestamp is naive (no time zone)": 1}
    assert len(check_frame(naive_column, naive_is_utc=True).valid) == 1


def test_repeated_timestamps_keep_the_first_row():
    frame = rows({"timestamp": "2025-01-02T14:30Z", "close": 10.1}, {"timestamp": "2025-01-02T14:30Z", "close": 10.9})
    valid = check_frame(frame).valid
    assert valid["close"].tolist() == [10.1]


def test_conflicting_repeats_can_be_rejected_while_exact_repeats_are_kept_once():
    frame = rows(
        {"timestamp": "2025-01-02T14:30Z", "close": 10.1},
        {"timestamp": "2025-01-02T09:30-05:00", "close": 10.9},  # the same minute, another value
        {"timestamp": "2025-01-02T14:31Z"},
        {"timestamp": "2025-01-02T14:31Z"},  # an exact repeat
        {"timestamp": "2025-01-02T14:30Z", "close": 10.1},  # repeats row 0 exactly, but the minute conflicts
    )
    check = check_frame(frame, reject_conflicts=True)
    assert check.valid["timestamp"].tolist() == [pd.Timestamp("2025-01-02T14:31Z")]
    assert check.repeats == 1
    assert check.rejected.index.tolist() == [0, 1, 4]
    assert set(check.rejected["reason"]) == {CONFLICT}
    assert check.rows.tolist() == [2]


def test_times_outside_1900_to_2199_and_implausible_values_reject_their_row_only():
    frame = rows(
        {"timestamp": "2025-01-02T14:30Z"},
        {"timestamp": "9999-12-31T00:00Z"},
        {"timestamp": pd.Timestamp("1850-01-01T00:00Z")},
        {"timestamp": "2025-01-02T14:31Z", "open": 2e6, "high": 2e6},
        {"timestamp": "2025-01-02T14:32Z", "volume": 2e12},
    )
    check = check_frame(frame, plausible=Plausible())
    assert len(check.valid) == 1
    assert check.rejected["reason"].tolist() == [
        "timestamp out of range",
        "timestamp out of range",
        "price above 1e+06 (the plausibility limit)",
        "volume above 1e+12 (the plausibility limit)",
    ]
    assert len(check_frame(frame).valid) == 3  # without bounds: only the storage rules
    typed = pd.Series(pd.to_datetime(["2025-01-02T14:30Z", "9999-01-01T00:00Z"], utc=True))  # microseconds
    assert check_frame(rows({}, {}).assign(timestamp=typed)).reasons == {"timestamp out of range": 1}
    with pytest.raises(ValueError, match="finite numbers > 0"):
        Plausible(max_price=float("inf"))


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="volume"):
        check_frame(pd.DataFrame({"timestamp": [], "open": [], "high": [], "low": [], "close": []}))


def test_frame_to_arrays_gives_epoch_seconds():
    valid = check_frame(rows({"timestamp": "2025-01-02T14:30:00Z"})).valid
    arrays = frame_to_arrays(valid)
    assert arrays.t.tolist() == [datetime(2025, 1, 2, 14, 30, tzinfo=UTC).timestamp()]
    assert arrays.close.dtype == np.float64
