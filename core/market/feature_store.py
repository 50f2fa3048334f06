"""Computed features and regime states in PostgreSQL (``computed_features``), one row per bar and version.

Features are recomputed in bulk (a whole history at a time), so rows travel like
bars do (``core.market.store``): one binary COPY of fixed-width rows into a
staging table, one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` from there,
and loads as one ``array_send`` value per column. The JSONB object of each row is
built by the server from float8 columns (``jsonb_build_object``), so Python never
formats JSON per bar, and NaN (which JSONB cannot hold) becomes JSON null on the
way in and NaN again on the way out.

Rows are keyed by (ticker, timeframe, bar open time, feature version): saving a
version again replaces that version's values and leaves other versions alone.
Features only exist for stored bars. The composite foreign key to ``ohlcv_bars``
says so, but it is dropped where ``ohlcv_bars`` is a TimescaleDB hypertable
(migration 0001), so :meth:`FeatureStore.save` checks itself and refuses a batch
naming any bar that is not stored (:class:`MissingBarsError`, nothing written):
features for an unknown bar mean the caller computed them from other data, and
dropping them quietly would hide that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Engine

from core.db.raw import raw_connection
from core.domain.bars import timeframe_delta
from core.domain.symbols import normalize_symbol
from core.market.errors import MarketDataError
from core.market.features import FEATURE_COLUMNS, FEATURE_VERSION, WARMUP_BARS, compute_features
from core.market.pg_binary import (
    COPY_HEADER,
    COPY_TRAILER,
    PG_EPOCH_US,
    datetime_from_pg_micros,
    pg_micros,
    unpack_array,
)
from core.market.regimes import RegimeModel
from core.market.store import BarStore

_NO_STATE = -2  # sentinel for a NULL state_id in staging and loads (-1 is a real state: out of distribution)
_JSONB_PAIRS_PER_CALL = 50  # jsonb_build_object takes at most 100 arguments
_FAR_PAST = datetime.fromisoformat("1900-01-01T00:00:00+00:00")
_FAR_FUTURE = datetime.fromisoformat("2200-01-01T00:00:00+00:00")
_RANGE = "ticker_id = %s AND timeframe = %s AND timestamp >= %s AND timestamp < %s"
_STORED_BARS = f"SELECT array_send(array_agg(timestamp)) FROM ohlcv_bars WHERE {_RANGE}"
_BAR_BEFORE = """SELECT timestamp FROM ohlcv_bars WHERE ticker_id = %s AND timeframe = %s AND timestamp < %s
                 ORDER BY timestamp DESC OFFSET %s LIMIT 1"""


class MissingBarsError(MarketDataError):
    """Features were given for bars that are not stored; nothing was saved."""


@dataclass(frozen=True)
class SaveResult:
    rows: int  # rows inserted or replaced (one per bar given)


class FeatureStore:
    """Reads and writes ``computed_features``; thread-safe (each call borrows its own pooled connection)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(
        self,
        symbol: str,
        timeframe: str,
        frame_timestamps: pd.Series | pd.DatetimeIndex,
        features_df: pd.DataFrame,
        regimes_df: pd.DataFrame | None = None,
        *,
        model_id: str | None = None,
        version: str = FEATURE_VERSION,
    ) -> SaveResult:
        """Upsert one row per bar: ``frame_timestamps[i]`` (bar open times, tz-aware, unique) gets the i-th row
        of ``features_df`` (all its columns, as the JSONB ``features``; non-finite values -> null) and of
        ``regimes_df`` (``state_id``/``state_prob``/``log_likelihood``, e.g. ``RegimeModel.predict``).

        Rows are matched by position, not index. An existing row of the same version is replaced; without
        ``regimes_df`` its stored state, probability, log-likelihood and model id are kept (the same feature
        version means the same feature values). Raises :class:`MissingBarsError` if any bar is not stored."""
        timeframe_delta(timeframe)
        stamps = pd.Series(pd.DatetimeIndex(frame_timestamps))
        n = len(stamps)
        if len(features_df) != n or (regimes_df is not None and len(regimes_df) != n):
            raise ValueError("timestamps, features and regimes must have one row per bar each")
        if not isinstance(stamps.dtype, pd.DatetimeTZDtype) or stamps.isna().any():
            raise ValueError("bar timestamps must be time-zone aware and present")
        if (regimes_df is None) != (model_id is None) or model_id == "":
            raise ValueError("regimes and the model_id of the model that produced them go together")
        if model_id is not None and len(model_id) > 50:
            raise ValueError("model_id is longer than 50 characters")
        if not version or len(version) > 20:
            raise ValueError("a feature version is 1 to 20 characters")
        names = [str(c) for c in features_df.columns]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if version == FEATURE_VERSION and tuple(names) != FEATURE_COLUMNS:
            raise ValueError(f"feature version {version} is exactly the columns {', '.join(FEATURE_COLUMNS)}")
        if n == 0:
            return SaveResult(0)
        micros = pg_micros(stamps)
        if len(np.unique(micros)) != n:
            raise ValueError("bar timestamps must be unique")
        ticker = self._ticker_id(symbol)
        if ticker is None:
            raise MissingBarsError(f"no bars are stored for {normalize_symbol(symbol)}: features need their bars")
        payload = _pack_rows(micros, features_df, regimes_df)
        with raw_connection(self._engine) as conn:
            self._check_bars(conn, ticker, symbol, timeframe, micros)
            conn.execute(_stage_sql(len(names)))
            with conn.cursor() as cur:
                with cur.copy("COPY sf_feature_stage FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(payload)
                try:
                    cur.execute(
                        _upsert_sql(names, with_regimes=regimes_df is not None),
                        {"ticker": ticker, "timeframe": timeframe, "version": version, "model": model_id},
                    )
                except psycopg.errors.ForeignKeyViolation as exc:  # a bar deleted since the check
                    raise MissingBarsError(f"a bar of {symbol} {timeframe} was deleted while saving") from exc
                written = cur.rowcount
            conn.commit()
        return SaveResult(written)

    def load(
        self,
        symbol: str,
        timeframe: str,
        start: datetime | None = None,
        end: datetime | None = None,
        version: str = FEATURE_VERSION,
    ) -> pd.DataFrame:
        """Rows with ``start <= open time < end``, by time: ``timestamp``, ``state_id`` (Int64, <NA> where none
        was stored), ``state_prob``, ``log_likelihood``, ``model_id``, then one float64 column per feature
        (NaN for null): :data:`FEATURE_COLUMNS` for the current version, the stored names in alphabetical order
        for an older one."""
        timeframe_delta(timeframe)
        ticker = self._ticker_id(symbol)
        bounds = (start or _FAR_PAST, end or _FAR_FUTURE)
        where = f"{_RANGE} AND feature_version = %s"
        params = (ticker, timeframe, *bounds, version)
        if ticker is None:
            return _empty_load(list(FEATURE_COLUMNS) if version == FEATURE_VERSION else [])
        with raw_connection(self._engine, autocommit=True) as conn:
            if version == FEATURE_VERSION:
                keys = list(FEATURE_COLUMNS)  # save() stores exactly these for the current version
            else:  # an older version: its names are in the rows (a scan of the range, ~4 us per row)
                row = conn.execute(
                    f"SELECT array_agg(DISTINCT k ORDER BY k) FROM computed_features, jsonb_object_keys(features) k "
                    f"WHERE {where}",
                    params,
                ).fetchone()
                keys = list(row[0]) if row and row[0] else []
            columns = [
                sql.SQL("array_send(array_agg(timestamp))"),
                sql.SQL("array_send(array_agg(coalesce(state_id, {})))").format(sql.Literal(_NO_STATE)),
                sql.SQL("array_send(array_agg(coalesce(state_prob, 'NaN')))"),
                sql.SQL("array_send(array_agg(coalesce(log_likelihood, 'NaN')))"),
                sql.SQL("array_agg(model_id)"),
                *(
                    sql.SQL("array_send(array_agg(coalesce((features ->> {})::float8, 'NaN')))").format(sql.Literal(k))
                    for k in keys
                ),
            ]
            query = sql.SQL("SELECT {} FROM (SELECT * FROM computed_features WHERE {} ORDER BY timestamp) f").format(
                sql.SQL(", ").join(columns), sql.SQL(where)
            )
            with conn.cursor(binary=True) as cur:
                values = cur.execute(query, params).fetchone()
        if values is None or values[0] is None:
            return _empty_load(keys)
        t, state, prob, ll = (unpack_array(v) for v in values[:4])
        return pd.DataFrame(
            {
                "timestamp": pd.to_datetime(t + PG_EPOCH_US, unit="us", utc=True).as_unit("ns"),
                "state_id": pd.arrays.IntegerArray(state.astype(np.int64), state == _NO_STATE),
                "state_prob": prob,
                "log_likelihood": ll,
                "model_id": pd.Series(values[4], dtype=object),
                **{k: unpack_array(v).astype(np.float64) for k, v in zip(keys, values[5:], strict=True)},
            }
        )

    def warmup_start(self, symbol: str, timeframe: str, start: datetime, bars: int = WARMUP_BARS) -> datetime | None:
        """Open time of the ``bars``-th stored bar before ``start`` (the earliest one if there are fewer),
        so features from there on give bars at ``start`` the values a full history would. None: no bar."""
        ticker = self._ticker_id(symbol)
        if ticker is None:
            return None
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute(_BAR_BEFORE, (ticker, timeframe, start, max(bars - 1, 0))).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT min(timestamp) FROM ohlcv_bars WHERE ticker_id = %s AND timeframe = %s AND timestamp < %s",
                    (ticker, timeframe, start),
                ).fetchone()
        return row[0] if row else None

    def _ticker_id(self, symbol: str) -> uuid.UUID | None:
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute("SELECT id FROM tickers WHERE symbol = %s", (normalize_symbol(symbol),)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _check_bars(
        conn: psycopg.Connection, ticker: uuid.UUID, symbol: str, timeframe: str, micros: np.ndarray
    ) -> None:
        lo, hi = datetime_from_pg_micros(int(micros.min())), datetime_from_pg_micros(int(micros.max()))
        with conn.cursor(binary=True) as cur:
            row = cur.execute(_STORED_BARS, (ticker, timeframe, lo, hi + timedelta(microseconds=1))).fetchone()
        missing = ~np.isin(micros, unpack_array(row[0] if row else None))
        if missing.any():
            first = datetime_from_pg_micros(int(micros[missing].min()))
            raise MissingBarsError(
                f"{int(missing.sum())} of {len(micros)} bars of {normalize_symbol(symbol)} {timeframe} are not stored "
                f"(first: {first.isoformat()}); features can only be saved for stored bars. Nothing was saved."
            )


def compute_and_store(
    bar_store: BarStore,
    feature_store: FeatureStore,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    model: RegimeModel | None = None,
    *,
    n_states: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame, RegimeModel]:
    """Compute the features of the stored bars with ``start <= open time < end``, assign regimes and store both.

    Up to :data:`WARMUP_BARS` stored bars before ``start`` are read as well, so a bar's features do not depend
    on the range asked for (only bars that have too little history before them are NaN). Without ``model``
    a new :class:`RegimeModel` of ``n_states`` is fitted on the range (keep its ``to_dict()``: the rows only name
    its id).
    Returns (features, regimes, model), indexed by bar open time."""
    if model is not None and model.feature_version != FEATURE_VERSION:
        raise ValueError(f"the model was fitted on features {model.feature_version}, these are {FEATURE_VERSION}")
    first = feature_store.warmup_start(symbol, timeframe, start) if start is not None else None
    frame = bar_store.load_frame(symbol, timeframe, first or start, end)
    features = compute_features(frame)
    features.index = pd.DatetimeIndex(frame["timestamp"], name="timestamp")
    if start is not None:
        features = features.loc[features.index >= pd.Timestamp(start)]
    if model is None:
        model = RegimeModel(n_states).fit(features)
    regimes = model.predict(features)
    feature_store.save(symbol, timeframe, features.index, features, regimes, model_id=model.model_id)
    return features, regimes, model


def _stage_sql(n_features: int) -> str:
    cols = "".join(f"f{i} float8, " for i in range(n_features))
    return f"CREATE TEMP TABLE sf_feature_stage (ts timestamptz, {cols}st int4, sp float8, ll float8) ON COMMIT DROP"


def _upsert_sql(names: list[str], *, with_regimes: bool) -> sql.Composed:
    pairs = [
        sql.SQL("{}, nullif(f{}, 'NaN')").format(sql.Literal(name), sql.SQL(str(i))) for i, name in enumerate(names)
    ]
    chunks = [pairs[i : i + _JSONB_PAIRS_PER_CALL] for i in range(0, len(pairs), _JSONB_PAIRS_PER_CALL)]
    features = (
        sql.SQL(" || ").join(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(c)) for c in chunks)
        if chunks
        else sql.SQL("'{}'::jsonb")
    )
    update = ["features = EXCLUDED.features", "created_at = now()"]
    if with_regimes:
        update += [f"{c} = EXCLUDED.{c}" for c in ("model_id", "state_id", "state_prob", "log_likelihood")]
    return sql.SQL(
        "INSERT INTO computed_features (ticker_id, timeframe, timestamp, feature_version, features, model_id, "
        "state_id, state_prob, log_likelihood) "
        "SELECT %(ticker)s, %(timeframe)s, ts, %(version)s, {features}, %(model)s, nullif(st, {no_state}), "
        "nullif(sp, 'NaN'), nullif(ll, 'NaN') FROM sf_feature_stage "
        "ON CONFLICT (ticker_id, timeframe, timestamp, feature_version) DO UPDATE SET {update}"
    ).format(features=features, no_state=sql.Literal(_NO_STATE), update=sql.SQL(", ".join(update)))


