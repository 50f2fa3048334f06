"""Helpers the SnapTrade tests share: a linked trader with a brokerage account full of transactions."""

from __future__ import annotations

import uuid

from core.services.brokerage_sync import BrokerageSync
from tests.snaptrade.standin import SnapTradeStandIn, activity, position
from tests.snaptrade.standin import User as StandInUser


def link(brokerage: BrokerageSync, standin: SnapTradeStandIn, user_id: uuid.UUID) -> StandInUser:
    """Link the trader; the SnapTrade user that registered at the stand-in."""
    before = set(standin.users)
    brokerage.link(user_id)
    (registered,) = [u for u in standin.users.values() if u.user_id not in before]
    return registered


def linked_with_trades(brokerage: BrokerageSync, standin: SnapTradeStandIn, user_id: uuid.UUID) -> StandInUser:
    """A linked trader with one Questrade account: a buy, a sell, a dividend, a deposit, a fee and an option."""
    snap = link(brokerage, standin, user_id)
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    option = activity("BUY", symbol=None, units=1, price=2.35)
    option["option_symbol"] = {"id": str(uuid.uuid4()), "ticker": "AAPL  260320C00200000", "option_type": "CALL",
                               "strike_price": 200, "expiration_date": "2026-03-20", "is_mini_option": False,
                               "underlying_symbol": {"symbol": "AAPL"}}  # fmt: skip
    account.activities = [  # newest first, as SnapTrade sends them
        option,
        activity("FEE", symbol=None, units=0, price=0, amount=-4.95, when="2026-03-02T21:00:00.000Z"),
        activity("SELL", units=-10, price=190.25, fee=1.5, when="2026-03-02T16:00:00.000Z", activity_id="t-2"),
        activity("DIVIDEND", units=0, price=0, amount=2.4, when="2026-03-02T12:00:00.000Z"),
        activity("BUY", units=10, price=187.5, fee=1.0, when="2026-03-02T15:00:00.000Z", activity_id="t-1"),
        activity("CONTRIBUTION", symbol=None, units=0, price=0, amount=5000, when="2026-03-01T12:00:00.000Z"),
    ]
    account.positions = [position("MSFT", "5", "401.2", "398.10")]
    return snap
