"""Everything AI strategy generation can fail with, each with a message a trader can act on.

Two families, because the editor reacts differently to each:

* :class:`GeminiError` and its subclasses: the model could not be asked (no key, no network, too slow,
  rate-limited, key refused, the service failed). Nothing was generated; the editor says why and keeps
  the trader's code as it was. Retrying later (or fixing Settings) is the remedy.
* :class:`MalformedAnswer` and :class:`GenerationFailed`: the model answered, but not with something we
  can offer: the answer was not the JSON we asked for, or its code kept failing the sandbox check or the
  smoke backtest after every repair turn. ``GenerationFailed`` carries the last code and every problem so
  the editor can still show them (a trader may fix the last line by hand).

All derive from :class:`AiError`, so a caller that only shows a message catches one type. ``str()`` is the
trader's message; the key is never part of any message.
"""

from __future__ import annotations

from dataclasses import dataclass


class AiError(Exception):
    """Base of every error raised by :mod:`core.ai`; ``str()`` is for the trader."""


class AiCancelled(AiError):
    """The caller set the cancel event between two steps (a model turn or a smoke backtest)."""


# ---- the model could not be asked ---------------------------------------------------------------------------


class GeminiError(AiError):
    """Gemini could not be asked or did not answer; nothing was generated."""


class NoGeminiKey(GeminiError):
    """No Gemini API key is configured (keyring or ``GEMINI_API_KEY``)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "no Gemini key set: add one in Settings (Account > Settings), or set GEMINI_API_KEY in the environment"
        )


class GeminiUnreachable(GeminiError):
    """No connection to Gemini: no network, DNS failure, connection refused, a proxy in the way."""


class GeminiTimedOut(GeminiError):
    """Gemini did not answer within the configured timeout (``timeout_s``)."""

    def __init__(self, message: str, *, timeout_s: float) -> None:
        super().__init__(message)
        self.timeout_s = timeout_s


class GeminiRateLimited(GeminiError):
    """Gemini answered 429 (quota or rate limit). ``retry_after_s`` is the wait it asked for, when it said."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class GeminiKeyRejected(GeminiError):
    """Gemini refused the key (invalid, revoked, or without access to the model)."""


class GeminiServiceError(GeminiError):
    """Any other failure of the service: a 5xx, an unknown model, a request it refused, an unreadable reply.
    ``code`` is the HTTP status (None when there was no HTTP answer) and ``status`` Google's status name."""

    def __init__(self, message: str, *, code: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


# ---- the model answered, but not usefully ---------------------------------------------------------------------


class MalformedAnswer(AiError):
    """The model's answer is not the structured answer asked for (not JSON, fields missing or of the wrong
    type, no answer at all because it was blocked or cut off). ``raw`` is the text it sent (may be empty)."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


@dataclass(frozen=True)
class FailedAttempt:
    """One answer that was not good enough: the attempt number (1 = the first answer), its code and why."""

    attempt: int
    code: str
    problems: tuple[str, ...]


class GenerationFailed(AiError):
    """Every attempt (the first answer and each repair turn) failed the sandbox check or the smoke test.

    ``last_code`` is the final attempt's code, ``attempts`` every failed attempt with its problems, and
    ``problems`` the final attempt's problems (the ones the editor marks)."""

    def __init__(self, attempts: tuple[FailedAttempt, ...]) -> None:
        if not attempts:
            raise ValueError("GenerationFailed needs at least one failed attempt")
        self.attempts = attempts
        last = attempts[-1]
        self.last_code = last.code
        self.problems = last.problems
        listed = "\n".join(f"  - {p}" for p in last.problems)
        tries = f"{len(attempts)} attempt{'' if len(attempts) == 1 else 's'}"
        super().__init__(
            f"Gemini's strategy still failed the checks after {tries}; the last version's problems:\n{listed}"
        )
