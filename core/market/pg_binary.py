"""PostgreSQL's binary wire formats for bars, packed and unpacked with numpy.

Moving a million bars through Python one row at a time costs about a second on
its own, so bars cross the wire in the server's binary formats, read and written
as numpy structured arrays:

* to the server: binary ``COPY ... FROM STDIN`` rows of fixed width (NULL trade
  counts and VWAPs travel as the sentinels -1 and NaN and become NULL in SQL);
* from the server: one ``array_send(array_agg(column))`` value per column, a
  single message however many bars it holds (a COPY sends one message per row,
  and psycopg spends about 0.7 microseconds of Python on each).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.market.frames import PRICE_COLUMNS

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch
NO_COUNT = -1  # sentinel for a NULL trade_count

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
# Staging row: field count, then (length, value) per column, big-endian, in the staging table's order.
_STAGE_FIELDS = (("ts", ">i8"), ("o", ">f8"), ("h", ">f8"), ("l", ">f8"), ("c", ">f8"), ("v", ">i8"), ("tc", ">i4"),
                 ("vw", ">f8"))  # fmt: skip
_STAGE_ROW = np.dtype(
    [("n", ">i2")] + [f for name, kind in _STAGE_FIELDS for f in ((f"{name}_len", ">i4"), (name, kind))]
)
STAGE_COLUMNS_SQL = "ts timestamptz, o float8, h float8, l float8, c float8, v int8, tc int4, vw float8"

# Element types of the arrays we read (pg_type oids), with their numpy element layout.
_ARRAY_ELEMENTS = {20: ">i8", 23: ">i4", 701: ">f8", 1184: ">i8"}  # int8, int4, float8, timestamptz


def pg_micros(stamps: pd.Series) -> np.ndarray:
    """Open times as PostgreSQL stores them: int64 microseconds since 2000-01-01 UTC."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").to_numpy("int64") - PG_EPOCH_US


def datetime_from_pg_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros + PG_EPOCH_US)


def pack_stage_rows(frame: pd.DataFrame) -> bytes:
    """A whole binary COPY payload for the staging table (``STAGE_COLUMNS_SQL``) from a bar frame."""
    rows = np.empty(len(frame), dtype=_STAGE_ROW)
    rows["n"] = len(_STAGE_FIELDS)
    for name, kind in _STAGE_FIELDS:
        rows[f"{name}_len"] = np.dtype(kind).itemsize
    rows["ts"] = pg_micros(frame["timestamp"])
    for name, key in zip(PRICE_COLUMNS, "ohlc", strict=True):
        rows[key] = frame[name].to_numpy(dtype=np.float64)
    rows["v"] = np.rint(frame["volume"].to_numpy(dtype=np.float64)).astype(np.int64)
    count = frame["trade_count"] if "trade_count" in frame else pd.Series(pd.NA, index=frame.index)
    rows["tc"] = pd.array(count, dtype="Int64").fillna(NO_COUNT).to_numpy(dtype=np.int32)
    vwap = frame["vwap"] if "vwap" in frame else pd.Series(np.nan, index=frame.index)
    rows["vw"] = pd.to_numeric(vwap).to_numpy(dtype=np.float64, na_value=np.nan)
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


# ohlcv_bars columns written by COPY (created_at takes its default).
BAR_COPY_COLUMNS = "ticker_id, timeframe, timestamp, open, high, low, close, volume, trade_count, vwap, source"


def pack_bar_rows(frame: pd.DataFrame, ticker_id: uuid.UUID, timeframe: str, source: str) -> bytes:
    """A binary COPY payload for ``ohlcv_bars (BAR_COPY_COLUMNS)`` from a bar frame.

    Rows are built fixed-width, then the data bytes of NULL trade counts and VWAPs are cut out with one
    boolean mask (a NULL field is its length, -1, and no data), so no row is handled in Python."""
    tf, src = timeframe.encode(), source.encode()
    fields = [("id", "S16"), ("tf", f"S{len(tf)}"), ("ts", ">i8"), ("o", ">f8"), ("h", ">f8"), ("l", ">f8"),
              ("c", ">f8"), ("v", ">i8"), ("tc", ">i4"), ("vw", ">f8"), ("src", f"S{len(src)}")]  # fmt: skip
    layout = np.dtype([("n", ">i2")] + [f for name, kind in fields for f in ((f"{name}_len", ">i4"), (name, kind))])
    n = len(frame)
    rows = np.empty(n, dtype=layout)
    rows["n"] = len(fields)
    for name, kind in fields:
        rows[f"{name}_len"] = np.dtype(kind).itemsize
    rows["id"], rows["tf"], rows["src"] = ticker_id.bytes, tf, src
    rows["ts"] = pg_micros(frame["timestamp"])
    for name, key in zip(PRICE_COLUMNS, "ohlc", strict=True):
        rows[key] = frame[name].to_numpy(dtype=np.float64)
    rows["v"] = np.rint(frame["volume"].to_numpy(dtype=np.float64)).astype(np.int64)
    count = pd.array(frame["trade_count"], dtype="Int64") if "trade_count" in frame else pd.array([pd.NA] * n, "Int64")
    no_count = np.asarray(count.isna())
    rows["tc"] = count.fillna(0).to_numpy(dtype=np.int32)
    vwap = pd.to_numeric(frame["vwap"]).to_numpy(dtype=np.float64, na_value=np.nan) if "vwap" in frame else None
    no_vwap = np.isnan(vwap) if vwap is not None else np.ones(n, dtype=bool)
    rows["vw"] = np.nan_to_num(vwap) if vwap is not None else 0.0
    rows["tc_len"][no_count] = -1
    rows["vw_len"][no_vwap] = -1
    raw = rows.view(np.uint8).reshape(n, layout.itemsize)
    if not no_count.any() and not no_vwap.any():
        return COPY_HEADER + raw.tobytes() + COPY_TRAILER
    keep = np.ones((n, layout.itemsize), dtype=bool)
    dtype_fields = layout.fields
    assert dtype_fields is not None  # a structured dtype
    for nulls, name in ((no_count, "tc"), (no_vwap, "vw")):
        offset = dtype_fields[name][1]
        keep[nulls, offset : offset + layout[name].itemsize] = False
    return COPY_HEADER + raw[keep].tobytes() + COPY_TRAILER


def unpack_array(payload: bytes | None) -> np.ndarray:
    """The elements of a one-dimensional, NULL-free array in ``array_send`` format, native byte order.

    None (``array_agg`` of no rows) and an empty array give an empty array."""
    if payload is None or len(payload) < 12:
        return np.empty(0, dtype=np.int64)
    ndim, has_nulls, element_oid = np.frombuffer(payload, dtype=">i4", count=3)
    if ndim == 0:
        return np.empty(0, dtype=np.int64)
    if ndim != 1 or has_nulls:
        raise ValueError("expected a one-dimensional array without NULLs")
    kind = _ARRAY_ELEMENTS.get(int(element_oid))
    if kind is None:
        raise ValueError(f"unexpected array element type (oid {int(element_oid)})")
    length = int(np.frombuffer(payload, dtype=">i4", count=1, offset=12)[0])
    cells = np.frombuffer(payload, dtype=[("len", ">i4"), ("v", kind)], offset=20)
    if len(cells) != length:
        raise ValueError("truncated array payload")
    return cells["v"].astype(np.dtype(kind).newbyteorder("="))
