"""A new trader's first hour: the editor's template, started as a paper session under the default risk limits,
places its orders; a refusal that comes back on every bar is one line naming the limit to change."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core.db.models import Order
from core.db.models import Signal as SignalRow
from core.strategy.library import NEW_STRATEGY_TEMPLATE
from tests.paper.helpers import series

D = Decimal
# 60 falling closes of history (the template's slow average needs 50), then a rise: the fast average crosses
# above the slow one within the first live bars.
HISTORY = [130 - 0.5 * i for i in range(60)]
RISE = [101 + 2 * i for i in range(12)]


def signals(db, session_id) -> list[SignalRow]:
    with db.session_factory() as s:
        return list(s.scalars(select(SignalRow).where(SignalRow.session_id == session_id)
                              .order_by(SignalRow.bar_timestamp, SignalRow.generated_at)))  # fmt: skip


def orders(db, user_id) -> list[Order]:
    with db.session_factory() as s:
        return list(s.scalars(select(Order).where(Order.user_id == user_id)))


def test_the_template_started_as_a_paper_session_with_default_limits_gets_its_first_order_accepted(
    db, ledger, manager, market, history, make_user, save
):
    history.add(*series(HISTORY, -len(HISTORY) - 12))
    newcomer = make_user("newcomer")  # the default risk settings of a new account: $100,000, $25,000 per order
    saved = save(newcomer, "SMA cross", NEW_STRATEGY_TEMPLATE)
    info = manager.start(newcomer, saved.id, ["ACME"])
    market.feed(*series(RISE, 0, prev=HISTORY[-1]))

    first = signals(db, info.id)[0]
    assert (first.action, first.status, first.reason) == ("BUY", "EXECUTED", None)
    ledger.flush_acceptances()
    [order] = orders(db, newcomer)
    assert order.status in ("accepted", "filled") and order.signal_id == first.id
    # 15% of equity: inside the $25,000 order and $20,000 position limits
    assert order.quantity * Decimal(repr(first.signal_metadata["bar_close"])) <= D("15000")
    assert all(s.status == "EXECUTED" for s in signals(db, info.id))


def test_the_old_all_in_template_is_refused_once_with_the_limit_to_change_not_on_every_bar(
    db, manager, market, history, make_user, save
):
    history.add(*series(HISTORY, -len(HISTORY) - 12))
    trader = make_user("allin")
    all_in = NEW_STRATEGY_TEMPLATE.replace("order_target(fraction=0.15)", "order_target(fraction=1.0)")
    info = manager.start(trader, save(trader, "All in", all_in).id, ["ACME"])
    market.feed(*series(RISE, 0, prev=HISTORY[-1]))

    stored = signals(db, info.id)
    assert len(stored) > 1 and all(s.status == "REJECTED" for s in stored)  # every bar's decision is kept
    [shown] = manager.signals(info.id, trader)  # one line in the session's list
    assert shown.id == stored[0].id
    assert shown.reason is not None and shown.reason.endswith(
        f"exceeds your limit of $25,000.00 (max order value: change it in Settings > Risk) - repeated on "
        f"{len(stored)} bars."
    )
    assert shown.metadata["repeated"] == len(stored) and orders(db, trader) == []
