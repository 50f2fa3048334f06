"""The fill costs a trader sets in a form (starting cash, a per-share commission), as the engine's config.

The Backtest and Batch panels both offer these two fields; building the engine's ``BacktestConfig`` here keeps
the per-bar engine and the fill model out of the app (an import-linter contract says so), and means both panels
turn the same numbers into the same fills.
"""

from __future__ import annotations

from decimal import Decimal

from core.backtest.engine import BacktestConfig
from core.broker.fill_costs import CommissionModel, PerShareCommission, ZeroCommission
from core.broker.fill_model import FillModel

__all__ = ["DEFAULT_CASH", "BacktestConfig", "per_share_config"]  # BacktestConfig: for the forms' annotations

DEFAULT_CASH = BacktestConfig().starting_cash


def per_share_config(per_share: Decimal, cash: Decimal = DEFAULT_CASH) -> BacktestConfig:
    """``cash`` to start with and ``per_share`` commission on every fill (none at 0); no slippage."""
    commission: CommissionModel = PerShareCommission(per_share) if per_share > 0 else ZeroCommission()
    return BacktestConfig(cash, FillModel(commission=commission))
