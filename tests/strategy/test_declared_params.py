"""Declared parameters are read from the syntax tree, without running the (untrusted) strategy code."""

from __future__ import annotations

import pytest

from core.strategy.api import SignalStrategy, StrategyParamError
from core.strategy.declared_params import DeclaredParam, declared_params
from tests.backtest.test_sandboxed_backtest import CROSS, SIGNALS

MIXED = """\
from core.strategy import api
from core.strategy.api import Param, Strategy

N = 20


class Base(Strategy):
    length = Param(14, min=2, max=100, doc="lookback")
    mode = Param("fast", choices=("fast", "slow"))


class Mixed(Base):
    length: int = Param(20, 2, 300)
    threshold = api.Param(-0.5, min=-1.0, max=1.0, step=0.05)
    enabled = Param(True)
    computed = Param(N * 2, min=1)
    listed = Param(3, choices=[1, 3, 5])
    not_a_param = 7

    def next(self, data):
        local = Param(1)
"""


def by_name(params: list[DeclaredParam]) -> dict[str, DeclaredParam]:
    return {p.name: p for p in params}


def test_literal_declarations_are_read_with_their_ranges_and_lines():
    params = declared_params(CROSS, "Cross")
    assert params == [
        DeclaredParam("fast", 10, min=2, max=100, line=6),
        DeclaredParam("slow", 30, min=5, max=300, line=7),
    ]
    assert params[0].kind is int and params[0].editable


def test_signal_strategies_inherit_size_from_the_api_first():
    params = declared_params(SIGNALS, "Sig")
    assert [p.name for p in params] == [*SignalStrategy.params, "fast", "slow"]
    size = params[0]
    assert (size.default, size.min, size.max, size.line) == (1.0, 0.01, 1.0, 0)
    assert size.doc == SignalStrategy.params["size"].doc


def test_bases_in_the_same_source_come_first_and_a_redeclared_name_keeps_its_place():
    params = by_name(declared_params(MIXED, "Mixed"))
    assert list(params) == ["length", "mode", "threshold", "enabled", "computed", "listed"]
    assert (params["length"].default, params["length"].min, params["length"].max) == (20, 2, 300)  # positional
    assert params["length"].doc == ""  # the redeclaration replaces the base's, as at run time
    assert params["mode"].choices == ("fast", "slow") and params["mode"].kind is str
    assert (params["threshold"].default, params["threshold"].step) == (-0.5, 0.05)  # api.Param, negative literals
    assert params["enabled"].kind is bool
    assert params["listed"].choices == (1, 3, 5)  # a list literal is accepted as choices


def test_computed_arguments_are_listed_but_not_editable_with_the_reason():
    computed = by_name(declared_params(MIXED, "Mixed"))["computed"]
    assert not computed.editable and computed.kind is None
    assert "default is computed" in computed.reason
    assert computed.min == 1 and computed.line == 16
    with pytest.raises(ValueError, match="not editable"):
        computed.to_param()


@pytest.mark.parametrize(
    ("declaration", "reason"),
    [
        ("Param()", "no default"),
        ("Param(None)", "not a number, text or true/false"),
        ("Param(1, min='a')", "min 'a' is not a number"),
        ("Param(1, choices=3)", "choices are not a list"),
        ("Param(1, colour=3)", "unknown argument 'colour'"),
        ("Param(*args)", "cannot be read"),
        ("Param(1, **extra)", "cannot be read"),
    ],
)
def test_unreadable_declarations_say_why(declaration: str, reason: str):
    source = f"class S(Strategy):\n    p = {declaration}\n"
    (param,) = declared_params(source, "S")
    assert not param.editable
    assert reason in param.reason


def test_to_param_checks_values_like_a_run():
    fast = declared_params(CROSS, "Cross")[0].to_param()
    assert fast.check(50) == 50
    with pytest.raises(StrategyParamError, match="at most 100"):
        fast.check(101)


def test_unknown_class_and_syntax_errors_are_reported():
    with pytest.raises(ValueError, match="no class 'Nope'"):
        declared_params(CROSS, "Nope")
    with pytest.raises(SyntaxError):
        declared_params("class S(Strategy):\n    p = Param(1\n", "S")


def test_a_base_cycle_does_not_loop():
    source = "class A(B):\n    a = Param(1)\n\nclass B(A):\n    b = Param(2)\n"
    assert [p.name for p in declared_params(source, "A")] == ["b", "a"]
