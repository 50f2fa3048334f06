"""Pre-trade checks against the database: the trader's state in one query, settings in another.

The order ticket calls ``evaluate_order`` on a worker thread each time the trader reviews an order. It costs
two queries (settings, state) and none for equity: the ticket passes the ``Portfolio`` it already shows (from
``core.ledger.overview.load_overview`` or ``Ledger.portfolio``), so the checks judge the order against
exactly the figures on screen. Settings may be loaded once and passed in (``load_check_settings``).

The state query replays only what matters: for each symbol, the fills after the last moment the position
was flat before the look-back start (00:00 New York today, or earlier by the revenge-trading window). Those
fills hold every campaign still open and every campaign closed since then, complete from their first fill,
so today's realized P&L and the last losing close are exact without reading the whole history into Python.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.journal._common import money
from core.journal.campaigns import build_campaigns
from core.journal.check_settings import CheckSettings, load_settings_in_session
from core.journal.check_types import REVENGE_TRADING, PreTradeEvaluation, ProposedOrder
from core.journal.fills import SQL_FILL_ORDER, JournalFill, fill_from_row
from core.journal.pre_trade import TraderState, evaluate_pre_trade
from core.ledger.views import Portfolio

NEW_YORK = ZoneInfo("America/New_York")
ZERO = Decimal(0)

_RECENT_FILLS = text(
    f"""
WITH ordered AS (
    SELECT f.id, f.symbol, f.side, f.quantity, f.price, f.fees, f.executed_at, f.created_at, f.execution_id,
           f.source, f.order_id, f.import_batch_id,
           row_number() OVER w AS seq,
           sum(CASE WHEN f.side = 'buy' THEN f.quantity ELSE -f.quantity END) OVER w AS position_after
      FROM fills f
     WHERE f.user_id = :user_id
    WINDOW w AS (PARTITION BY f.symbol ORDER BY {SQL_FILL_ORDER})
), last_flat AS (
    SELECT symbol, max(seq) AS seq FROM ordered WHERE position_after = 0 AND executed_at < :since GROUP BY symbol
)
SELECT o.* FROM ordered o LEFT JOIN last_flat l ON l.symbol = o.symbol
 WHERE o.seq > coalesce(l.seq, 0)
"""
)


def journal_day_start(now: datetime) -> datetime:
    """00:00 New York time of ``now``'s New York date, in UTC (the day the trader sees on the exchange clock)."""
    return datetime.combine(now.astimezone(NEW_YORK).date(), time(0), NEW_YORK).astimezone(UTC)


def recent_fills(session: Session, user_id: uuid.UUID, since: datetime) -> list[JournalFill]:
    """The fills of every campaign open now or closed at or after ``since`` (one query)."""
    return [fill_from_row(r) for r in session.execute(_RECENT_FILLS, {"user_id": user_id, "since": since})]


def trader_state(
    fills: list[JournalFill],
    *,
    now: datetime,
    equity: Decimal,
    position_qty: Decimal,
    open_positions: int,
    since: datetime,
) -> TraderState:
    """Pure: the state the checks see, from ``recent_fills`` and the ledger's figures."""
    day_start = journal_day_start(now)
    campaigns = build_campaigns(fills)
    today = [f for f in fills if day_start <= f.executed_at <= now]
    trades = len({f.order_id or f.id for f in today})
    today_effects = (e for c in campaigns for e in c.effects if day_start <= e.executed_at <= now)
    realized = money(sum((e.realized_pnl for e in today_effects), ZERO))
    recent = tuple(c for c in campaigns if not c.is_closed or (c.closed_at is not None and c.closed_at >= since))
    return TraderState(now, equity, position_qty, open_positions, day_start, trades, realized, recent)


def load_trader_state(
    session: Session,
    user_id: uuid.UUID,
    settings: CheckSettings,
    *,
    now: datetime,
    equity: Decimal,
    position_qty: Decimal,
    open_positions: int,
) -> TraderState:
    since = journal_day_start(now)
    revenge = settings.rule(REVENGE_TRADING)
    if revenge.enabled:
        since = min(since, now - timedelta(minutes=float(revenge["window_minutes"])))
    fills = recent_fills(session, user_id, since)
    return trader_state(
        fills, now=now, equity=equity, position_qty=position_qty, open_positions=open_positions, since=since
    )


def evaluate_order(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    proposal: ProposedOrder,
    portfolio: Portfolio,
    *,
    settings: CheckSettings | None = None,
    now: datetime | None = None,
) -> PreTradeEvaluation:
    """Run the pre-trade checks of ``proposal`` (blocking, two queries: a worker thread).

    ``portfolio`` is the ledger's ``Portfolio`` of this user (core.ledger.views): its equity and its
    position in the symbol are what the checks measure against. Nothing is written: record the trader's
    answer with ``record_pre_trade_response``."""
    now = now or datetime.now(UTC)
    position = next((p.qty for p in portfolio.positions if p.symbol == proposal.symbol), ZERO)
    held = sum(1 for p in portfolio.positions if p.qty != 0)
    with session_factory() as s:
        settings = settings or load_settings_in_session(s, user_id)
        state = load_trader_state(
            s, user_id, settings, now=now, equity=portfolio.equity, position_qty=position, open_positions=held
        )
    return evaluate_pre_trade(proposal, state, settings)
