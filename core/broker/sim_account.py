"""The aggregate cash and positions SimBroker keeps for the one shared (simulated) account.

Virtual accounts live in the ledger; this is the broker-side total that the ledger reconciles
against, exactly like the real Alpaca paper account. Positions are signed (a short is negative; its
sale's proceeds are in cash), and buying power follows the ledger's margin rule (core.domain.money):
cash less 150% of the shorts' market value, never below 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.domain.money import buying_power
from core.domain.orders import Account, BrokerPosition, OrderSide

ACCOUNT_ID = "sim"


@dataclass
class _Position:
    qty: Decimal = Decimal("0")  # signed: negative is short
    avg_entry_price: Decimal = Decimal("0")


@dataclass
class SimAccount:
    cash: Decimal
    _positions: dict[str, _Position] = field(default_factory=dict)
    _last_price: dict[str, Decimal] = field(default_factory=dict)

    def apply_fill(self, symbol: str, side: OrderSide, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        """Move cash and the position by one execution (fees are paid from cash)."""
        signed = qty if side is OrderSide.BUY else -qty
        self.cash -= signed * price + fee
        pos = self._positions.setdefault(symbol, _Position())
        new_qty = pos.qty + signed
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            # opening or adding: weighted average entry
            pos.avg_entry_price = (pos.avg_entry_price * abs(pos.qty) + price * qty) / abs(new_qty)
        elif new_qty != 0 and (new_qty > 0) != (pos.qty > 0):
            pos.avg_entry_price = price  # flipped through zero: the remainder opened at this price
        pos.qty = new_qty
        if pos.qty == 0:
            del self._positions[symbol]

    def position_qty(self, symbol: str) -> Decimal:
        """Signed: negative when the account is short ``symbol``."""
        pos = self._positions.get(symbol)
        return pos.qty if pos is not None else Decimal("0")

    def mark(self, symbol: str, price: Decimal) -> None:
        self._last_price[symbol] = price

    def positions(self) -> list[BrokerPosition]:
        result = []
        for symbol in sorted(self._positions):
            pos = self._positions[symbol]
            last = self._last_price.get(symbol)
            result.append(
                BrokerPosition(
                    symbol=symbol,
                    qty=pos.qty,
                    avg_entry_price=pos.avg_entry_price.quantize(Decimal("0.000001")),
                    market_value=None if last is None else pos.qty * last,
                )
            )
        return result

    def account(self) -> Account:
        """Equity marks positions at the last bar's close seen for the symbol (entry price if none)."""
        values = {s: p.qty * self._last_price.get(s, p.avg_entry_price) for s, p in self._positions.items()}
        shorts = (v for s, v in values.items() if self._positions[s].qty < 0)
        return Account(
            id=ACCOUNT_ID,
            status="ACTIVE",
            cash=self.cash,
            buying_power=max(buying_power(self.cash, shorts), Decimal("0")),
            equity=self.cash + sum(values.values(), Decimal("0")),
        )
