"""The session's side of the sandbox: decide at one closed bar, given a window of bars and the account.

A paper session calls this once per closed bar. In the sandbox child (``run_sandboxed`` with driver
``core.paper.sandboxed:decide``) it receives the class a trader's source defines; built-in strategies call
:func:`decide_with` in the session's own thread. Either way the strategy is rebuilt from the window on every
bar: ``init`` over the whole window, ``next`` over each of its bars with the intents of all but the last bar
thrown away (they were decided, or not, when those bars closed), and the last bar's intents returned as plain
data. State a strategy keeps on ``self`` between bars is therefore rebuilt from the window, with the current
account shown at every step; only the account is remembered between bars, by the ledger.

Nothing here imports the database, the ledger or Qt: the child loads this module before its limits apply.
"""

from __future__ import annotations

import math
from typing import Any

from core.strategy.api import BarData, OrderIntent, Strategy, StrategyError


def decide(target: Any, window: BarData, params: dict[str, Any], account: dict[str, float]) -> dict[str, Any]:
    """The trusted driver: ``target`` is the object the trader's source defines under the session's class name."""
    if not (isinstance(target, type) and issubclass(target, Strategy)):
        raise StrategyError(f"{getattr(target, '__name__', 'the entry')} is not a Strategy class")
    return decide_with(target, window, params, account)


def decide_with(
    cls: type[Strategy], window: BarData, params: dict[str, Any], account: dict[str, float]
) -> dict[str, Any]:
    """``{"intents": [...], "params": {...}}``: the intents of the window's last bar as dicts, and the
    parameter values the strategy ran with (its defaults filled in)."""
    if len(window) == 0:
        return {"intents": [], "params": {}}
    strategy = cls(**params)
    state = strategy.account
    state.cash = float(account.get("cash", 0.0))
    state.equity = float(account.get("equity", 0.0))
    state.position = float(account.get("position", 0.0))
    price = account.get("position_price")
    state.position_price = float(price) if price is not None else math.nan
    lagged = strategy.prepare(window)
    last = len(window) - 1
    step = strategy.step
    for i in range(last):
        step(i, lagged)
    intents = step(last, lagged)
    return {"intents": [intent_dict(x) for x in intents], "params": dict(strategy.values)}


def intent_dict(intent: OrderIntent) -> dict[str, Any]:
    """An intent as plain data (what crosses back from the child, and what a signal's metadata keeps)."""
    return {
        "kind": intent.kind.value, "bar": int(intent.bar), "shares": intent.shares, "percent": intent.percent,
        "value": intent.value, "limit": intent.limit, "stop": intent.stop, "stop_loss": intent.stop_loss,
        "take_profit": intent.take_profit, "tag": str(intent.tag),
    }  # fmt: skip
