"""One model call: the generator's questions go to Gemini through google-genai, and its failures come back as
:mod:`core.ai.errors` types.

The generator talks to a :class:`ModelClient` (one method, ``complete``) rather than to the SDK, so the
conversation logic does not depend on google-genai's types and another model could be added later. The
one real implementation, :class:`GeminiClient`, uses the SDK exactly as an application would:
``genai.Client(api_key=..., http_options=HttpOptions(base_url, api_version, timeout, retry_options))`` and
``client.models.generate_content`` with ``response_mime_type="application/json"`` and a
``response_json_schema``. On the wire that is ``POST {base_url}/v1beta/models/{model}:generateContent`` with
the key in the ``x-goog-api-key`` header; the answer's text is ``candidates[0].content.parts[*].text``.

Every call blocks for up to ``settings.timeout_s`` (times ``http_attempts``): run it off the GUI thread.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from core.ai.errors import (
    GeminiError,
    GeminiKeyRejected,
    GeminiRateLimited,
    GeminiServiceError,
    GeminiTimedOut,
    GeminiUnreachable,
    MalformedAnswer,
    NoGeminiKey,
)
from core.ai.settings import API_VERSION, RETRIED_STATUS_CODES, GeminiSettings

GEMINI_DEFAULT_HOST = "generativelanguage.googleapis.com"
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class Turn:
    """One message of the conversation: the trader's side (``user``, our prompts) or the model's answer."""

    role: Literal["user", "model"]
    text: str


@dataclass(frozen=True)
class ModelRequest:
    """What to ask: standing instructions, the conversation so far, and the JSON schema the answer must follow
    (None: plain text)."""

    system: str
    turns: tuple[Turn, ...]
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens a call (or, summed with ``+``, a whole generation) used, as Gemini's ``usageMetadata`` reports them."""

    prompt_tokens: int = 0
    answer_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.answer_tokens + other.answer_tokens,
            self.total_tokens + other.total_tokens,
        )


@dataclass(frozen=True)
class ModelReply:
    """The model's answer text (thoughts left out), what it cost, why it stopped, which model version answered."""

    text: str
    usage: Usage = Usage()
    finish_reason: str | None = None
    model_version: str | None = None


class ModelClient(Protocol):
    """What the generator needs from a model: ask, get text back or a :class:`GeminiError`."""

    @property
    def model(self) -> str: ...

    def complete(self, request: ModelRequest) -> ModelReply: ...

    def close(self) -> None: ...


class GeminiClient:
    """A :class:`ModelClient` on google-genai. Thread-safe; holds one HTTP connection pool until ``close``."""

    def __init__(self, key: str, settings: GeminiSettings | None = None) -> None:
        from google import genai
        from google.genai import types

        if not key or not key.strip():
            raise NoGeminiKey()
        self.settings = settings or GeminiSettings()
        self._types = types
        # vertexai=False explicitly: GOOGLE_GENAI_USE_VERTEXAI in someone's environment must not send a
        # trader's Gemini key to Vertex AI. The key is passed explicitly, so GOOGLE_API_KEY is not consulted.
        self._client = genai.Client(api_key=key.strip(), vertexai=False, http_options=http_options(self.settings))

    @property
    def model(self) -> str:
        return self.settings.model

    def complete(self, request: ModelRequest) -> ModelReply:
        """Ask once (the SDK retries only as ``settings.http_attempts`` says). Raises a :class:`GeminiError`
        subclass when Gemini cannot be asked, :class:`MalformedAnswer` when it answers with nothing usable."""
        types = self._types
        contents = [types.Content(role=t.role, parts=[types.Part(text=t.text)]) for t in request.turns]
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=self.settings.temperature,
            response_mime_type="application/json" if request.schema is not None else None,
            response_json_schema=dict(request.schema) if request.schema is not None else None,
            # One request per call: the timeout and the error handling above then hold for the whole call.
            automatic_continuation=False,
        )
        try:
            response = self._client.models.generate_content(model=self.settings.model, contents=contents,
                                                            config=config)  # fmt: skip
        except Exception as exc:
            raise translate_error(exc, self.settings) from exc
        return _reply(response)

    def close(self) -> None:
        self._client.close()


def http_options(settings: GeminiSettings) -> Any:
    """The SDK's ``HttpOptions`` for ``settings``: endpoint, API version, timeout in ms, explicit retries
    (see :mod:`core.ai.settings` for why the default is a single attempt)."""
    from google.genai import types

    if settings.http_attempts == 1:
        retry = types.HttpRetryOptions(attempts=1)
    else:
        retry = types.HttpRetryOptions(
            attempts=settings.http_attempts,
            initial_delay=settings.http_backoff_s,
            max_delay=settings.http_backoff_s * 4,
            exp_base=2.0,
            jitter=0.0,
            http_status_codes=list(RETRIED_STATUS_CODES),
        )
    return types.HttpOptions(
        base_url=settings.base_url, api_version=API_VERSION, timeout=settings.timeout_ms, retry_options=retry
    )


# ---- replies ----------------------------------------------------------------------------------------------------


