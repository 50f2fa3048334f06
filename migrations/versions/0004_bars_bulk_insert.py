"""market: bars without a per-row foreign key and without the global timestamp index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Bars arrive by the hundred thousand (history fetches, file imports). Measured on
200,000 one-minute bars inserted into ``ohlcv_bars`` (PostgreSQL 15, 2 cores):
heap 0.25 s, primary key 0.30 s, ``ix_ohlcv_bars_timestamp`` 0.35 s, and the
foreign key to ``tickers`` 0.5 s: its trigger runs one lookup per inserted row.
Together those two cost 60% of every bulk insert.

* Every read of bars names the ticker and timeframe, so the primary key
  (ticker, timeframe, timestamp) serves them all, retention included; the
  timestamp-only index served no query.
* Bars are written only through ``core.market.store.BarStore``, which creates
  the ticker first; forgetting a symbol deletes its bars explicitly
  (``BarStore.forget``). Bars are a cache of public market data, so an orphan
  row could at worst be re-fetched, never misstate anyone's money.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("fk_ohlcv_bars_ticker_id_tickers", "ohlcv_bars", type_="foreignkey")
    op.drop_index("ix_ohlcv_bars_timestamp", table_name="ohlcv_bars")


def downgrade() -> None:
    op.create_index("ix_ohlcv_bars_timestamp", "ohlcv_bars", ["timestamp"], unique=False)
    op.execute("DELETE FROM ohlcv_bars b WHERE NOT EXISTS (SELECT 1 FROM tickers t WHERE t.id = b.ticker_id)")
    op.create_foreign_key(
        "fk_ohlcv_bars_ticker_id_tickers", "ohlcv_bars", "tickers", ["ticker_id"], ["id"], ondelete="CASCADE"
    )
