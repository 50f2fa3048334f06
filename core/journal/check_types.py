"""The values behavioural checks work with: a proposed order, one check's result, a pre-trade evaluation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.db.models.journal import CHECK_PHASES, SEVERITIES, TRADER_ACTIONS
from core.domain.money import reference_price
from core.domain.symbols import normalize_symbol
from core.domain.tickets import OrderTicket
from core.journal.errors import InvalidJournalInput

INFO, WARN, CRITICAL = SEVERITIES
PRE_TRADE, AT_ENTRY, DURING, AT_EXIT, POST_TRADE = CHECK_PHASES
PROCEEDED, MODIFIED, CANCELLED = TRADER_ACTIONS
_RANK = {INFO: 0, WARN: 1, CRITICAL: 2}

# Pre-trade checks (run at the order ticket) and post-trade checks (run on a closed campaign).
POSITION_SIZE = "position_size"
STOP_LOSS_REQUIRED = "stop_loss_required"
REVENGE_TRADING = "revenge_trading"
OVERTRADING = "overtrading"
RISK_REWARD = "risk_reward"
RISK_PER_TRADE = "risk_per_trade"
DAILY_LOSS = "daily_loss"
OPEN_POSITIONS = "open_positions"
PRE_TRADE_CHECKS = (POSITION_SIZE, STOP_LOSS_REQUIRED, REVENGE_TRADING, OVERTRADING, RISK_REWARD, RISK_PER_TRADE,
                    DAILY_LOSS, OPEN_POSITIONS)  # fmt: skip
EXIT_WITHOUT_PLAN = "exit_without_plan"
HELD_LOSER_TOO_LONG = "held_loser_too_long"
EXCEEDED_PLANNED_STOP = "exceeded_planned_stop"
HELD_PAST_PLANNED_TIME = "held_past_planned_time"
POST_TRADE_CHECKS = (EXIT_WITHOUT_PLAN, HELD_LOSER_TOO_LONG, EXCEEDED_PLANNED_STOP, HELD_PAST_PLANNED_TIME)
ALL_CHECKS = PRE_TRADE_CHECKS + POST_TRADE_CHECKS


def worst(severities: list[str] | tuple[str, ...]) -> str | None:
    return max(severities, key=_RANK.__getitem__) if severities else None


@dataclass(frozen=True)
class CheckResult:
    """One behavioural check. ``details`` is JSON-safe (numbers as strings) and is stored as is;
    ``nudge_text`` is one sentence for the trader, None when the check passed."""

    check_type: str
    severity: str  # "info" | "warn" | "critical": how much it matters when it fails
    passed: bool
    details: Mapping[str, Any]
    nudge_text: str | None
    phase: str = PRE_TRADE


def _decimal(value: Any, field: str, *, positive: bool = True) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise InvalidJournalInput(f"The {field} must be a number.") from None
    if not number.is_finite() or (positive and number <= 0):
        raise InvalidJournalInput(f"The {field} must be a positive number.")
    return number


@dataclass(frozen=True)
class ProposedOrder:
    """An order the trader is about to place, as the checks see it.

    ``price`` is what it is expected to fill at (its limit, or the last price); ``stop`` and ``target`` are
    its planned exits (a bracket's stop-loss and take-profit), if any."""

    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    stop: Decimal | None = None
    target: Decimal | None = None

    def __post_init__(self) -> None:
        side = getattr(self.side, "value", self.side)
        if side not in ("buy", "sell"):
            raise InvalidJournalInput("The side must be buy or sell.")
        symbol = normalize_symbol(str(self.symbol))
        if not symbol:
            raise InvalidJournalInput("The symbol must not be empty.")
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "quantity", _decimal(self.quantity, "quantity"))
        object.__setattr__(self, "price", _decimal(self.price, "price"))
        for name in ("stop", "target"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _decimal(value, f"planned {name}"))

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "buy" else -self.quantity

    @classmethod
    def from_ticket(cls, ticket: OrderTicket, last_price: Decimal | None) -> ProposedOrder:
        """From a ledger ``OrderTicket`` (core.risk) and the symbol's last price: the price is the one the
        ledger judges the order at (its limit or stop, else the last price)."""
        price = reference_price(ticket, last_price)
        if price is None:
            raise InvalidJournalInput(f"No price is known for {ticket.symbol} yet.")
        return cls(ticket.symbol, ticket.side, ticket.qty, price, ticket.stop_loss_price, ticket.take_profit_price)

    def to_json(self) -> dict[str, Any]:
        out = {"symbol": self.symbol, "side": self.side, "quantity": self.quantity, "price": self.price,
               "stop": self.stop, "target": self.target}  # fmt: skip
        return {k: (format(v.normalize(), "f") if isinstance(v, Decimal) else v) for k, v in out.items()
                if v is not None}  # fmt: skip


@dataclass(frozen=True)
class PreTradeEvaluation:
    """Every applicable pre-trade check of one proposed order. Record the trader's answer with
    ``record_pre_trade_response`` (the same evaluation recorded twice updates, never duplicates)."""

    evaluation_id: uuid.UUID
    proposal: ProposedOrder
    evaluated_at: datetime
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def worst_severity(self) -> str | None:
        """Of the failed checks; None when all passed."""
        return worst([r.severity for r in self.failed])

    @property
    def nudges(self) -> tuple[str, ...]:
        """The failed checks' sentences, most severe first."""
        ordered = sorted(self.failed, key=lambda r: -_RANK[r.severity])
        return tuple(r.nudge_text for r in ordered if r.nudge_text)
