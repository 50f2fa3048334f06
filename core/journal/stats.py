"""Journal statistics: closed campaigns summarised overall and per strategy.

A campaign's strategy is the one the trader linked in the decision context of its first opening fill that
names one; failing that, the strategy of the first opening fill's order (a paper session's orders carry
their strategy); failing that, none (shown as "no strategy"). Only closed campaigns count: an open one has
no result yet.

* win rate = winning campaigns / closed campaigns, a ratio 0..1 (a break-even campaign is not a win);
* total and average P&L are realized P&L after fees;
* profit factor = sum of winning campaigns' P&L / |sum of losing campaigns' P&L|; None when nothing lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import DecisionContext, Fill, Order, Strategy
from core.journal._common import money
from core.journal.campaigns import Campaign, build_campaigns
from core.journal.fills import load_fills

ZERO = Decimal(0)
RATIO = Decimal("0.000001")


@dataclass(frozen=True)
class CampaignSummary:
    campaigns: int  # closed ones
    wins: int
    losses: int
    win_rate: Decimal | None  # wins / campaigns; None without campaigns
    total_pnl: Decimal
    average_pnl: Decimal | None
    gross_profit: Decimal  # sum of winners' P&L
    gross_loss: Decimal  # sum of losers' P&L (negative or zero)
    profit_factor: Decimal | None  # gross profit / |gross loss|; None when nothing lost

    @classmethod
    def of(cls, campaigns: Iterable[Campaign]) -> CampaignSummary:
        closed = [c for c in campaigns if c.is_closed]
        pnls = [c.realized_pnl for c in closed]
        profit = sum((p for p in pnls if p > 0), ZERO)
        loss = sum((p for p in pnls if p < 0), ZERO)
        total = sum(pnls, ZERO)
        n = len(closed)
        wins = sum(1 for p in pnls if p > 0)
        return cls(
            campaigns=n,
            wins=wins,
            losses=sum(1 for p in pnls if p < 0),
            win_rate=(Decimal(wins) / n).quantize(RATIO) if n else None,
            total_pnl=total,
            average_pnl=money(total / n) if n else None,
            gross_profit=profit,
            gross_loss=loss,
            profit_factor=(profit / -loss).quantize(RATIO) if loss else None,
        )


@dataclass(frozen=True)
class StrategyStats:
    strategy_id: uuid.UUID | None  # None: campaigns with no strategy
    strategy_name: str | None
    summary: CampaignSummary


def campaign_strategy(
    campaign: Campaign,
    context_strategy: Mapping[uuid.UUID, uuid.UUID | None],
    order_strategy: Mapping[uuid.UUID, uuid.UUID | None],
) -> uuid.UUID | None:
    """Pure: the campaign's strategy (see the module docstring); maps are by fill id."""
    opening = [e.fill_id for e in campaign.effects if e.opened > 0]
    for fill_id in opening:
        if context_strategy.get(fill_id) is not None:
            return context_strategy[fill_id]
    return order_strategy.get(opening[0]) if opening else None


def summarize_by_strategy(
    campaigns: Iterable[Campaign],
    context_strategy: Mapping[uuid.UUID, uuid.UUID | None],
    order_strategy: Mapping[uuid.UUID, uuid.UUID | None],
    names: Mapping[uuid.UUID, str] | None = None,
) -> list[StrategyStats]:
    """Pure: one StrategyStats per strategy with closed campaigns, most total P&L first, "no strategy" last."""
    groups: dict[uuid.UUID | None, list[Campaign]] = {}
    for c in campaigns:
        if c.is_closed:
            groups.setdefault(campaign_strategy(c, context_strategy, order_strategy), []).append(c)
    names = names or {}
    stats = [StrategyStats(sid, names.get(sid) if sid else None, CampaignSummary.of(cs)) for sid, cs in groups.items()]
    return sorted(stats, key=lambda s: (s.strategy_id is None, -s.summary.total_pnl, s.strategy_name or ""))


def _strategy_maps(session: Session, user_id: uuid.UUID) -> tuple[dict, dict, dict]:
    rows = session.execute(
        select(Fill.id, DecisionContext.strategy_id, Order.strategy_id)
        .outerjoin(DecisionContext, (DecisionContext.fill_id == Fill.id) & (DecisionContext.user_id == user_id))
        .outerjoin(Order, (Order.id == Fill.order_id) & (Order.user_id == user_id))
        .where(Fill.user_id == user_id)
    ).all()
    by_context = {fill_id: sid for fill_id, sid, _ in rows if sid is not None}
    by_order = {fill_id: sid for fill_id, _, sid in rows if sid is not None}
    ids = set(by_context.values()) | set(by_order.values())
    names = {}
    if ids:
        names = dict(
            session.execute(
                select(Strategy.id, Strategy.name).where(
                    Strategy.id.in_(ids), or_(Strategy.user_id == user_id, Strategy.is_public)
                )
            ).all()
        )
    return by_context, by_order, names


def _closed_between(c: Campaign, since: datetime | None, until: datetime | None) -> bool:
    if c.closed_at is None:
        return False
    return (since is None or c.closed_at >= since) and (until is None or c.closed_at < until)


def strategy_stats(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StrategyStats]:
    """Per-strategy statistics of the user's closed campaigns (closed in [since, until) when given). Blocking."""
    with session_factory() as s:
        campaigns = build_campaigns(load_fills(s, user_id))
        by_context, by_order, names = _strategy_maps(s, user_id)
    chosen = [c for c in campaigns if _closed_between(c, since, until)]
    return summarize_by_strategy(chosen, by_context, by_order, names)


def overall_stats(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CampaignSummary:
    """All the user's closed campaigns (closed in [since, until) when given), summarised. Blocking."""
    with session_factory() as s:
        campaigns = build_campaigns(load_fills(s, user_id))
    return CampaignSummary.of(c for c in campaigns if _closed_between(c, since, until))
