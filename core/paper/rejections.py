"""A rejection that repeats on every bar, said once: which limit refused the order, where to change it, how often.

A strategy whose orders a risk limit refuses decides the same order again at the next bar, and is refused again:
the editor's first template against the default limits made 37 red rows in 37 minutes, each with a slightly
different order value. A session therefore keeps one row per *run* of rejections: consecutive refusals of the same
symbol and side by the same rule. The first refusal of a run is the row the trader sees; each repeat updates it
(the latest reason, "repeated on N bars") and is itself stored marked ``repeat_of`` that row, so the signals table
keeps every bar's decision while the session's list (``records.signals_of``) shows one line. A signal of the
symbol that is not refused ends the run.

A refusal by a limit the trader sets names the setting to change ("max order value: change it in Settings >
Risk"), from the one list of setting labels (core.accounts.risk_settings.LABELS).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.accounts.risk_settings import LABELS
from core.domain.orders import OrderSide

# Risk rule code (core.risk.rules) -> the risk setting that decides it.
RULE_SETTINGS = {
    "max_order_value": "max_order_value",
    "max_position_size": "max_position_size",
    "max_open_orders": "max_open_orders",
    "daily_loss_limit": "daily_loss_limit",
    "max_drawdown": "max_drawdown_percent",
    "max_risk_per_trade": "max_risk_per_trade",
    "duplicate_order": "duplicate_window_seconds",
}
SETTINGS_PLACE = "Settings > Risk"
SIZING_RULE = "sizing"  # the session's own sizing refused the intent (no cash, no shares to sell, a short)


def with_setting(reason: str, rule: str) -> str:
    """``reason`` followed by the setting that decides ``rule`` and where to change it, when the trader sets one."""
    setting = RULE_SETTINGS.get(rule)
    if setting is None:
        return reason
    return f"{reason.rstrip('.')} ({LABELS[setting].lower()}: change it in {SETTINGS_PLACE})."


def repeated(reason: str, count: int) -> str:
    """The reason of a run of ``count`` refusals (count > 1), as the session's list shows it."""
    return f"{reason.rstrip('.')} - repeated on {count} bars."


@dataclass(frozen=True)
class RejectionRun:
    """Consecutive refusals of one symbol and side by one rule: ``first`` is the signal the trader sees."""

    side: OrderSide
    rule: str
    first: uuid.UUID
    count: int = 1


class RejectionRuns:
    """Each symbol's current run of refusals in one session (in memory: a restarted session starts new runs)."""

    def __init__(self) -> None:
        self._runs: dict[str, RejectionRun] = {}

    def refused(self, symbol: str, side: OrderSide, rule: str) -> RejectionRun | None:
        """The run this refusal continues (its count including this one), or None when it starts a new one (then
        ``started`` must be told the new run's first signal)."""
        run = self._runs.get(symbol)
        if run is None or run.side is not side or run.rule != rule:
            return None
        run = RejectionRun(run.side, run.rule, run.first, run.count + 1)
        self._runs[symbol] = run
        return run

    def started(self, symbol: str, side: OrderSide, rule: str, first: uuid.UUID) -> None:
        self._runs[symbol] = RejectionRun(side, rule, first)

    def ended(self, symbol: str) -> None:
        """A signal of ``symbol`` that was not refused: the next refusal starts a new run."""
        self._runs.pop(symbol, None)
