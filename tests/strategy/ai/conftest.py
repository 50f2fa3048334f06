"""Fixtures for the AI generation tests: a scripted Gemini stand-in on loopback and generators pointed at it.

No test reaches the internet: every generator gets the stand-in's ``base_url``, and the environment
variables that could redirect google-genai (a proxy, Vertex AI, another API version or key) are removed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.strategy.ai import GeminiSettings, StrategyGenerator
from tests.strategy.ai.gemini_standin import GeminiStandIn

_REDIRECTING_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_HTTP_CLIENT", "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION", "GOOGLE_API_USE_MTLS_ENDPOINT",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _REDIRECTING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as standin:
        yield standin


@pytest.fixture
def settings(gemini: GeminiStandIn) -> GeminiSettings:
    """Short timeouts and a short smoke series, so that a test takes a second or two, not a minute."""
    return GeminiSettings(base_url=gemini.base_url, timeout_s=10.0, smoke_bars=1_000, smoke_cpu_s=10.0)


@pytest.fixture
def generator(gemini: GeminiStandIn, settings: GeminiSettings) -> Iterator[StrategyGenerator]:
    with StrategyGenerator(gemini.key, settings=settings) as made:
        yield made
