"""Fixtures for the AI generation tests: a scripted Gemini stand-in on loopback and generators pointed at it.

No test reaches the internet: every generator gets the stand-in's ``base_url``, and the environment
variables that could redirect google-genai (a proxy, Vertex AI, another API version or key) are removed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.ai import GeminiSettings, StrategyGenerator
from core.strategy.sandbox.confinement import ConfinementLevel
from tests.ai.confinement import confine
from tests.ai.gemini_standin import GeminiStandIn


@pytest.fixture(autouse=True)
def _isolated_environment(no_gemini_redirects: None) -> None:
    """Even tests that never start the stand-in must not see a proxy or a developer's key."""


@pytest.fixture(autouse=True)
def _fully_confined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine's sandbox manages, the generators here see FULL confinement (answers smoke-tested at
    once); the confirmation tests ask for less."""
    confine(monkeypatch, ConfinementLevel.FULL)


@pytest.fixture
def settings(gemini_settings: GeminiSettings) -> GeminiSettings:
    return gemini_settings


@pytest.fixture
def generator(gemini: GeminiStandIn, settings: GeminiSettings) -> Iterator[StrategyGenerator]:
    with StrategyGenerator(gemini.key, settings=settings) as made:
        yield made
