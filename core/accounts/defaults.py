"""What a new account starts with: profile, risk limits, behavioural rules.

Risk limits are set relative to the starting balance so a club that changes
the default balance gets proportionate limits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.domain.display_time import DEFAULT_ZONE
from core.domain.timeframes import Timeframe

DEFAULT_STARTING_BALANCE = Decimal("100000")


def default_profile(balance: Decimal) -> dict[str, Any]:
    return {
        "account_balance": str(balance),
        "default_timeframes": [Timeframe.MIN_1, Timeframe.DAY_1],
        "experience_level": "intermediate",
        "trading_style": "swing",
        "primary_markets": ["us_equity"],
    }


def default_risk_profile() -> dict[str, Any]:
    # 003 risk_profile keys, read by the journal's behavioural checks.
    return {
        "max_position_size_pct": 20,
        "max_risk_per_trade_pct": 2,
        "max_daily_loss_pct": 3,
        "min_risk_reward_ratio": 1.5,
        "max_open_positions": 10,
        "stop_loss_required": False,
    }


def default_site_prefs() -> dict[str, Any]:
    # time_zone: where shown times are read (core/domain/display_time.py), exchange (New York) unless chosen
    return {"theme": "dark", "time_zone": DEFAULT_ZONE.value, "notifications_enabled": True, "language": "en"}


def default_risk_settings(balance: Decimal) -> dict[str, Any]:
    """Column values for ``risk_settings`` (004), the ledger's pre-trade limits."""
    return {
        "daily_loss_limit": balance * Decimal("0.03"),
        "max_position_size": balance * Decimal("0.20"),
        "max_order_value": balance * Decimal("0.25"),
        "max_open_orders": 20,
        "max_drawdown_percent": Decimal("20"),
        "max_risk_per_trade": Decimal("2"),
        "duplicate_window_seconds": 5,
        "allow_fractional": True,
    }
