"""The pieces under the generator: the contract the model reads, the answer parser, settings, the key lookup."""

from __future__ import annotations

import inspect
import json

import pytest
from keyring.backends.fail import Keyring as NoKeyring

from core.accounts.secrets import GEMINI_KEY_ENV, SecretStore
from core.ai import GeminiSettings, MalformedAnswer, NoGeminiKey, StrategyGenerator
from core.ai.answers import parse_strategy_answer, strip_fences
from core.ai.contract import CONTRACT_TITLE, example_sources, importable_modules, strategy_api_contract
from core.ai.keys import configured_gemini_key, require_gemini_key
from core.ai.prompts import repair_turn, system_instruction
from core.ai.smoke import simulated_bars, smoke_test
from core.strategy import indicators
from core.strategy.sandbox import rules, validate_source
from tests.ai.gemini_standin import STANDIN_KEY, strategy_answer
from tests.ai.sources import SMA_CROSS
from tests.keyrings import MemoryKeyring, use_keyring

SMOKE = {"timeframe": "1Min", "simulated": True, "cpu_seconds": 10.0, "memory_mb": 1024}

# ---- the contract ---------------------------------------------------------------------------------------------


def test_the_contract_is_built_from_the_code_it_describes() -> None:
    contract = strategy_api_contract()
    assert contract.startswith(f"# {CONTRACT_TITLE}")
    for name, fn in vars(indicators).items():
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == indicators.__name__:
            assert f"`{name}(" in contract, name
    assert "vwap(high, low, close, volume, times=None, *, window=None)" in contract
    for name in rules.FORBIDDEN_BUILTINS:
        assert name in contract
    for name in ("to_csv", "query", "subprocess", "read_*"):
        assert name in contract
    for method in ("buy(shares=None, *, fraction=None", "sell(", "order_target(*, shares=None", "cancel_all()"):
        assert method in contract
    assert "self.account.position_price" in contract and "LookAheadError" in contract
    assert "1Min, 5Min, 15Min, 30Min, 1Hour, 1Day" in contract
    assert contract in system_instruction()


def test_only_importable_modules_are_offered() -> None:
    offered = importable_modules()
    assert "core.strategy.indicators" in offered and "numpy" in offered
    assert set(offered) <= set(rules.ALLOWED_MODULES)
    assert "stratforge.strategy" not in offered  # allowed by the rules, but there is no such package here


def test_the_contracts_examples_pass_the_validator_and_the_smoke_test() -> None:
    for code, name in zip(example_sources(), ("SmaCross", "RsiBounce"), strict=True):
        assert validate_source(code).ok
        report = smoke_test(code, name, simulated_bars(1_000, seed=5), **SMOKE)
        assert report.ok, report.error
        assert report.trade_count > 0


def test_the_smoke_test_reports_a_quiet_strategy_without_refusing_it() -> None:
    quiet = SMA_CROSS.replace("return f > s, f < s", "return f > s * 10, f < s")
    report = smoke_test(quiet, "GeminiCross", simulated_bars(300, seed=5), **SMOKE)
    assert report.ok and report.trade_count == 0
    assert report.warnings == ("the strategy made no trades in the smoke backtest (300 simulated 1Min bars)",)


def test_simulated_bars_are_deterministic_and_start_at_the_new_york_open() -> None:
    a, b = simulated_bars(500, seed=9), simulated_bars(500, seed=9)
    assert (a.close == b.close).all() and a.close is not b.close and a.close.flags.writeable
    assert a.time[0] == 1735828200.0  # 2025-01-02 14:30 UTC = 09:30 New York
    assert (simulated_bars(500, seed=10).close != a.close).any()


def test_a_repair_turn_quotes_the_lines_it_names() -> None:
    code = "a = 1\nb = open('x')\n"
    text = repair_turn(["line 2: 'open' is not available", "something without a line"], code)
    assert "- line 2: 'open' is not available\n    line 2 is: b = open('x')" in text
    assert "- something without a line" in text


# ---- answers --------------------------------------------------------------------------------------------------


def test_fences_and_a_missing_final_newline_are_repaired() -> None:
    answer = parse_strategy_answer(json.dumps(strategy_answer(f"```python\n{SMA_CROSS.rstrip()}\n```")))
    assert answer.code == SMA_CROSS
    assert strip_fences("no fence") == "no fence"


def test_parameters_with_bad_defaults_are_malformed() -> None:
    bad = strategy_answer(SMA_CROSS, parameters=[{"name": "fast", "default": None, "description": "x"}])
    with pytest.raises(MalformedAnswer, match="no usable default"):
        parse_strategy_answer(json.dumps(bad))
    with pytest.raises(MalformedAnswer, match="without a name"):
        parse_strategy_answer(json.dumps(strategy_answer(SMA_CROSS, parameters=[{"default": 1}])))


def test_a_malformed_answer_keeps_the_raw_text() -> None:
    with pytest.raises(MalformedAnswer) as caught:
        parse_strategy_answer("not json at all")
    assert caught.value.raw == "not json at all"


# ---- settings -------------------------------------------------------------------------------------------------


def test_settings_are_checked() -> None:
    assert GeminiSettings().model == "gemini-2.5-flash"
    assert GeminiSettings(model=" models/gemini-2.5-pro ").model == "gemini-2.5-pro"
    assert GeminiSettings(timeout_s=2.5).timeout_ms == 2500 and GeminiSettings(timeout_s=0.0001).timeout_ms == 1
    bad_settings = [
        {"model": "a/b"},
        {"model": ""},
        {"timeout_s": 0},
        {"http_attempts": 0},
        {"max_repairs": -1},
        {"smoke_bars": 10},
        {"default_timeframe": "2Min"},
    ]
    for bad in bad_settings:
        with pytest.raises(ValueError):
            GeminiSettings(**bad)  # type: ignore[arg-type]


# ---- the key --------------------------------------------------------------------------------------------------


def test_the_key_comes_from_the_environment_or_the_keyring(
    keyring_backend: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert configured_gemini_key() is None
    with pytest.raises(NoGeminiKey, match="no Gemini key set: add one in Settings"):
        require_gemini_key()
    assert not StrategyGenerator.from_secret_store().has_key

    SecretStore().set_gemini_key(STANDIN_KEY)
    assert require_gemini_key() == STANDIN_KEY
    generator = StrategyGenerator.from_secret_store()
    assert generator.has_key and STANDIN_KEY not in repr(generator)

    monkeypatch.setenv(GEMINI_KEY_ENV, "AIzaFromTheEnvironment-0123456789abcd")
    assert configured_gemini_key() == "AIzaFromTheEnvironment-0123456789abcd"


def test_without_a_keyring_the_message_names_the_environment_variable() -> None:
    with use_keyring(NoKeyring()):
        assert configured_gemini_key() is None
        with pytest.raises(NoGeminiKey, match=GEMINI_KEY_ENV):
            require_gemini_key()
