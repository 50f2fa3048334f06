"""The fill model's rules: the ones traders check first when they stop trusting a simulator."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from core.broker.fill_costs import (
    BpsSlippage,
    FixedSlippage,
    NoSlippage,
    PercentCommission,
    PerShareCommission,
    SlippageModel,
    ZeroCommission,
)
from core.broker.fill_model import (
    BracketLeg,
    FillDecision,
    FillModel,
    WorkingOrder,
    evaluate_bracket_exit,
    finalize_price,
)
from core.broker.fill_prices import clamp_to_bar, is_on_tick, round_against, tick_size, to_decimal
from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide, OrderType

BUY, SELL = OrderSide.BUY, OrderSide.SELL
D = Decimal
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def bar(o: float, h: float, lo: float, c: float, volume: float = 1_000_000.0) -> NormalizedBar:
    return NormalizedBar("AAPL", "1Min", T0, o, h, lo, c, volume)


def market(side: OrderSide, qty: str = "10") -> WorkingOrder:
    return WorkingOrder(side, OrderType.MARKET, D(qty))


def limit(side: OrderSide, price: str, qty: str = "10") -> WorkingOrder:
    return WorkingOrder(side, OrderType.LIMIT, D(qty), limit_price=D(price))


def stop(side: OrderSide, price: str, qty: str = "10") -> WorkingOrder:
    return WorkingOrder(side, OrderType.STOP, D(qty), stop_price=D(price))


def stop_limit(side: OrderSide, stop_px: str, limit_px: str, triggered: bool = False) -> WorkingOrder:
    return WorkingOrder(
        side, OrderType.STOP_LIMIT, D("10"), limit_price=D(limit_px), stop_price=D(stop_px), stop_triggered=triggered
    )


PLAIN = FillModel()


def fill_of(model: FillModel, order: WorkingOrder, b: NormalizedBar) -> FillDecision:
    """The decision, which must be a fill (a failed assert says the order did not fill)."""
    decision = model.evaluate(order, b)
    assert decision is not None and decision.filled, decision
    return decision


# ----- market ---------------------------------------------------------------------------------------


def test_market_fills_at_open_not_close() -> None:
    decision = PLAIN.evaluate(market(BUY), bar(100.0, 101.0, 99.0, 100.75))
    assert decision is not None
    assert (decision.price, decision.qty, decision.fee) == (D("100"), D("10"), D("0"))


@pytest.mark.parametrize(
    ("slippage", "buy_price", "sell_price"),
    [
        (FixedSlippage(D("0.05")), D("100.05"), D("99.95")),
        (BpsSlippage(D("10")), D("100.10"), D("99.90")),
        (NoSlippage(), D("100"), D("100")),
    ],
)
def test_slippage_is_against_the_trader(slippage: SlippageModel, buy_price: Decimal, sell_price: Decimal) -> None:
    model = FillModel(slippage=slippage)
    b = bar(100.0, 102.0, 98.0, 101.0)
    assert fill_of(model, market(BUY), b).price == buy_price
    assert fill_of(model, market(SELL), b).price == sell_price


def test_slippage_is_clamped_to_the_bar_range() -> None:
    model = FillModel(slippage=FixedSlippage(D("0.50")))
    b = bar(100.0, 100.2, 99.9, 100.1)
    assert fill_of(model, market(BUY), b).price == D("100.2")
    assert fill_of(model, market(SELL), b).price == D("99.9")


# ----- limit ----------------------------------------------------------------------------------------


def test_limit_buy_gap_down_fills_at_open() -> None:
    assert fill_of(PLAIN, limit(BUY, "98"), bar(95.0, 96.0, 94.0, 95.5)).price == D("95")


def test_limit_buy_touched_fills_at_limit() -> None:
    assert fill_of(PLAIN, limit(BUY, "98"), bar(100.0, 101.0, 97.0, 99.0)).price == D("98")


def test_limit_buy_not_reached_does_not_fill() -> None:
    assert PLAIN.evaluate(limit(BUY, "98"), bar(100.0, 101.0, 98.01, 99.0)) is None


def test_limit_sell_mirrors_buy() -> None:
    assert fill_of(PLAIN, limit(SELL, "102"), bar(105.0, 106.0, 104.0, 105.0)).price == D("105")
    assert fill_of(PLAIN, limit(SELL, "102"), bar(100.0, 103.0, 99.0, 101.0)).price == D("102")
    assert PLAIN.evaluate(limit(SELL, "102"), bar(100.0, 101.99, 99.0, 101.0)) is None


def test_limit_fill_is_never_worse_than_the_limit_even_with_slippage() -> None:
    model = FillModel(slippage=FixedSlippage(D("1")))
    assert fill_of(model, limit(BUY, "98"), bar(100.0, 101.0, 97.0, 99.0)).price <= D("98")


# ----- stop -----------------------------------------------------------------------------------------


def test_stop_buy_triggers_at_stop() -> None:
    decision = PLAIN.evaluate(stop(BUY, "102"), bar(100.0, 103.0, 99.0, 102.5))
    assert decision is not None and decision.triggered and decision.price == D("102")


def test_stop_buy_gap_up_fills_at_worse_open() -> None:
    assert fill_of(PLAIN, stop(BUY, "102"), bar(104.0, 105.0, 103.0, 104.0)).price == D("104")


def test_stop_sell_gap_down_fills_at_worse_open() -> None:
    assert fill_of(PLAIN, stop(SELL, "97"), bar(95.0, 96.0, 94.0, 95.0)).price == D("95")
    assert fill_of(PLAIN, stop(SELL, "97"), bar(99.0, 99.5, 96.0, 98.0)).price == D("97")


def test_stop_not_reached_does_not_trigger() -> None:
    assert PLAIN.evaluate(stop(BUY, "102"), bar(100.0, 101.99, 99.0, 101.0)) is None
    assert PLAIN.evaluate(stop(SELL, "97"), bar(100.0, 101.0, 97.01, 98.0)) is None


def test_stop_fill_gets_slippage() -> None:
    model = FillModel(slippage=FixedSlippage(D("0.10")))
    assert fill_of(model, stop(BUY, "102"), bar(100.0, 103.0, 99.0, 102.5)).price == D("102.10")
    assert fill_of(model, stop(SELL, "97"), bar(99.0, 99.5, 96.0, 98.0)).price == D("96.90")


# ----- stop-limit -----------------------------------------------------------------------------------


def test_stop_limit_fills_on_trigger_bar_when_trigger_price_is_within_limit() -> None:
    decision = PLAIN.evaluate(stop_limit(BUY, "102", "102.50"), bar(100.0, 103.0, 99.0, 102.0))
    assert decision is not None and decision.triggered and decision.price == D("102")


def test_stop_limit_gap_through_limit_triggers_without_filling_on_that_bar() -> None:
    # The low (101) is below the limit, but it may have come before the trigger: no fill assumed.
    decision = PLAIN.evaluate(stop_limit(BUY, "102", "102.50"), bar(104.0, 104.5, 101.0, 103.0))
    assert decision is not None and decision.triggered and not decision.filled and decision.price is None


def test_triggered_stop_limit_is_a_limit_order_on_later_bars() -> None:
    order = stop_limit(BUY, "102", "102.50", triggered=True)
    assert fill_of(PLAIN, order, bar(103.0, 103.5, 102.2, 103.0)).price == D("102.5")
    assert fill_of(PLAIN, order, bar(102.2, 103.5, 102.0, 103.0)).price == D("102.2")
    assert PLAIN.evaluate(order, bar(103.0, 104.0, 102.51, 103.0)) is None


def test_stop_limit_sell_mirrors_buy() -> None:
    assert fill_of(PLAIN, stop_limit(SELL, "97", "96.50"), bar(99.0, 99.0, 96.0, 97.0)).price == D("97")
    gapped = PLAIN.evaluate(stop_limit(SELL, "97", "96.50"), bar(95.0, 98.0, 94.0, 97.0))
    assert gapped is not None and gapped.triggered and not gapped.filled


def test_untriggered_stop_limit_does_not_fill_even_if_limit_is_reachable() -> None:
    assert PLAIN.evaluate(stop_limit(BUY, "102", "101"), bar(100.0, 101.5, 99.0, 101.0)) is None


# ----- prices and rounding --------------------------------------------------------------------------


def test_prices_round_to_tick_against_the_trader() -> None:
    b = bar(100.123, 100.5, 100.0, 100.2)
    assert fill_of(PLAIN, market(BUY), b).price == D("100.13")
    assert fill_of(PLAIN, market(SELL), b).price == D("100.12")
    cheap = bar(0.51237, 0.52, 0.5, 0.51)
    assert fill_of(PLAIN, market(BUY), cheap).price == D("0.5124")
    assert fill_of(PLAIN, market(SELL), cheap).price == D("0.5123")


def test_tick_size_follows_alpaca() -> None:
    assert tick_size(D("1")) == D("0.01")
    assert tick_size(D("0.9999")) == D("0.0001")
    assert is_on_tick(D("10.01")) and not is_on_tick(D("10.015")) and is_on_tick(D("0.1234"))


def test_clamp_stays_on_tick_inside_the_range() -> None:
    assert clamp_to_bar(D("101"), D("100.004"), D("100.016")) == D("100.01")
    assert clamp_to_bar(D("99"), D("100.004"), D("100.016")) == D("100.01")


def test_fill_price_is_never_outside_the_bar() -> None:
    rng = np.random.default_rng(7)
    models = [
        FillModel(),
        FillModel(slippage=FixedSlippage(D("0.25"))),
        FillModel(slippage=BpsSlippage(D("50"))),
    ]
    fills = 0
    for _ in range(1500):
        o, c = rng.uniform(0.5, 3.0, 2)
        h = max(o, c) + rng.uniform(0, 0.3)
        lo = max(0.01, min(o, c) - rng.uniform(0, 0.3))
        b = bar(round(o, 4), round(h, 4), round(lo, 4), round(c, 4))
        px = D(str(round(rng.uniform(0.3, 3.3), 2)))
        px2 = D(str(round(rng.uniform(0.3, 3.3), 2)))
        side = BUY if rng.random() < 0.5 else SELL
        orders = [
            market(side),
            limit(side, str(px)),
            stop(side, str(px)),
            WorkingOrder(side, OrderType.STOP_LIMIT, D("5"), limit_price=px2, stop_price=px),
        ]
        for model in models:
            for order in orders:
                decision = model.evaluate(order, b)
                if decision is not None and decision.filled:
                    fills += 1
                    price = decision.price
                    assert price is not None and D(str(b.low)) <= price <= D(str(b.high)), (order, b, decision)
                    assert is_on_tick(price)
    assert fills > 1000  # the check above actually ran on many fills


# ----- commissions ----------------------------------------------------------------------------------


def test_commission_models() -> None:
    assert ZeroCommission().fee(D("100"), D("1000")) == 0
    per_share = PerShareCommission(per_share=D("0.005"), minimum=D("1.00"))
    assert per_share.fee(D("50"), D("100")) == D("1.00")  # minimum applies
    assert per_share.fee(D("50"), D("1000")) == D("5.00")
    assert per_share.fee(D("50"), D("333")) == D("1.67")  # 1.665 rounded to cents
    assert PercentCommission(percent=D("0.1")).fee(D("50.00"), D("100")) == D("5.00")
    assert PercentCommission(percent=D("0.1")).fee(D("12.34"), D("7")) == D("0.09")  # 0.08638


def test_fill_carries_the_commission() -> None:
    model = FillModel(commission=PerShareCommission(per_share=D("0.01"), minimum=D("0")))
    decision = model.evaluate(market(BUY, "250"), bar(100.0, 101.0, 99.0, 100.0))
    assert decision is not None and decision.fee == D("2.50")


# ----- volume cap -----------------------------------------------------------------------------------


def test_volume_cap_fills_part_and_leaves_the_rest() -> None:
    model = FillModel(max_volume_fraction=D("0.1"))
    decision = model.evaluate(market(BUY, "1000"), bar(100.0, 101.0, 99.0, 100.0, volume=5_005))
    assert decision is not None and decision.qty == D("500")  # floor(500.5)
    small = model.evaluate(market(BUY, "300"), bar(100.0, 101.0, 99.0, 100.0, volume=5_000))
    assert small is not None and small.qty == D("300")


def test_volume_cap_with_no_volume_fills_nothing() -> None:
    model = FillModel(max_volume_fraction=D("0.1"))
    assert model.evaluate(market(BUY), bar(100.0, 101.0, 99.0, 100.0, volume=5)) is None
    triggered = model.evaluate(stop(BUY, "100.50"), bar(100.0, 101.0, 99.0, 100.0, volume=5))
    assert triggered is not None and triggered.triggered and not triggered.filled


def test_partial_fills_are_off_by_default() -> None:
    assert fill_of(PLAIN, market(BUY, "1000000"), bar(100.0, 101.0, 99.0, 100.0, volume=1)).qty == D("1000000")


# ----- brackets -------------------------------------------------------------------------------------


def long_exits(tp: str = "105", sl: str = "95") -> tuple[WorkingOrder, WorkingOrder]:
    return limit(SELL, tp), stop(SELL, sl)


def test_bracket_both_inside_bar_assumes_stop_loss_first() -> None:
    result = evaluate_bracket_exit(PLAIN, *long_exits(), bar(100.0, 106.0, 94.0, 105.5))
    assert result is not None and result.leg is BracketLeg.STOP_LOSS and result.decision.price == D("95")


def test_bracket_short_both_inside_bar_assumes_stop_loss_first() -> None:
    result = evaluate_bracket_exit(PLAIN, limit(BUY, "95"), stop(BUY, "105"), bar(100.0, 106.0, 94.0, 94.5))
    assert result is not None and result.leg is BracketLeg.STOP_LOSS and result.decision.price == D("105")


def test_bracket_open_through_take_profit_fills_take_profit_at_open() -> None:
    result = evaluate_bracket_exit(PLAIN, *long_exits(), bar(107.0, 108.0, 94.0, 95.0))
    assert result is not None and result.leg is BracketLeg.TAKE_PROFIT and result.decision.price == D("107")


def test_bracket_open_through_stop_loss_fills_stop_at_open() -> None:
    result = evaluate_bracket_exit(PLAIN, *long_exits(), bar(93.0, 106.0, 92.0, 105.0))
    assert result is not None and result.leg is BracketLeg.STOP_LOSS and result.decision.price == D("93")


def test_bracket_single_exit_and_no_exit() -> None:
    only_tp = evaluate_bracket_exit(PLAIN, *long_exits(), bar(100.0, 105.5, 99.0, 105.0))
    assert only_tp is not None and only_tp.leg is BracketLeg.TAKE_PROFIT and only_tp.decision.price == D("105")
    only_sl = evaluate_bracket_exit(PLAIN, *long_exits(), bar(100.0, 101.0, 94.5, 95.0))
    assert only_sl is not None and only_sl.leg is BracketLeg.STOP_LOSS
    assert evaluate_bracket_exit(PLAIN, *long_exits(), bar(100.0, 104.0, 96.0, 101.0)) is None


def test_bracket_rejects_wrong_leg_types() -> None:
    with pytest.raises(ValueError):
        evaluate_bracket_exit(PLAIN, stop(SELL, "95"), limit(SELL, "105"), bar(100.0, 101.0, 99.0, 100.0))


def test_working_order_requires_its_prices() -> None:
    with pytest.raises(ValueError):
        WorkingOrder(BUY, OrderType.LIMIT, D("1"))
    with pytest.raises(ValueError):
        WorkingOrder(BUY, OrderType.STOP_LIMIT, D("1"), limit_price=D("1"))
    with pytest.raises(ValueError):
        WorkingOrder(BUY, OrderType.MARKET, D("0"))


def test_finalize_price_equals_rounding_then_clamping_on_random_bars():
    # finalize_price skips the clamp for a tick already inside the bar: it must agree with doing it in full,
    # around $1 (where the tick changes), on narrow and tick-less bars, on both sides
    rng = random.Random(7)
    for _ in range(20_000):
        scale = rng.choice([0.01, 0.5, 0.99, 1.0, 1.005, 3.0, 100.0, 2500.0])
        low = scale * rng.uniform(0.9, 1.1)
        high = low * (1 + rng.choice([0.0, 1e-5, 1e-4, 1e-3, 0.01]) * rng.random())
        price = to_decimal(rng.uniform(low * 0.98, high * 1.02))
        side = rng.choice([OrderSide.BUY, OrderSide.SELL])
        if rng.random() < 0.3:  # bounds on ticks, so rounded prices land exactly on them (the float check's edge)
            low, high = round(low, 2), round(high, 2) + rng.choice([0.0, 0.01, 0.02])
            price = to_decimal(round(rng.uniform(low - 0.02, high + 0.02), rng.choice([2, 3, 4])))
        bar = SimpleNamespace(open=low, high=high, low=low, close=low, volume=1.0)
        full = clamp_to_bar(round_against(price, side), to_decimal(low), to_decimal(high))
        got = finalize_price(price, side, bar)
        assert (got, str(got)) == (full, str(full)), (price, side, low, high)