def _reply(response: Any) -> ModelReply:
    usage_meta = getattr(response, "usage_metadata", None)
    usage = Usage(
        int(getattr(usage_meta, "prompt_token_count", None) or 0),
        int(getattr(usage_meta, "candidates_token_count", None) or 0),
        int(getattr(usage_meta, "total_token_count", None) or 0),
    )
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        feedback = getattr(response, "prompt_feedback", None)
        reason = _name(getattr(feedback, "block_reason", None))
        why = f"the request was blocked ({reason})" if reason else "the answer was empty"
        raise MalformedAnswer(f"Gemini gave no answer: {why}; rephrase the request and try again")
    candidate = candidates[0]
    finish = _name(getattr(candidate, "finish_reason", None))
    parts = getattr(getattr(candidate, "content", None), "parts", None) or []
    text = "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False))
    if not text.strip():
        why = f" (it stopped with {finish})" if finish and finish != "STOP" else ""
        raise MalformedAnswer(f"Gemini's answer had no text{why}; rephrase the request and try again")
    return ModelReply(text, usage, finish, getattr(response, "model_version", None))


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "name", None) or getattr(value, "value", None) or value)


# ---- errors -----------------------------------------------------------------------------------------------------


def _transport_classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from httpx2 and httpx, whichever are installed (google-genai uses either)."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_CONNECT_TIMEOUTS = _transport_classes("ConnectTimeout")
_TIMEOUTS = _transport_classes("TimeoutException")
_TRANSPORT = _transport_classes("TransportError")
_KEY_PROBLEMS = ("API_KEY_INVALID", "API key not valid", "API key expired", "API_KEY_SERVICE_BLOCKED")


def translate_error(exc: BaseException, settings: GeminiSettings) -> GeminiError:
    """The :class:`GeminiError` a trader should see for what the SDK (or its HTTP library) raised."""
    from google.genai import errors as genai_errors

    host = urlsplit(settings.base_url).netloc if settings.base_url else GEMINI_DEFAULT_HOST
    if isinstance(exc, genai_errors.APIError):
        return _from_api_error(exc, settings)
    if _CONNECT_TIMEOUTS and isinstance(exc, _CONNECT_TIMEOUTS):
        return GeminiUnreachable(
            f"cannot reach Gemini at {host}: the connection timed out; check the internet connection"
        )
    if _TIMEOUTS and isinstance(exc, _TIMEOUTS):
        return GeminiTimedOut(
            f"Gemini did not answer within {settings.timeout_s:g} seconds; try again, or ask for a simpler strategy",
            timeout_s=settings.timeout_s,
        )
    if (_TRANSPORT and isinstance(exc, _TRANSPORT)) or isinstance(exc, OSError):
        return GeminiUnreachable(
            f"cannot reach Gemini at {host} ({_detail(exc) or type(exc).__name__}); "
            "check the internet connection (and any proxy settings)"
        )
    if isinstance(exc, genai_errors.UnknownApiResponseError):
        return GeminiServiceError("Gemini's reply could not be read (it was not JSON); try again later")
    return GeminiServiceError(f"the request to Gemini failed ({type(exc).__name__}: {_detail(exc)})")


def _from_api_error(exc: Any, settings: GeminiSettings) -> GeminiError:
    code = int(exc.code) if isinstance(exc.code, int) else None
    status = exc.status if isinstance(exc.status, str) else None
    said = _detail(exc.message or "")
    label = " ".join(str(x) for x in (code, status) if x)
    if code == 429:
        wait = retry_after_seconds(exc)
        when = f"wait {math.ceil(wait)} seconds" if wait is not None else "wait a minute"
        return GeminiRateLimited(
            f"Gemini's rate limit was reached (too many requests, or the key's quota is used up): {when} and try again",
            retry_after_s=wait,
        )
    if code in (401, 403) or any(p in str(exc.details) for p in _KEY_PROBLEMS):
        return GeminiKeyRejected(
            f"Gemini refused the API key ({label}: {said}); check the key in Settings (Account > Settings)"
        )
    if code == 404:
        return GeminiServiceError(
            f"Gemini has no model named {settings.model!r} ({label}: {said}); check the model name",
            code=code, status=status,
        )  # fmt: skip
    if code is not None and code >= 500:
        return GeminiServiceError(
            f"Gemini is not working right now ({label}: {said}); try again in a few minutes", code=code, status=status
        )
    return GeminiServiceError(f"Gemini refused the request ({label}: {said})", code=code, status=status)


def retry_after_seconds(exc: Any, now: datetime | None = None) -> float | None:
    """The wait a 429 asked for: the ``Retry-After`` header (seconds or an HTTP date), else the
    ``google.rpc.RetryInfo`` detail's ``retryDelay`` ("17s"); None when neither is there."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    raw = headers.get("retry-after") if headers is not None else None
    if raw:
        text = str(raw).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
        else:
            if math.isfinite(seconds) and seconds >= 0:
                return seconds
    details = getattr(exc, "details", None)
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error.get("details") if isinstance(error, dict) else None) or []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _detail(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
