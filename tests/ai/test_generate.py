"""Generating a strategy with the real google-genai client against the scripted Gemini stand-in."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from core.ai import (
    AiCancelled,
    AiError,
    GeminiSettings,
    GenerationFailed,
    MalformedAnswer,
    NoGeminiKey,
    StrategyGenerator,
)
from core.ai import vetting as vetting_module
from core.ai.contract import CONTRACT_TITLE
from core.ai.schema import STRATEGY_FIELDS
from core.ai.smoke import simulated_bars
from core.backtest.strategy_ref import StrategyRef, run_detailed
from core.db.models.strategies import STRATEGY_FAMILIES
from core.domain.bars import TIMEFRAMES
from core.strategy.sandbox import StrategyRejected, validate_source
from core.strategy.source import strategy_classes
from tests.ai.gemini_standin import (
    GeminiStandIn,
    blocked_reply,
    strategy_answer,
    strategy_reply,
    text_reply,
)
from tests.ai.sources import (
    EAGER_LINE,
    GETATTR_LINE,
    READS_BEFORE_THE_START,
    RSI_PER_BAR,
    SMA_CROSS,
    USES_GETATTR,
    malicious,
)

REQUEST = "Buy when the 8-bar average crosses above the 30-bar average, sell when it crosses back."


def test_a_valid_answer_is_vetted_and_offered_with_what_the_editor_shows(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    gemini.queue(
        strategy_reply(
            SMA_CROSS,
            class_name="GeminiCross",
            explanation="Rides trends: long while the fast average leads.",
            parameters=[
                {"name": "fast", "default": 8, "minimum": 2, "maximum": 50, "description": "fast bars"},
                {"name": "slow", "default": 30, "minimum": 10, "maximum": 200, "description": "slow average bars"},
            ],
            symbols=["aapl", "MSFT", "tech stocks", "AAPL"],
            timeframe="5Min",
            family="trend",
        )
    )
    result = generator.generate(REQUEST, symbols=["AAPL"], timeframe="5Min")

    assert result.code == SMA_CROSS
    assert result.class_name == "GeminiCross"
    assert result.explanation == "Rides trends: long while the fast average leads."
    assert result.symbols == ("AAPL", "MSFT")  # upper-cased, de-duplicated, non-tickers dropped
    assert result.timeframe == "5Min"
    assert (result.family, result.family_source) == ("trend", "model")
    assert result.attempts == 1 and result.repaired == ()
    assert result.model == "gemini-2.5-flash"
    assert result.created_at.tzinfo is not None and result.created_at.utcoffset().total_seconds() == 0
    assert result.usage.total_tokens == 1500
    # Parameters are the code's own declarations; the model's description fills a missing doc only.
    assert [(p.name, p.default, p.min, p.max, p.doc) for p in result.parameters] == [
        ("size", 1.0, 0.01, 1.0, "fraction of equity each entry buys"),  # SignalStrategy's own, first
        ("fast", 8, 2, 50, "bars of the fast average"),
        ("slow", 30, 10, 200, "slow average bars"),
    ]
    assert result.default_values == {"fast": 8, "slow": 30, "size": 1.0}
    assert result.smoke.ok and result.smoke.simulated
    assert result.smoke.bars == 1_000 and result.smoke.timeframe == "5Min"
    assert result.smoke.path == "vectorized" and result.smoke.trade_count > 0
    draft = result.to_draft("My cross")
    assert draft.implied_family == "trend" and draft.timeframes == ("5Min",) and draft.parameters["slow"] == 30
    assert validate_source(draft.python_code).ok and strategy_classes(draft.python_code) == ["GeminiCross"]

    (request,) = gemini.requests
    assert request.method == "POST"
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == gemini.key
    assert CONTRACT_TITLE in request.system_text
    for promise in ("order_target(", "sma(x, n)", "bollinger(close, n=20, k=2.0)", "SignalStrategy", "Param("):
        assert promise in request.system_text
    assert "getattr" in request.system_text and "core.strategy.indicators" in request.system_text
    ((role, text),) = request.turns
    assert role == "user" and REQUEST in text and "AAPL" in text and "5Min" in text
    config = request.generation_config
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert set(schema["required"]) == set(STRATEGY_FIELDS) == set(schema["properties"])
    assert schema["properties"]["family"]["enum"] == list(STRATEGY_FAMILIES)
    assert schema["properties"]["timeframe"]["enum"] == list(TIMEFRAMES)
    assert config["temperature"] == pytest.approx(0.2)


def test_a_per_bar_strategy_runs_on_bars_the_caller_gives(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(strategy_reply(RSI_PER_BAR, family="mean_reversion"), strategy_reply(RSI_PER_BAR))
    simulated = generator.generate("Buy RSI dips")
    assert simulated.smoke.path == "per_bar" and simulated.smoke.simulated and simulated.smoke.bars == 1_000
    given = generator.generate("Buy RSI dips", bars=simulated_bars(800, seed=3))  # stands in for stored bars
    assert not given.smoke.simulated and given.smoke.bars == 800


def test_validation_and_smoke_errors_go_back_to_the_model_until_it_gets_it_right(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    first = strategy_answer(USES_GETATTR, family="trend")
    second = strategy_answer(READS_BEFORE_THE_START, family="trend")
    gemini.queue(
        text_reply(json.dumps(first)), text_reply(json.dumps(second)), strategy_reply(SMA_CROSS, family="trend")
    )
    result = generator.generate(REQUEST)

    assert result.attempts == 3 and result.code == SMA_CROSS
    assert [a.code for a in result.repaired] == [USES_GETATTR, READS_BEFORE_THE_START]
    assert len(gemini.requests) == 3
    # The second request is the whole conversation: the request, the model's answer, the problems.
    roles = [role for role, _ in gemini.requests[1].turns]
    assert roles == ["user", "model", "user"]
    assert json.loads(gemini.requests[1].turns[1][1]) == first
    repair = gemini.requests[1].turns[2][1]
    assert f"line {GETATTR_LINE}: 'getattr' is not available in strategies" in repair
    assert f'line {GETATTR_LINE} is: n = getattr(self, "fast")' in repair
    # The third carries the smoke backtest's failure, naming the strategy line it happened at.
    assert [role for role, _ in gemini.requests[2].turns] == ["user", "model", "user", "model", "user"]
    smoke_feedback = gemini.requests[2].turns[4][1]
    assert "smoke backtest" in smoke_feedback and "IndexError" in smoke_feedback
    assert f"line {EAGER_LINE} of the strategy" in smoke_feedback
    assert f"line {EAGER_LINE} is: if data.close[-50] > self.s[-1]" in smoke_feedback
    # Every request carries the contract (the system instruction is resent with each turn).
    assert all(CONTRACT_TITLE in r.system_text for r in gemini.requests)


def test_malicious_code_is_refused_never_run_and_reported_after_the_last_attempt(
    gemini: GeminiStandIn, generator: StrategyGenerator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    sources = malicious(str(marker))
    ran: list[str] = []
    real_smoke = vetting_module.smoke_test

    def spy(code: str, *args: object, **kwargs: object) -> object:
        ran.append(code)
        return real_smoke(code, *args, **kwargs)

    monkeypatch.setattr(vetting_module, "smoke_test", spy)
    gemini.queue(*(strategy_reply(code) for code in sources.values()))

    with pytest.raises(GenerationFailed) as caught:
        generator.generate("make money")

    failure = caught.value
    assert [a.code for a in failure.attempts] == list(sources.values())
    assert failure.last_code == sources["__import__"]
    problems = [" ".join(a.problems) for a in failure.attempts]
    assert "import of 'os' is not allowed" in problems[0]
    assert "'open' is not available in strategies" in problems[1]
    assert "the name '__import__' is not allowed" in problems[2]
    assert "line 6:" in problems[2]  # every problem names its line
    assert failure.problems == failure.attempts[-1].problems
    assert "after 3 attempts" in str(failure) and "__import__" in str(failure)
    assert ran == []  # not even the sandbox was asked to run it
    assert not marker.exists()
    assert len(gemini.requests) == 3  # one answer and max_repairs=2 repair turns, no more


def test_the_sandbox_refuses_malicious_code_even_if_asked_directly(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for code in malicious(str(marker)).values():
        with pytest.raises(StrategyRejected):
            run_detailed(StrategyRef("Evil", source=code), simulated_bars(100, seed=1), {})
    assert not marker.exists()


def test_malicious_then_valid_offers_the_valid_one(
    gemini: GeminiStandIn, generator: StrategyGenerator, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    gemini.queue(strategy_reply(malicious(str(marker))["import os"]), strategy_reply(SMA_CROSS))
    result = generator.generate("make money")
    assert result.code == SMA_CROSS and result.attempts == 2
    assert "import of 'os' is not allowed" in gemini.requests[1].turns[2][1]
    assert not marker.exists()


def test_no_repairs_allowed_means_one_answer(gemini: GeminiStandIn, settings: GeminiSettings) -> None:
    gemini.queue(strategy_reply(USES_GETATTR))
    strict = dataclasses.replace(settings, max_repairs=0)
    with StrategyGenerator(gemini.key, settings=strict) as gen, pytest.raises(GenerationFailed) as caught:
        gen.generate(REQUEST)
    assert len(caught.value.attempts) == 1 and "after 1 attempt;" in str(caught.value)
    assert len(gemini.requests) == 1


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (text_reply("Sure! Here is your strategy: class X(Strategy): ..."), "not valid JSON"),
        (text_reply(json.dumps({"code": SMA_CROSS})), "lacks class_name, explanation"),
        (text_reply(json.dumps({**strategy_answer(SMA_CROSS), "code": 42})), "code as int, not text"),
        (text_reply(json.dumps(strategy_answer("   "))), "has no code"),
        (text_reply(json.dumps({**strategy_answer(SMA_CROSS), "timeframe": "2Min"})), "timeframe '2Min'"),
        (text_reply(json.dumps(strategy_answer(SMA_CROSS))[:200], finish_reason="MAX_TOKENS"), "cut off"),
        (text_reply(json.dumps([strategy_answer(SMA_CROSS)])), "JSON list, not an object"),
        (blocked_reply("SAFETY"), "blocked (SAFETY)"),
    ],
)
def test_a_malformed_answer_is_a_clear_error_at_once(
    gemini: GeminiStandIn, generator: StrategyGenerator, reply: object, message: str
) -> None:
    gemini.queue(reply)  # type: ignore[arg-type]
    with pytest.raises(MalformedAnswer) as caught:
        generator.generate(REQUEST)
    assert message in str(caught.value)
    assert len(gemini.requests) == 1  # not retried: a cut-off or blocked answer comes back the same way


def test_an_answer_in_markdown_fences_is_accepted(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    fenced = f"```json\n{json.dumps(strategy_answer(f'```python\n{SMA_CROSS}```'))}\n```"
    gemini.queue(text_reply(fenced))
    assert generator.generate(REQUEST).code == SMA_CROSS


def test_the_family_comes_from_the_model_when_it_names_one(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(strategy_reply(SMA_CROSS, family="momentum"), strategy_reply(SMA_CROSS, family="scalping"))
    from_model = generator.generate(REQUEST)
    assert (from_model.family, from_model.family_source) == ("momentum", "model")
    # A family outside the allowed set is dropped and the code analysis decides (an SMA cross: trend).
    fallback = generator.generate(REQUEST)
    assert (fallback.family, fallback.family_source) == ("trend", "analysis")


def test_without_a_key_the_error_says_where_to_add_one_and_nothing_is_sent(gemini: GeminiStandIn) -> None:
    generator = StrategyGenerator(None)
    assert not generator.has_key and "key=none" in repr(generator)
    for call in (
        lambda: generator.generate(REQUEST),
        lambda: generator.modify(SMA_CROSS, "slower"),
        lambda: generator.explain(SMA_CROSS),
    ):
        with pytest.raises(NoGeminiKey, match="no Gemini key set: add one in Settings"):
            call()
    # Classifying still works: the code analysis answers.
    verdict = generator.classify(SMA_CROSS)
    assert (verdict.family, verdict.source) == ("trend", "analysis")
    assert gemini.requests == []


def test_a_cancel_stops_before_the_next_step(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    cancel = threading.Event()
    cancel.set()
    gemini.queue(strategy_reply(SMA_CROSS))
    started = time.perf_counter()
    with pytest.raises(AiCancelled):
        generator.generate(REQUEST, cancel=cancel)
    assert gemini.requests == [] and time.perf_counter() - started < 1


def test_empty_requests_are_refused_before_anything_is_sent(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    with pytest.raises(AiError, match="describe the strategy"):
        generator.generate("   ")
    with pytest.raises(AiError, match="no code"):
        generator.explain("")
    assert gemini.requests == []
