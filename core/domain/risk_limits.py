"""A trader's risk limits as plain values: what the risk rules judge an order against."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class RiskLimits:
    """The user's risk_settings row as plain values."""

    daily_loss_limit: Decimal
    max_position_size: Decimal
    max_order_value: Decimal
    max_open_orders: int
    max_drawdown_percent: Decimal
    max_risk_per_trade: Decimal  # percent of equity
    duplicate_window_seconds: int
    allow_fractional: bool
