"""Campaigns: a trader's fills of one symbol grouped flat-to-flat, with FIFO lot P&L. Pure: no database.

A campaign starts at the fill that leaves a flat position and ends at the fill that brings it back to zero.
A fill that goes *through* zero (long 10, sell 15) closes one campaign and opens the next in the same fill:
it belongs to both, its quantity split between them (10 close the long, 5 open a short) and its fee split in
the same proportion (the closing share rounded to the micro-dollar, the opening share the exact rest, so the
two add up to the fee). ``group_id`` is the id of the campaign's first fill, the flip fill for the campaign it
opens, so a rebuild always gives the same ids (seed 003 ``campaign_fills``).

Inside a campaign, closing shares are matched against the oldest open lots first (FIFO). For a long,
gross P&L = (exit price - lot price) x shares; for a short (broker imports may be short even though the
ledger never is), (lot price - exit price) x shares. ``realized_pnl`` is the gross P&L less every fee the
campaign paid (entries included: they are the cost of the trade), rounded to the micro-dollar as the ledger
stores money. For an open campaign it is what the closes so far made less the fees so far.

``max_cost`` is the largest cost of the lots held at once (shares x their entry prices; for a short, the
proceeds of the shares sold short) and ``return_on_max_cost`` = realized P&L / max cost, a plain ratio
(0.05 = 5 %), not annualised.
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from core.journal._common import money
from core.journal.fills import BUY, JournalFill

LONG, SHORT = "long", "short"
OPEN, CLOSED = "open", "closed"
ZERO = Decimal(0)
RATIO_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class FillEffect:
    """What one fill did inside one campaign (a flip fill has one effect in each of its two campaigns)."""

    fill_id: uuid.UUID
    group_id: uuid.UUID
    executed_at: datetime
    side: str
    price: Decimal
    opened: Decimal  # shares this fill added to the campaign's position
    closed: Decimal  # shares it closed (FIFO)
    gross_pnl: Decimal  # of the shares it closed, before fees
    fees: Decimal  # this campaign's share of the fill's fee
    position_after: Decimal  # signed (short < 0), inside this campaign

    @property
    def realized_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees


@dataclass(frozen=True)
class Campaign:
    group_id: uuid.UUID
    symbol: str
    direction: str  # "long" | "short"
    effects: tuple[FillEffect, ...]  # in replay order
    opened_at: datetime
    closed_at: datetime | None  # None while open
    max_position: Decimal  # largest absolute position, in shares
    max_cost: Decimal
    gross_pnl: Decimal
    fees: Decimal
    open_quantity: Decimal  # shares still held (absolute); 0 once closed
    open_cost: Decimal  # cost of those shares
    entry_quantity: Decimal  # shares opened, over the whole campaign
    entry_value: Decimal
    exit_quantity: Decimal  # shares closed
    exit_value: Decimal

    @property
    def fill_ids(self) -> tuple[uuid.UUID, ...]:
        return tuple(e.fill_id for e in self.effects)

    @property
    def num_fills(self) -> int:
        return len(self.effects)

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def status(self) -> str:
        return CLOSED if self.is_closed else OPEN

    @property
    def realized_pnl(self) -> Decimal:
        """Gross P&L less fees, rounded to the micro-dollar (see the module docstring)."""
        return money(self.gross_pnl - self.fees)

    @property
    def return_on_max_cost(self) -> Decimal | None:
        if self.max_cost <= 0:
            return None
        return (self.realized_pnl / self.max_cost).quantize(RATIO_PLACES)

    @property
    def holding_time(self) -> timedelta | None:
        """Open to close; None while open."""
        return self.closed_at - self.opened_at if self.closed_at is not None else None

    @property
    def last_fill_at(self) -> datetime:
        return self.effects[-1].executed_at

    @property
    def avg_entry_price(self) -> Decimal | None:
        return self.entry_value / self.entry_quantity if self.entry_quantity else None

    @property
    def avg_exit_price(self) -> Decimal | None:
        return self.exit_value / self.exit_quantity if self.exit_quantity else None

    @property
    def is_win(self) -> bool:
        """A closed campaign that made money after fees (break-even is not a win)."""
        return self.is_closed and self.realized_pnl > 0

    @property
    def is_loss(self) -> bool:
        return self.is_closed and self.realized_pnl < 0


class _Builder:
    """One campaign while its fills are replayed."""

    def __init__(self, group_id: uuid.UUID, symbol: str, direction: str, opened_at: datetime) -> None:
        self.group_id, self.symbol, self.direction, self.opened_at = group_id, symbol, direction, opened_at
        self.sign = 1 if direction == LONG else -1
        self.lots: deque[list[Decimal]] = deque()  # [shares, price], oldest first
        self.effects: list[FillEffect] = []
        self.position = ZERO  # absolute
        self.max_position = self.max_cost = self.open_cost = ZERO
        self.gross = self.fees = ZERO
        self.entry_qty = self.entry_value = self.exit_qty = self.exit_value = ZERO

    def open(self, fill: JournalFill, shares: Decimal, fee: Decimal) -> None:
        self.lots.append([shares, fill.price])
        self.position += shares
        self.open_cost += shares * fill.price
        self.entry_qty += shares
        self.entry_value += shares * fill.price
        self.max_position = max(self.max_position, self.position)
        self.max_cost = max(self.max_cost, self.open_cost)
        self._effect(fill, opened=shares, closed=ZERO, gross=ZERO, fee=fee)

    def close(self, fill: JournalFill, shares: Decimal, fee: Decimal) -> None:
        left, gross = shares, ZERO
        while left > 0:
            lot = self.lots[0]
            matched = min(left, lot[0])
            gross += (fill.price - lot[1]) * matched * self.sign
            self.open_cost -= matched * lot[1]
            lot[0] -= matched
            left -= matched
            if lot[0] == 0:
                self.lots.popleft()
        self.position -= shares
        self.exit_qty += shares
        self.exit_value += shares * fill.price
        self.gross += gross
        self._effect(fill, opened=ZERO, closed=shares, gross=gross, fee=fee)

    def _effect(self, fill: JournalFill, *, opened: Decimal, closed: Decimal, gross: Decimal, fee: Decimal) -> None:
        self.fees += fee
        self.effects.append(
            FillEffect(fill.id, self.group_id, fill.executed_at, fill.side, fill.price, opened, closed, gross, fee,
                       self.position * self.sign)
        )  # fmt: skip

    def finish(self, closed_at: datetime | None) -> Campaign:
        return Campaign(
            group_id=self.group_id,
            symbol=self.symbol,
            direction=self.direction,
            effects=tuple(self.effects),
            opened_at=self.opened_at,
            closed_at=closed_at,
            max_position=self.max_position,
            max_cost=money(self.max_cost),
            gross_pnl=money(self.gross),
            fees=self.fees,
            open_quantity=self.position,
            open_cost=money(self.open_cost),
            entry_quantity=self.entry_qty,
            entry_value=money(self.entry_value),
            exit_quantity=self.exit_qty,
            exit_value=money(self.exit_value),
        )


def _direction(signed: Decimal) -> str:
    return LONG if signed > 0 else SHORT


def _symbol_campaigns(symbol: str, fills: list[JournalFill]) -> list[Campaign]:
    done: list[Campaign] = []
    current: _Builder | None = None
    position = ZERO  # signed
    for fill in fills:
        signed = fill.signed_quantity
        if current is None:
            current = _Builder(fill.id, symbol, _direction(signed), fill.executed_at)
            current.open(fill, fill.quantity, fill.fees)
            position = signed
            continue
        if (signed > 0) == (position > 0):  # adding to the position
            current.open(fill, fill.quantity, fill.fees)
            position += signed
            continue
        closing = min(fill.quantity, abs(position))
        rest = fill.quantity - closing
        close_fee = fill.fees if rest == 0 else money(fill.fees * closing / fill.quantity)
        current.close(fill, closing, close_fee)
        position += closing if signed > 0 else -closing
        if position == 0:
            done.append(current.finish(fill.executed_at))
            current = None
        if rest > 0:  # through zero: the same fill opens the next campaign
            current = _Builder(fill.id, symbol, _direction(signed), fill.executed_at)
            current.open(fill, rest, fill.fees - close_fee)
            position = rest if signed > 0 else -rest
    if current is not None:
        done.append(current.finish(None))
    return done


def build_campaigns(fills: Iterable[JournalFill]) -> list[Campaign]:
    """Every campaign of ``fills`` (any order, any symbols), ordered by opening time, then symbol.

    Fills are replayed per symbol in the journal's fill order (``JournalFill.sort_key``)."""
    by_symbol: dict[str, list[JournalFill]] = defaultdict(list)
    for fill in fills:
        by_symbol[fill.symbol].append(fill)
    campaigns: list[Campaign] = []
    for symbol in sorted(by_symbol):
        campaigns += _symbol_campaigns(symbol, sorted(by_symbol[symbol], key=lambda f: f.sort_key))
    campaigns.sort(key=lambda c: (c.opened_at, c.symbol))  # stable: a symbol's campaigns keep their order
    return campaigns


