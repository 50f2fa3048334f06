"""Gemini's code is validated at once but smoke-run only after the trader confirmed, where the sandbox is not
fully confined (core.strategy.code_trust); with FULL confinement it is smoke-tested at once, as before."""

from __future__ import annotations

import dataclasses
import io

import pytest

from core.accounts.secrets import GEMINI_KEY_ENV
from core.ai import GeminiSettings, GenerationFailed, StrategyGenerator
from core.cli.generate import main
from core.strategy.code_trust import CodeOrigin, needs_confirmation
from core.strategy.sandbox.confinement import ConfinementLevel
from tests.ai.confinement import NO_LANDLOCK, confine, record_smoke_runs, report
from tests.ai.gemini_standin import GeminiStandIn, strategy_reply
from tests.ai.sources import READS_BEFORE_THE_START, SMA_CROSS, SMA_CROSS_SLOWER, USES_GETATTR

REQUEST = "Buy when the 8-bar average crosses above the 30-bar average, sell when it crosses back."


@pytest.fixture
def smoke_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The code of every smoke backtest started (the real one still runs)."""
    return record_smoke_runs(monkeypatch)


@pytest.mark.parametrize("level", [ConfinementLevel.PARTIAL, ConfinementLevel.NONE])
def test_not_fully_confined_offers_the_validated_answer_not_yet_run(
    gemini: GeminiStandIn, settings: GeminiSettings, smoke_runs: list[str], level: ConfinementLevel
) -> None:
    gemini.queue(strategy_reply(SMA_CROSS, class_name="GeminiCross"))
    with StrategyGenerator(gemini.key, settings=settings, confinement=lambda: report(level)) as generator:
        offered = generator.generate(REQUEST)

    assert offered.code == SMA_CROSS and offered.class_name == "GeminiCross" and offered.attempts == 1
    assert offered.smoke is None and offered.smoke_pending
    assert offered.smoke_warning == needs_confirmation(CodeOrigin.AI, report(level))
    assert NO_LANDLOCK in offered.smoke_warning
    assert [p.name for p in offered.parameters] == ["size", "fast", "slow"]  # the static checks did run
    assert smoke_runs == []


def test_the_confirmed_smoke_test_runs_the_same_code_once(
    gemini: GeminiStandIn, settings: GeminiSettings, smoke_runs: list[str]
) -> None:
    gemini.queue(strategy_reply(SMA_CROSS))
    with StrategyGenerator(gemini.key, settings=settings, confinement=lambda: report(ConfinementLevel.PARTIAL)) as g:
        offered = g.generate(REQUEST)
        ran = g.smoke_test(offered)
        again = g.smoke_test(ran)

    assert smoke_runs == [SMA_CROSS]
    assert ran.code == SMA_CROSS and ran.smoke is not None and ran.smoke.ok and ran.smoke.trade_count > 0
    assert ran.smoke_warning is None and not ran.smoke_pending and ran.attempts == 1
    assert again is ran  # already run: nothing runs twice
    assert len(gemini.requests) == 1


def test_a_smoke_failure_after_confirmation_goes_back_to_the_model(
    gemini: GeminiStandIn, settings: GeminiSettings, smoke_runs: list[str]
) -> None:
    gemini.queue(strategy_reply(READS_BEFORE_THE_START), strategy_reply(SMA_CROSS))
    with StrategyGenerator(gemini.key, settings=settings, confinement=lambda: report(ConfinementLevel.PARTIAL)) as g:
        offered = g.generate(REQUEST)
        assert offered.code == READS_BEFORE_THE_START and offered.smoke_pending and smoke_runs == []
        repaired = g.smoke_test(offered)

    assert repaired.code == SMA_CROSS and repaired.smoke is not None and repaired.smoke.ok
    assert repaired.attempts == 2 and [a.code for a in repaired.repaired] == [READS_BEFORE_THE_START]
    assert smoke_runs == [READS_BEFORE_THE_START, SMA_CROSS]  # the repair ran at once: the trader agreed
    assert [role for role, _ in gemini.requests[1].turns] == ["user", "model", "user"]
    assert "smoke backtest" in gemini.requests[1].turns[2][1]


def test_the_repairs_left_after_confirmation_are_what_the_settings_allow(
    gemini: GeminiStandIn, gemini_settings: GeminiSettings, smoke_runs: list[str]
) -> None:
    settings = dataclasses.replace(gemini_settings, max_repairs=1)
    gemini.queue(strategy_reply(USES_GETATTR), strategy_reply(READS_BEFORE_THE_START))
    with StrategyGenerator(gemini.key, settings=settings, confinement=lambda: report(ConfinementLevel.NONE)) as g:
        offered = g.generate(REQUEST)  # the validator's refusal was repaired without running anything
        assert offered.attempts == 2 and offered.smoke_pending and smoke_runs == []
        with pytest.raises(GenerationFailed) as failed:
            g.smoke_test(offered)

    assert [a.code for a in failed.value.attempts] == [USES_GETATTR, READS_BEFORE_THE_START]
    assert smoke_runs == [READS_BEFORE_THE_START] and len(gemini.requests) == 2


def test_full_confinement_smoke_tests_at_once(
    gemini: GeminiStandIn, settings: GeminiSettings, smoke_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    confine(monkeypatch, ConfinementLevel.FULL)  # the default probe, as the app's generator asks it
    gemini.queue(strategy_reply(SMA_CROSS))
    with StrategyGenerator(gemini.key, settings=settings) as generator:
        result = generator.generate(REQUEST)
    assert result.smoke is not None and result.smoke.ok and result.smoke_warning is None
    assert smoke_runs == [SMA_CROSS]


def test_a_modification_is_not_run_either(
    gemini: GeminiStandIn, settings: GeminiSettings, smoke_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    confine(monkeypatch, ConfinementLevel.PARTIAL)
    gemini.queue(strategy_reply(SMA_CROSS_SLOWER))
    with StrategyGenerator(gemini.key, settings=settings) as generator:
        change = generator.modify(SMA_CROSS, "slower")
    assert change.changed and change.strategy.smoke_pending and smoke_runs == []


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_command_line_decides_as_the_app_does(
    gemini: GeminiStandIn, smoke_runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    confine(monkeypatch, ConfinementLevel.PARTIAL)
    monkeypatch.setenv(GEMINI_KEY_ENV, gemini.key)
    keyed = ["--base-url", gemini.base_url, "--timeout", "10"]
    gemini.queue(strategy_reply(SMA_CROSS))
    code, out, err = run_cli("an SMA cross", *keyed)
    assert code == 0 and out == SMA_CROSS and smoke_runs == []
    assert "Smoke backtest: not run. Gemini wrote this code" in err and NO_LANDLOCK in err and "--smoke-test" in err

    gemini.queue(strategy_reply(SMA_CROSS))
    code, out, err = run_cli("an SMA cross", "--smoke-test", *keyed)  # the trader's confirmation up front
    assert code == 0 and out == SMA_CROSS and smoke_runs == [SMA_CROSS]
    assert "Smoke backtest: 3,000 simulated bars" in err
