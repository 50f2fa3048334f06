"""How StratForge talks to Gemini: model, endpoint, timeout, retries, repair turns, smoke-test budget.

One frozen value so the editor, the command line and the tests configure a generator the same way, and so
every knob that makes a call slow is visible in one place.

Retries, and why the default is none at the HTTP level (``http_attempts = 1``):

* google-genai's own retry (``HttpOptions.retry_options``) retries 408, 429 and 5xx answers *and* every
  timeout and connection error, with a 1 s exponential backoff up to 5 attempts by default. A trader
  waiting for a strategy would then wait up to five timeouts before hearing anything.
* A 429 from Gemini is a per-minute (or per-day) quota: a retry a second later fails the same way, so it is
  better to tell the trader at once how long to wait (:class:`~core.ai.errors.GeminiRateLimited`).
* The generator already makes several model calls (repair turns); a failed call surfaces quickly and the
  trader presses Generate again.

``http_attempts > 1`` turns the SDK's retry on for 5xx answers only (plus, unavoidably, timeouts and
connection errors, which the SDK always retries when retrying is on), with ``http_backoff_s`` as the first
delay, at most four times that, and no jitter, so the worst case stays predictable:
``http_attempts * timeout_s`` plus the backoffs.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.bars import TIMEFRAMES
from core.domain.timeframes import Timeframe

DEFAULT_MODEL = "gemini-2.5-flash"
"""Fast and cheap enough for interactive use, and good at short Python modules; Settings may name another."""

API_VERSION = "v1beta"
"""The Gemini API version the requests use (structured output with a JSON schema is served there). Fixed
here rather than left to the SDK, whose default has changed between releases."""

RETRIED_STATUS_CODES = (500, 502, 503, 504)
MAX_REPAIRS = 10  # each repair turn resends the whole conversation: cost grows with the square of the turns


@dataclass(frozen=True)
class GeminiSettings:
    """Configuration of a :class:`~core.ai.generator.StrategyGenerator`.

    ``base_url`` None means Google's endpoint; tests (and a club's proxy) point it elsewhere.
    ``timeout_s`` bounds each HTTP request (connect, and each read of the answer). ``max_repairs`` is how many
    follow-up turns feed validation or smoke-test errors back to the model before giving up. The smoke test
    runs on ``smoke_bars`` simulated bars (seeded by ``smoke_seed``) unless the caller passes bars, with
    ``smoke_cpu_s`` CPU seconds and ``smoke_memory_mb`` of memory in the sandbox."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    timeout_s: float = 120.0
    http_attempts: int = 1
    http_backoff_s: float = 1.0
    temperature: float | None = 0.2
    max_repairs: int = 2
    smoke_bars: int = 3_000
    smoke_seed: int = 20_250_102
    smoke_cpu_s: float = 20.0
    smoke_memory_mb: int = 1024
    default_timeframe: str = Timeframe.MIN_1

    def __post_init__(self) -> None:
        name = self.model.strip().removeprefix("models/")
        if not name or any(c.isspace() or c in "/?#:" for c in name):
            raise ValueError(f"not a Gemini model name: {self.model!r}")
        object.__setattr__(self, "model", name)
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.http_attempts < 1:
            raise ValueError(f"http_attempts must be at least 1, got {self.http_attempts!r}")
        if self.http_backoff_s < 0:
            raise ValueError(f"http_backoff_s must be >= 0, got {self.http_backoff_s!r}")
        if not 0 <= self.max_repairs <= MAX_REPAIRS:
            raise ValueError(f"max_repairs must be from 0 to {MAX_REPAIRS}, got {self.max_repairs!r}")
        if self.smoke_bars < 50:
            raise ValueError(f"smoke_bars must be at least 50, got {self.smoke_bars!r}")
        if not self.smoke_cpu_s > 0 or self.smoke_memory_mb <= 0:
            raise ValueError("smoke_cpu_s and smoke_memory_mb must be positive")
        if self.default_timeframe not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {self.default_timeframe!r} (one of {', '.join(TIMEFRAMES)})")

    @property
    def timeout_ms(self) -> int:
        """The timeout as google-genai wants it (``HttpOptions.timeout`` is whole milliseconds)."""
        return max(1, round(self.timeout_s * 1000))
