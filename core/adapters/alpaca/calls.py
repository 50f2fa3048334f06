"""Bounding alpaca-py's REST calls in time and translating its failures into broker errors.

alpaca-py's ``TradingClient`` passes no timeout to ``requests`` and offers no public
way to set one (its ``Session`` is private). Rather than patch it, each call runs on
a short-lived daemon thread and the caller waits with a deadline. A call that misses
its deadline raises BrokerUnavailable at once; its thread is abandoned and ends
when the socket does. Daemon threads never block interpreter exit (a
ThreadPoolExecutor would join them at exit), and a semaphore caps how many stuck
calls may pile up: when all slots are taken by calls Alpaca never answered, new
calls fail fast with NotPlaced (nothing was sent) instead of queueing behind them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from alpaca.common.exceptions import APIError

from core.broker.errors import BrokerError, BrokerRejected, BrokerUnavailable, NotPlaced, OrderNotFound, RateLimited

DEFAULT_TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 8


class DeadlineRunner:
    """Runs blocking calls with a deadline; thread-safe."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def run[T](self, what: str, fn: Callable[[], T]) -> T:
        """Call ``fn`` and return its result, or raise BrokerUnavailable after ``timeout_s``."""
        if not self._slots.acquire(timeout=self.timeout_s):
            raise NotPlaced(f"Alpaca: too many requests still unanswered; {what} was not sent")
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                outcome["result"] = fn()
            except BaseException as exc:  # handed back to the caller below
                outcome["error"] = exc
            finally:
                self._slots.release()
                done.set()

        threading.Thread(target=work, name=f"alpaca-rest:{what}", daemon=True).start()
        if not done.wait(self.timeout_s):
            raise BrokerUnavailable(f"Alpaca did not answer within {self.timeout_s:g} s ({what}); outcome unknown")
        if "error" in outcome:
            raise translate_error(outcome["error"], what) from outcome["error"]
        return outcome["result"]


def api_error_message(error: APIError) -> str:
    """Alpaca's own ``message`` when the body is its JSON error, else the raw body."""
    try:
        return str(error.message)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        return str(error) or "no details"


def rate_limit_reset_in(error: APIError, now: float | None = None) -> float | None:
    """Seconds until Alpaca's window resets, from X-RateLimit-Reset (epoch seconds); None when not given."""
    response = error.response
    raw = response.headers.get("X-RateLimit-Reset") if response is not None else None
    try:
        reset = float(raw) if raw is not None else None
    except ValueError:
        return None
    if reset is None:
        return None
    return max(0.0, reset - (time.time() if now is None else now))


def translate_error(exc: BaseException, what: str) -> BaseException:
    """Map an exception from alpaca-py/requests onto the broker error hierarchy."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code
        message = api_error_message(exc)
        if status == 429:  # Alpaca did not process the request: a definite non-placement
            return RateLimited(f"Alpaca rate limit reached, retry later ({message})", rate_limit_reset_in(exc))
        if status == 404:
            return OrderNotFound(f"Alpaca: not found ({what}): {message}")
        if status is not None and 400 <= status < 500:
            return BrokerRejected(f"Alpaca refused {what}: {message}")
        return BrokerUnavailable(f"Alpaca error {status} ({what}): {message}")
    if isinstance(exc, requests.RequestException | OSError):
        return BrokerUnavailable(f"Alpaca unreachable ({what}): {exc}")
    if isinstance(exc, ValueError | KeyError | TypeError):
        return BrokerError(f"unexpected Alpaca answer or request ({what}): {exc}")
    return exc
