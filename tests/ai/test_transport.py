"""When Gemini cannot be asked: timeouts, rate limits, no connection, a refused key, a failing service.

Each is its own error type with a message for the trader, every call is bounded by the timeout, and the
SDK's own retry is off unless configured (then only for 5xx, with a short, fixed backoff)."""

from __future__ import annotations

import dataclasses
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest

from core.ai import (
    GeminiError,
    GeminiKeyRejected,
    GeminiRateLimited,
    GeminiServiceError,
    GeminiSettings,
    GeminiTimedOut,
    GeminiUnreachable,
    StrategyGenerator,
)
from core.ai.client import GeminiClient, ModelRequest, Turn, http_options, retry_after_seconds
from tests.ai.gemini_standin import GeminiStandIn, error_reply, rate_limited, strategy_reply, text_reply
from tests.ai.sources import SMA_CROSS

ASK = ModelRequest("be brief", (Turn("user", "hello"),), {"type": "object", "properties": {}})


def test_a_slow_answer_times_out_quickly_and_is_not_retried(gemini: GeminiStandIn, settings: GeminiSettings) -> None:
    gemini.queue(dataclasses.replace(strategy_reply(SMA_CROSS), delay_s=30.0))
    quick = dataclasses.replace(settings, timeout_s=0.5)
    started = time.perf_counter()
    with StrategyGenerator(gemini.key, settings=quick) as generator, pytest.raises(GeminiTimedOut) as caught:
        generator.generate("anything")
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0  # the timeout, not the server's 30 s
    assert caught.value.timeout_s == 0.5
    assert "did not answer within 0.5 seconds" in str(caught.value)
    assert len(gemini.requests) == 1
    # The SDK announces the deadline to the server too.
    assert gemini.requests[0].headers["x-server-timeout"] == "1"


@pytest.mark.parametrize(
    ("reply", "wait", "says"),
    [
        (rate_limited(retry_after="20"), 20.0, "wait 20 seconds and try again"),
        (rate_limited(retry_delay="17s"), 17.0, "wait 17 seconds and try again"),
        (rate_limited(retry_after="3", retry_delay="40s"), 3.0, "wait 3 seconds"),  # the header wins
        (rate_limited(), None, "wait a minute and try again"),
    ],
)
def test_a_429_is_a_rate_limit_error_with_the_wait_it_asked_for(
    gemini: GeminiStandIn, generator: StrategyGenerator, reply: object, wait: float | None, says: str
) -> None:
    gemini.queue(reply)  # type: ignore[arg-type]
    started = time.perf_counter()
    with pytest.raises(GeminiRateLimited) as caught:
        generator.generate("anything")
    assert caught.value.retry_after_s == wait
    assert says in str(caught.value) and "rate limit" in str(caught.value)
    assert len(gemini.requests) == 1 and time.perf_counter() - started < 2.0  # not retried by the SDK


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=45), usegmt=True)
    exc = SimpleNamespace(response=SimpleNamespace(headers={"retry-after": header}), details=None)
    assert retry_after_seconds(exc, now=now) == pytest.approx(45.0)


def test_connection_refused_is_unreachable_and_fast(settings: GeminiSettings) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = dataclasses.replace(settings, base_url=f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    nobody = "AIzaNobody-0123456789abcdefghijklmnopq"
    with StrategyGenerator(nobody, settings=closed) as generator, pytest.raises(GeminiUnreachable) as caught:
        generator.explain(SMA_CROSS)
    assert time.perf_counter() - started < 3.0
    assert f"cannot reach Gemini at 127.0.0.1:{port}" in str(caught.value)
    assert "internet connection" in str(caught.value)


def test_a_refused_key_says_to_check_it_in_settings(gemini: GeminiStandIn, settings: GeminiSettings) -> None:
    wrong = "AIzaWrongKey-0123456789abcdefghijklmno"
    with StrategyGenerator(wrong, settings=settings) as generator, pytest.raises(GeminiKeyRejected) as caught:
        generator.generate("anything")
    assert "refused the API key" in str(caught.value) and "Settings" in str(caught.value)
    assert wrong not in str(caught.value)
    assert gemini.requests[0].headers["x-goog-api-key"] == wrong


def test_an_unknown_model_names_the_model(gemini: GeminiStandIn, settings: GeminiSettings) -> None:
    other = dataclasses.replace(settings, model="models/gemini-9-imaginary")
    assert other.model == "gemini-9-imaginary"
    with StrategyGenerator(gemini.key, settings=other) as generator, pytest.raises(GeminiServiceError) as caught:
        generator.generate("anything")
    assert caught.value.code == 404 and "gemini-9-imaginary" in str(caught.value)
    assert gemini.requests[0].path == "/v1beta/models/gemini-9-imaginary:generateContent"


def test_a_5xx_is_a_service_error_and_not_retried_by_default(
    gemini: GeminiStandIn, generator: StrategyGenerator
) -> None:
    overloaded = error_reply(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    gemini.queue(overloaded, strategy_reply(SMA_CROSS))
    with pytest.raises(GeminiServiceError) as caught:
        generator.generate("anything")
    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert "not working right now" in str(caught.value) and "overloaded" in str(caught.value)
    assert len(gemini.requests) == 1 and gemini.pending == 1


def test_sdk_retries_when_configured_cover_5xx_with_a_short_backoff(
    gemini: GeminiStandIn, settings: GeminiSettings
) -> None:
    retrying = dataclasses.replace(settings, http_attempts=2, http_backoff_s=0.05)
    gemini.queue(error_reply(503, "UNAVAILABLE", "overloaded"), strategy_reply(SMA_CROSS))
    with StrategyGenerator(gemini.key, settings=retrying) as generator:
        assert generator.generate("anything").code == SMA_CROSS
    assert len(gemini.requests) == 2
    # ... but never a 429: the quota would not have come back within the backoff.
    gemini.queue(rate_limited(retry_after="30"), strategy_reply(SMA_CROSS))
    with StrategyGenerator(gemini.key, settings=retrying) as generator, pytest.raises(GeminiRateLimited):
        generator.generate("anything")
    assert len(gemini.requests) == 3


def test_the_http_options_are_explicit() -> None:
    options = http_options(GeminiSettings(base_url="http://127.0.0.1:1", timeout_s=2.5))
    assert options.base_url == "http://127.0.0.1:1" and options.api_version == "v1beta"
    assert options.timeout == 2500  # milliseconds, as google-genai wants
    assert options.retry_options.attempts == 1
    retrying = http_options(GeminiSettings(http_attempts=3, http_backoff_s=0.5)).retry_options
    assert (retrying.attempts, retrying.initial_delay, retrying.max_delay, retrying.jitter) == (3, 0.5, 2.0, 0.0)
    assert retrying.http_status_codes == [500, 502, 503, 504]


def test_the_client_speaks_plain_text_when_no_schema_is_given(gemini: GeminiStandIn, settings: GeminiSettings) -> None:
    gemini.queue(text_reply("It buys low."))
    client = GeminiClient(gemini.key, settings)
    try:
        reply = client.complete(dataclasses.replace(ASK, schema=None))
    finally:
        client.close()
    assert reply.text == "It buys low." and reply.finish_reason == "STOP" and reply.usage.prompt_tokens == 1200
    assert "responseMimeType" not in gemini.requests[0].generation_config
    assert gemini.requests[0].system_text == "be brief"


def test_every_error_is_a_gemini_error() -> None:
    for cls in (GeminiTimedOut, GeminiRateLimited, GeminiUnreachable, GeminiKeyRejected, GeminiServiceError):
        assert issubclass(cls, GeminiError)
