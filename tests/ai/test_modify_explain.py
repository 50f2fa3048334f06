"""Modifying a strategy (vetted like a new one, shown as a diff) and explaining or classifying any code."""

from __future__ import annotations

import pytest

from core.ai import GenerationFailed, MalformedAnswer, StrategyGenerator
from core.ai.contract import CONTRACT_TITLE
from core.ai.diff import code_diff
from core.ai.schema import EXPLANATION_FIELDS, FAMILY_FIELDS
from tests.ai.gemini_standin import GeminiStandIn, json_reply, strategy_reply
from tests.ai.sources import READS_BEFORE_THE_START, SMA_CROSS, SMA_CROSS_SLOWER

CHANGE = "Make it slower: 12 and 60 bars, and describe the slow parameter."


def test_modify_returns_the_vetted_new_strategy_and_a_diff(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(strategy_reply(SMA_CROSS_SLOWER, explanation="The same cross, slower.", family="trend"))
    change = generator.modify(SMA_CROSS, CHANGE)

    assert change.old_code == SMA_CROSS and change.changed
    assert change.strategy.code == SMA_CROSS_SLOWER and change.strategy.smoke.ok
    assert change.strategy.default_values == {"size": 1.0, "fast": 12, "slow": 60}
    assert change.diff.startswith("--- current\n+++ proposed\n")
    assert '-    fast = Param(8, min=2, max=50, doc="bars of the fast average")\n' in change.diff
    assert '+    fast = Param(12, min=2, max=50, doc="bars of the fast average")\n' in change.diff
    assert '+    slow = Param(60, min=10, max=200, doc="bars of the slow average")\n' in change.diff
    assert "+class GeminiCross" not in change.diff and "-class GeminiCross" not in change.diff  # context only

    (request,) = gemini.requests
    assert CONTRACT_TITLE in request.system_text
    ((role, text),) = request.turns
    assert role == "user" and SMA_CROSS.rstrip() in text and CHANGE in text and "(class GeminiCross)" in text
    assert request.generation_config["responseMimeType"] == "application/json"


def test_a_modification_that_breaks_is_repaired_like_a_new_strategy(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    gemini.queue(strategy_reply(READS_BEFORE_THE_START), strategy_reply(SMA_CROSS_SLOWER))
    change = generator.modify(SMA_CROSS, CHANGE)
    assert change.strategy.attempts == 2 and change.strategy.code == SMA_CROSS_SLOWER
    assert "IndexError" in gemini.requests[1].turns[2][1]


def test_a_modification_that_keeps_failing_carries_the_last_code(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    gemini.queue(*(strategy_reply(READS_BEFORE_THE_START) for _ in range(3)))
    with pytest.raises(GenerationFailed) as caught:
        generator.modify(SMA_CROSS, CHANGE)
    assert caught.value.last_code == READS_BEFORE_THE_START and len(caught.value.attempts) == 3


def test_an_unchanged_answer_has_an_empty_diff(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(strategy_reply(SMA_CROSS))
    change = generator.modify(SMA_CROSS.replace("\n", "\r\n"), "keep it as it is")
    assert change.diff == "" and not change.changed


def test_explain_asks_for_structured_plain_english(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    answer = {
        "summary": "A moving-average crossover.",
        "explanation": "It buys when the 8-bar average rises above the 30-bar average and sells when it falls back.",
        "family": "trend",
    }
    gemini.queue(json_reply(answer))
    explained = generator.explain(SMA_CROSS)

    assert explained.summary == "A moving-average crossover."
    assert explained.text.startswith("It buys when the 8-bar average")
    assert (explained.family, explained.family_source) == ("trend", "model")
    assert explained.model == "gemini-2.5-flash" and explained.usage.total_tokens == 1500
    (request,) = gemini.requests
    assert SMA_CROSS.rstrip() in request.turns[0][1]
    schema = request.generation_config["responseJsonSchema"]
    assert tuple(schema["required"]) == EXPLANATION_FIELDS


def test_explain_works_on_code_that_would_be_refused(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    """Explaining never runs or validates the code, so even a broken module gets an explanation."""
    gemini.queue(json_reply({"summary": "Broken.", "explanation": "It tries to read a file.", "family": "??"}))
    explained = generator.explain("import os\nopen('/etc/passwd')\n")
    assert explained.summary == "Broken." and explained.family is None and explained.family_source == "analysis"


def test_a_malformed_explanation_is_refused(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(json_reply({"summary": "", "explanation": "x", "family": "trend"}))
    with pytest.raises(MalformedAnswer, match="empty summary"):
        generator.explain(SMA_CROSS)


def test_classify_asks_the_model_when_there_is_a_key(gemini: GeminiStandIn, generator: StrategyGenerator) -> None:
    gemini.queue(json_reply({"family": "momentum", "reason": "It enters on the averages' momentum."}))
    verdict = generator.classify(SMA_CROSS)
    assert (verdict.family, verdict.source) == ("momentum", "model")
    assert verdict.reason == "It enters on the averages' momentum."
    assert verdict.scores["trend"] > 0  # the analysis' scores come along as a second opinion
    schema = gemini.requests[0].generation_config["responseJsonSchema"]
    assert tuple(schema["required"]) == FAMILY_FIELDS
    # use_model=False (or no key) answers from the analysis without a request.
    local = generator.classify(SMA_CROSS, use_model=False)
    assert (local.family, local.source) == ("trend", "analysis") and len(gemini.requests) == 1


def test_code_diff_normalises_line_endings_and_a_missing_last_newline() -> None:
    assert code_diff("a\r\nb\r\n", "a\nb") == ""
    diff = code_diff("a\nb", "a\nc\n")
    assert diff.splitlines()[-2:] == ["-b", "+c"]
