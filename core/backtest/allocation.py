"""Allocation strategies (seed 002): weighted tickers, rebalanced on a schedule, compared with a benchmark.

The pieces live in ``allocation_*`` modules; this one gathers their public names:

* :class:`AllocationSpec` (``allocation_spec``): the validated weights, rhythm, time and benchmark,
  parsed from ``strategies.elements`` by :meth:`AllocationSpec.from_elements`;
* :class:`RebalanceSchedule` (``allocation_schedule``): when a rebalance is due, from the NYSE calendar;
* :class:`Rebalancer` and :func:`plan_rebalance` (``allocation_plan``): the pure decision, shared by the
  backtester and a live paper session;
* :func:`run_allocation_backtest` (``allocation_run``): the multi-symbol backtest and its
  :class:`AllocationRun`.
"""

from core.backtest.allocation_plan import (
    Decision,
    RebalanceOrder,
    RebalancePlan,
    Rebalancer,
    current_weights,
    plan_rebalance,
    within_drift,
)
from core.backtest.allocation_run import AllocationFill, AllocationRun, Rebalance, run_allocation_backtest
from core.backtest.allocation_schedule import RebalanceSchedule
from core.backtest.allocation_spec import DEFAULT_AT, REBALANCE_FREQUENCIES, AllocationError, AllocationSpec

__all__ = [
    "DEFAULT_AT",
    "REBALANCE_FREQUENCIES",
    "AllocationError",
    "AllocationFill",
    "AllocationRun",
    "AllocationSpec",
    "Decision",
    "Rebalance",
    "RebalanceOrder",
    "RebalancePlan",
    "RebalanceSchedule",
    "Rebalancer",
    "current_weights",
    "plan_rebalance",
    "run_allocation_backtest",
    "within_drift",
]