def _pack_rows(micros: np.ndarray, features: pd.DataFrame, regimes: pd.DataFrame | None) -> bytes:
    """A binary COPY payload for ``sf_feature_stage``: fixed-width rows, NULLs as sentinels (NaN, -2)."""
    n, k = len(micros), features.shape[1]
    fields = [("ts", ">i8"), *((f"f{i}", ">f8") for i in range(k)), ("st", ">i4"), ("sp", ">f8"), ("ll", ">f8")]
    row = np.dtype([("n", ">i2")] + [f for name, kind in fields for f in ((f"{name}_len", ">i4"), (name, kind))])
    rows = np.empty(n, dtype=row)
    rows["n"] = len(fields)
    for name, kind in fields:
        rows[f"{name}_len"] = np.dtype(kind).itemsize
    rows["ts"] = micros
    for i in range(k):
        values = pd.to_numeric(features.iloc[:, i], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        rows[f"f{i}"] = np.where(np.isfinite(values), values, np.nan)
    if regimes is None:
        rows["st"], rows["sp"], rows["ll"] = _NO_STATE, np.nan, np.nan
    else:
        state = pd.array(regimes["state_id"], dtype="Int64")
        if (state.fillna(0) < -1).any():
            raise ValueError("state_id must be >= -1")
        rows["st"] = state.fillna(_NO_STATE).to_numpy(dtype=np.int32)
        for key, column in (("sp", "state_prob"), ("ll", "log_likelihood")):
            values = regimes[column].to_numpy(dtype=np.float64, na_value=np.nan)
            rows[key] = np.where(np.isfinite(values), values, np.nan)
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


def _empty_load(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            "state_id": pd.Series([], dtype="Int64"),
            "state_prob": pd.Series([], dtype="float64"),
            "log_likelihood": pd.Series([], dtype="float64"),
            "model_id": pd.Series([], dtype=object),
            **{k: pd.Series([], dtype="float64") for k in keys},
        }
    )
