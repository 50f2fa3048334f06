"""What the editor learns from a strategy's source without running it, and saving a draft through the library:
refusals come back as values with their lines, parameters as the code declares them."""

from __future__ import annotations

import pytest

from core.services.strategy_drafts import NO_CLASS_MESSAGE, StrategyDrafts, analyse_source
from core.strategy.library import StrategyDraft
from tests.backtest.test_sandboxed_backtest import SIGNALS

FORBIDDEN = SIGNALS + "\nimport os\n"


@pytest.fixture
def drafts(db) -> StrategyDrafts:
    return StrategyDrafts(db.session_factory)


@pytest.fixture
def user(accounts):
    return accounts.sign_up("ada@example.com", "ada", "Correct-Horse-2026").id


def test_a_clean_source_has_its_classes_and_declared_parameters():
    analysis = analyse_source(SIGNALS)
    assert analysis.ok and analysis.chosen in analysis.classes
    assert analysis.params is not None and {p.name for p in analysis.params} >= {"fast"}


def test_a_forbidden_import_is_a_problem_at_its_line_and_code_without_a_class_says_so():
    analysis = analyse_source(FORBIDDEN)
    assert not analysis.ok and any(p.line == FORBIDDEN.count("\n") for p in analysis.problems)
    assert [p.message for p in analyse_source("x = 1\n").problems] == [NO_CLASS_MESSAGE]


def test_a_saved_draft_keeps_the_values_its_code_accepts_and_versions(drafts, user):
    outcome = drafts.save(user, StrategyDraft("Sig", SIGNALS), values={"fast": 7, "nonsense": 1})
    assert outcome.saved is not None and outcome.saved.version == 1
    assert outcome.saved.parameters["fast"] == 7 and "nonsense" not in outcome.saved.parameters
    again = drafts.save(user, StrategyDraft("Sig", SIGNALS + "\n# tweak\n"), strategy_id=outcome.saved.id,
                        change_note="tweak")  # fmt: skip
    assert again.saved is not None and again.saved.version == 2
    opened = drafts.open(user, outcome.saved.id)
    assert [v.version for v in opened.history] == [2, 1] and [s.name for s in drafts.list(user)] == ["Sig"]
    drafts.archive(user, outcome.saved.id)
    assert drafts.list(user) == []


def test_refusals_come_back_as_values_not_exceptions(drafts, user):
    refused = drafts.save(user, StrategyDraft("Bad", FORBIDDEN))
    assert refused.saved is None and refused.problems and refused.error is None
    unnamed = drafts.save(user, StrategyDraft("", SIGNALS))
    assert unnamed.saved is None and unnamed.error and not unnamed.problems
    assert drafts.list(user) == []
