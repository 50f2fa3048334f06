"""Backtest settings survive a trip through JSON exactly (a resumed batch must run with the same costs)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.backtest.config_io import config_from_dict, config_to_dict
from core.backtest.engine import BacktestConfig
from core.broker.fill_costs import BpsSlippage, FixedSlippage, PercentCommission, PerShareCommission
from core.broker.fill_model import FillModel

D = Decimal


@pytest.mark.parametrize(
    "config",
    [
        BacktestConfig(),
        BacktestConfig(D("25000.50"), FillModel(FixedSlippage(D("0.02")), PerShareCommission(D("0.005"), D("1")))),
        BacktestConfig(D("1000"), FillModel(BpsSlippage(D("2.5")), PercentCommission(D("0.1")), D("0.1")),
                       fractional=True, close_at_end=False),
    ],
    ids=["defaults", "fixed-per-share", "bps-percent-capped"],
)  # fmt: skip
def test_round_trip_is_exact(config):
    stored = json.loads(json.dumps(config_to_dict(config)))  # what JSONB gives back
    assert config_from_dict(stored) == config


def test_an_unknown_cost_model_is_refused_rather_than_stored_wrongly():
    class Custom:
        def fee(self, price, qty):
            return Decimal(0)

    with pytest.raises(ValueError, match="cannot store commission model"):
        config_to_dict(BacktestConfig(fill_model=FillModel(commission=Custom())))
