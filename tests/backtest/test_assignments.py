"""Batch variables: the product in a stable order, the cap and its flag, and bad lists refused."""

from __future__ import annotations

import pytest

from core.backtest.assignments import Variable, VariableError, expand, parse_value, parse_values, product_size


def test_the_product_is_every_combination_in_a_stable_order():
    out = expand([Variable("fast", (5, 10)), Variable("slow", (30, 60, 90))])
    assert out.items == (
        {"fast": 5, "slow": 30}, {"fast": 5, "slow": 60}, {"fast": 5, "slow": 90},
        {"fast": 10, "slow": 30}, {"fast": 10, "slow": 60}, {"fast": 10, "slow": 90},
    )  # fmt: skip
    assert (out.full_count, out.truncated) == (6, False)
    assert expand([Variable("fast", (5, 10)), Variable("slow", (30, 60, 90))]) == out


def test_the_cap_cuts_the_product_and_says_so():
    variables = [Variable(f"v{i}", tuple(range(10))) for i in range(6)]  # a million combinations
    assert product_size(variables) == 1_000_000
    out = expand(variables, cap=250)
    assert len(out.items) == 250 and out.truncated and out.full_count == 1_000_000
    assert out.items[0] == dict.fromkeys(("v0", "v1", "v2", "v3", "v4", "v5"), 0)
    assert out.items[-1]["v5"] == 9 and out.items[-1]["v3"] == 2  # 249 = ...0249
    exact = expand([Variable("a", (1, 2))], cap=2)
    assert not exact.truncated and len(exact.items) == 2


def test_no_variables_is_one_run_of_the_base_parameters():
    out = expand([])
    assert out.items == ({},) and not out.truncated


def test_tickers_are_normalised_and_checked():
    assert Variable("ticker", (" spy", "qqq ")).values == ("SPY", "QQQ")
    with pytest.raises(VariableError, match="ticker values must be symbols"):
        Variable("ticker", ("SPY", 3))
    with pytest.raises(VariableError, match="lists a value twice"):
        Variable("ticker", ("spy", "SPY"))


@pytest.mark.parametrize(
    ("variables", "cap", "message"),
    [
        ([Variable("fast", (5,)), Variable("fast", (6,))], 10, "listed twice"),
        ([Variable("fast", (5,))], 0, "cap must be between"),
    ],
)
def test_bad_batches_are_refused(variables, cap, message):
    with pytest.raises(VariableError, match=message):
        expand(variables, cap)


def test_bad_variables_are_refused():
    with pytest.raises(VariableError, match="has no values"):
        Variable("fast", ())
    with pytest.raises(VariableError, match="identifier"):
        Variable("fast period", (1,))
    with pytest.raises(VariableError, match="needs a list"):
        Variable.from_json({"name": "fast", "values": 5})
    assert Variable.from_json(Variable("slow", (1, 2)).to_json()) == Variable("slow", (1, 2))
    assert Variable("slow", (1, 2)).to_json() == {"name": "slow", "values": [1, 2], "count": 2}


def test_values_typed_as_text_take_the_type_they_look_like():
    assert parse_values(" 5, 7.5,true, SPY ,") == (5, 7.5, True, "SPY")
    assert parse_value(" False ") is False and parse_value("1e3") == 1000.0 and parse_value("x") == "x"
