"""``stratforge generate`` against the Gemini stand-in: code on stdout, the rest on stderr, clear exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from core.accounts.secrets import GEMINI_KEY_ENV
from core.cli.generate import main
from tests.ai.gemini_standin import GeminiStandIn, json_reply, rate_limited, strategy_reply
from tests.ai.sources import READS_BEFORE_THE_START, SMA_CROSS, SMA_CROSS_SLOWER


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def keyed(gemini: GeminiStandIn, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(GEMINI_KEY_ENV, gemini.key)
    return ["--base-url", gemini.base_url, "--timeout", "10"]


def test_generate_prints_the_code_and_a_summary(gemini: GeminiStandIn, keyed: list[str]) -> None:
    gemini.queue(strategy_reply(SMA_CROSS, explanation="Rides trends.", symbols=["SPY"]))
    code, out, err = run("generate", "an SMA cross", "--symbol", "SPY", *keyed)
    assert code == 0 and out == SMA_CROSS
    assert "GeminiCross: trend family (model), 1Min bars, for SPY" in err and "Rides trends." in err
    assert "Parameters: size=1.0, fast=8, slow=30" in err and "Smoke backtest: 3,000 simulated bars" in err
    assert "SPY" in gemini.requests[0].turns[0][1]


def test_generate_to_a_new_file_and_as_json(gemini: GeminiStandIn, keyed: list[str], tmp_path: Path) -> None:
    target = tmp_path / "mine.py"
    gemini.queue(strategy_reply(SMA_CROSS))
    code, out, _ = run("an SMA cross", "--out", str(target), "--json", *keyed)
    assert code == 0 and target.read_text() == SMA_CROSS
    data = json.loads(out)
    assert data["class_name"] == "GeminiCross" and data["smoke"]["path"] == "vectorized"
    assert data["created_at"].endswith("+00:00")
    # An existing file is never overwritten.
    assert run("an SMA cross", "--out", str(target), *keyed)[0] == 2


def test_modify_prints_the_diff(gemini: GeminiStandIn, keyed: list[str], tmp_path: Path) -> None:
    source = tmp_path / "cross.py"
    source.write_text(SMA_CROSS)
    gemini.queue(strategy_reply(SMA_CROSS_SLOWER))
    code, out, _ = run("--modify", str(source), "slower", *keyed)
    assert code == 0 and out.startswith("--- current\n+++ proposed\n") and "+    fast = Param(12" in out
    assert source.read_text() == SMA_CROSS  # the trader's file is untouched


def test_explain_and_family(gemini: GeminiStandIn, keyed: list[str], tmp_path: Path) -> None:
    source = tmp_path / "cross.py"
    source.write_text(SMA_CROSS)
    gemini.queue(json_reply({"summary": "A cross.", "explanation": "Buys strength.", "family": "trend"}))
    assert run("--explain", str(source), *keyed)[1] == "A cross.\n\nBuys strength.\n\nFamily: trend\n"
    code, out, _ = run("--family", str(source), "--no-model", "--json", *keyed)
    assert code == 0 and json.loads(out)["family"] == "trend" and json.loads(out)["source"] == "analysis"
    assert len(gemini.requests) == 1


def test_exit_codes_for_failures(gemini: GeminiStandIn, keyed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    gemini.queue(*(strategy_reply(READS_BEFORE_THE_START) for _ in range(2)))
    code, out, err = run("eager", "--retries", "1", *keyed)
    assert code == 1 and out == "" and "after 2 attempts" in err and READS_BEFORE_THE_START in err

    gemini.queue(rate_limited(retry_after="30"))
    code, _, err = run("anything", *keyed)
    assert code == 2 and "wait 30 seconds" in err

    monkeypatch.delenv(GEMINI_KEY_ENV)
    code, _, err = run("anything", *keyed)
    assert code == 2 and "no Gemini key set: add one in Settings" in err
