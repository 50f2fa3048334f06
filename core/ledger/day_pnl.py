"""Day P&L: what the account made or lost since the current New York trading day began.

Definition (exact, in Decimal):

    day P&L = realized P&L of today's fills - fees of today's fills
              + (unrealized P&L now - unrealized P&L of the day-start holdings at the previous close)

* *Today* is the NYSE trading day: the latest session whose date is on or before New York's date now (on a
  weekend or holiday that is the last session, as a broker's statement shows it). It starts at 00:00 New York
  time of that date, so pre-market fills count, the same day boundary the watchlist's change uses.
* *Unrealized P&L now* is valued as the ledger values it: quantity times the last price less cost basis, and
  zero for a symbol with no price yet (valued at cost).
* *At the previous close*: each position as it stood when the day began (rebuilt exactly from the current
  position minus today's fills, as ``sf_apply_event`` booked them), valued at the close of the symbol's last
  stored 1-minute bar that opened before the day began (else its last daily bar before then). A symbol with
  no such bar in the bar store is valued at cost there, so its whole unrealized P&L since entry counts today;
  ``DayPnl.without_previous_close`` names them so the UI can say so.

With a previous close known for every symbol this equals the change of equity since the day began (there are
no deposits or withdrawals): equity = starting balance + realized - fees - cost basis + market value, and the
terms that did not change today cancel. Only fills the ledger booked count (they moved the account's money).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Row, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Fill, Position
from core.domain.money import money
from core.domain.timeframes import Timeframe
from core.ledger.history import LEDGER_SOURCE
from core.ledger.prices import PriceSource
from core.market.calendar import NEW_YORK, TradingCalendar

ZERO = Decimal(0)
# A ledger fill as the rebuild reads it: symbol, side, quantity, price, fees, realized P&L.
type _FillRow = Row[str, str, Decimal, Decimal, Decimal, Decimal | None]

_LAST_CLOSE = text(
    """
SELECT t.symbol, b.close
  FROM tickers t
 CROSS JOIN LATERAL (
        SELECT close FROM ohlcv_bars
         WHERE ticker_id = t.id AND timeframe = :timeframe AND timestamp < :before
         ORDER BY timestamp DESC LIMIT 1) b
 WHERE t.symbol = ANY(:symbols)
"""
)


@dataclass(frozen=True)
class DayPnl:
    trading_day: date
    since: datetime  # 00:00 New York of ``trading_day``, in UTC
    realized: Decimal  # realized P&L of the fills since then
    fees: Decimal  # fees of those fills
    unrealized_change: Decimal  # unrealized P&L now - that of the day-start holdings at the previous close
    without_previous_close: tuple[str, ...] = ()  # held at the day's start, no stored close: measured since entry

    @property
    def total(self) -> Decimal:
        return self.realized - self.fees + self.unrealized_change


def trading_day(now: datetime, calendar: TradingCalendar | None = None) -> date:
    """The NYSE trading day ``now`` belongs to: today's in New York, else the latest one before it."""
    today = now.astimezone(NEW_YORK).date()
    try:
        days = (calendar or TradingCalendar()).trading_days(now - timedelta(days=14), now + timedelta(microseconds=1))
    except ValueError:  # outside the calendar's years
        days = []
    return days[-1] if days else today


def day_start(day: date) -> datetime:
    """00:00 New York time of ``day``, in UTC."""
    return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)


def stored_previous_closes(session: Session, symbols: Iterable[str], before: datetime) -> dict[str, Decimal]:
    """Close of each symbol's last stored bar that opened before ``before`` (1-minute bars first, then daily);
    symbols with none are left out. Bar prices are float64: converted through their shortest repr, as the
    live feed converts them for the ledger's last prices."""
    wanted = sorted(set(symbols))
    found: dict[str, Decimal] = {}
    for timeframe in (Timeframe.MIN_1, Timeframe.DAY_1):
        missing = [s for s in wanted if s not in found]
        if not missing:
            break
        rows = session.execute(_LAST_CLOSE, {"timeframe": timeframe, "before": before, "symbols": missing})
        found.update((symbol, Decimal(repr(close))) for symbol, close in rows)
    return found


@dataclass
class _Holding:
    qty: Decimal = ZERO
    cost: Decimal = ZERO


def day_pnl(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    prices: PriceSource,
    *,
    now: datetime | None = None,
    calendar: TradingCalendar | None = None,
) -> DayPnl:
    """The user's day P&L (see the module docstring). ``prices`` values the current holdings: pass the
    ledger's price source, or the prices a ``Portfolio`` was valued at so both figures agree."""
    now = now or datetime.now(UTC)
    day = trading_day(now, calendar)
    since = day_start(day)
    with session_factory() as s:
        # One snapshot for positions and fills: a fill booked between two reads would skew the rebuild.
        s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        today_fills = (
            select(Fill.symbol, Fill.side, Fill.quantity, Fill.price, Fill.fees, Fill.realized_pnl)
            .where(Fill.user_id == user_id, Fill.source == LEDGER_SOURCE, Fill.executed_at >= since)
        )  # fmt: skip
        fills = s.execute(today_fills).all()
        traded = {row.symbol for row in fills}
        held = s.execute(
            select(Position.symbol, Position.quantity, Position.cost_basis).where(
                Position.user_id == user_id, or_(Position.status == "OPEN", Position.symbol.in_(traded))
            )
        ).all()
        now_by_symbol = {symbol: _Holding(qty, cost) for symbol, qty, cost in held}
        start_by_symbol = _rewind(now_by_symbol, fills)
        opened_before = [symbol for symbol, h in start_by_symbol.items() if h.qty > 0]
        closes = stored_previous_closes(s, opened_before, since) if opened_before else {}
        s.rollback()

    realized = sum((row.realized_pnl or ZERO for row in fills), ZERO)
    fees = sum((row.fees for row in fills), ZERO)
    unrealized_now = sum((_unrealized(h, prices.last_price(sym)) for sym, h in now_by_symbol.items()), ZERO)
    unrealized_start = sum((_unrealized(start_by_symbol[sym], closes.get(sym)) for sym in opened_before), ZERO)
    missing = tuple(sorted(sym for sym in opened_before if sym not in closes))
    return DayPnl(day, since, realized, fees, unrealized_now - unrealized_start, missing)


def _rewind(now: dict[str, _Holding], fills: Iterable[_FillRow]) -> dict[str, _Holding]:
    """Each position as it stood before ``fills``: undo them as ``sf_apply_event`` booked them (a buy added
    its notional to the cost basis; a sell removed its notional less the P&L it realized)."""
    start = defaultdict(_Holding, {symbol: _Holding(h.qty, h.cost) for symbol, h in now.items()})
    for row in fills:
        notional = money(row.quantity * row.price)
        h = start[row.symbol]
        if row.side == "buy":
            h.qty -= row.quantity
            h.cost -= notional
        else:
            h.qty += row.quantity
            h.cost += notional - (row.realized_pnl or ZERO)
    return dict(start)


def _unrealized(holding: _Holding, price: Decimal | None) -> Decimal:
    """As the ledger values a position: at ``price``, or at cost (zero P&L) when no price is known."""
    if price is None or holding.qty <= 0:
        return ZERO
    return money(holding.qty * price) - holding.cost
