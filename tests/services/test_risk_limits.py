"""The settings dialog's risk limits: the defaults for a fresh account, saved limits read back, bad ones refused."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from core.accounts.risk_settings import InvalidRiskLimits
from core.services.risk_limits import RiskLimitsStore

D = Decimal


@pytest.fixture
def store(sessions) -> RiskLimitsStore:
    return RiskLimitsStore(sessions)


def test_saved_limits_are_read_back_for_their_trader_only(store, make_user):
    nia, ozzy = make_user("nia"), make_user("ozzy")
    before = store.load(ozzy)
    wanted = dataclasses.replace(store.load(nia), max_order_value=D("2500.00"), max_open_orders=3)

    assert store.save(nia, wanted) == wanted
    assert store.load(nia) == wanted
    assert store.load(ozzy) == before


def test_limits_out_of_range_are_refused_with_a_reason_and_nothing_is_stored(store, make_user):
    pat = make_user("pat")
    before = store.load(pat)
    with pytest.raises(InvalidRiskLimits) as refused:
        store.save(pat, dataclasses.replace(before, max_open_orders=-1))
    assert "max_open_orders" in refused.value.problems
    assert store.load(pat) == before