def memberships(campaigns: Iterable[Campaign]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(group_id, fill_id) pairs, the rows of ``campaign_fills``."""
    return [(c.group_id, e.fill_id) for c in campaigns for e in c.effects]


ENTRY, ADD, REDUCE, EXIT = "entry", "add", "reduce", "exit"


def infer_context_type(position_before: Decimal, signed_quantity: Decimal) -> str:
    """What a fill did to the position it met: entry (from flat), add, reduce, or exit (to flat, or through
    zero: a flip ends the campaign it closes, which is what the trader decided first)."""
    if position_before == 0:
        return ENTRY
    if (signed_quantity > 0) == (position_before > 0):
        return ADD
    return REDUCE if abs(signed_quantity) < abs(position_before) else EXIT


def positions_before(fills: Iterable[JournalFill]) -> dict[uuid.UUID, Decimal]:
    """Signed position of the fill's symbol just before each fill, replaying in the journal's order."""
    position: dict[str, Decimal] = defaultdict(lambda: ZERO)
    before: dict[uuid.UUID, Decimal] = {}
    for fill in sorted(fills, key=lambda f: f.sort_key):
        before[fill.id] = position[fill.symbol]
        position[fill.symbol] += fill.signed_quantity
    return before


__all__ = [
    "BUY",
    "CLOSED",
    "LONG",
    "OPEN",
    "SHORT",
    "Campaign",
    "FillEffect",
    "build_campaigns",
    "infer_context_type",
    "memberships",
    "positions_before",
]
