"""Backtest settings as JSON and back: a stored batch must resume with exactly the costs it started with.

Only the fill model's known cost types are written; an unknown one is refused rather than stored in
a form that could not be read back (a resumed batch with different costs would be dishonest).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.backtest.engine import BacktestConfig
from core.broker.fill_costs import (
    BpsSlippage,
    FixedSlippage,
    NoSlippage,
    PercentCommission,
    PerShareCommission,
    ZeroCommission,
)
from core.broker.fill_model import FillModel


def _slippage_to_dict(model: Any) -> dict[str, str]:
    if isinstance(model, NoSlippage):
        return {"type": "none"}
    if isinstance(model, FixedSlippage):
        return {"type": "fixed", "per_share": str(model.per_share)}
    if isinstance(model, BpsSlippage):
        return {"type": "bps", "bps": str(model.bps)}
    raise ValueError(f"cannot store slippage model {model!r}")


def _commission_to_dict(model: Any) -> dict[str, str]:
    if isinstance(model, ZeroCommission):
        return {"type": "zero"}
    if isinstance(model, PerShareCommission):
        return {"type": "per_share", "per_share": str(model.per_share), "minimum": str(model.minimum)}
    if isinstance(model, PercentCommission):
        return {"type": "percent", "percent": str(model.percent)}
    raise ValueError(f"cannot store commission model {model!r}")


def config_to_dict(config: BacktestConfig) -> dict[str, Any]:
    fm = config.fill_model
    return {
        "starting_cash": str(config.starting_cash),
        "fractional": config.fractional,
        "close_at_end": config.close_at_end,
        "slippage": _slippage_to_dict(fm.slippage),
        "commission": _commission_to_dict(fm.commission),
        "max_volume_fraction": None if fm.max_volume_fraction is None else str(fm.max_volume_fraction),
    }


def config_from_dict(data: dict[str, Any]) -> BacktestConfig:
    slip, fee = data.get("slippage", {"type": "none"}), data.get("commission", {"type": "zero"})
    slippage: Any = {
        "none": lambda: NoSlippage(),
        "fixed": lambda: FixedSlippage(Decimal(slip["per_share"])),
        "bps": lambda: BpsSlippage(Decimal(slip["bps"])),
    }[slip["type"]]()
    commission: Any = {
        "zero": lambda: ZeroCommission(),
        "per_share": lambda: PerShareCommission(Decimal(fee["per_share"]), Decimal(fee.get("minimum", "0"))),
        "percent": lambda: PercentCommission(Decimal(fee["percent"])),
    }[fee["type"]]()
    cap = data.get("max_volume_fraction")
    return BacktestConfig(
        starting_cash=Decimal(data.get("starting_cash", "100000")),
        fill_model=FillModel(slippage, commission, None if cap is None else Decimal(cap)),
        fractional=bool(data.get("fractional", False)),
        close_at_end=bool(data.get("close_at_end", True)),
    )
