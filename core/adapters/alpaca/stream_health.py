"""What a trader should know about an Alpaca stream that keeps failing, said once per change.

alpaca-py retries a refused websocket forever and only logs it on its own logger, so a market-data connection
refused with 406 (another connection holds the account's one data stream) or keys Alpaca keeps refusing looked
exactly like a quiet market. ``StreamHealth`` is fed by the streams' subclasses (``bar_feed``, ``trade_stream``)
at each connection and each refusal, and:

* reports a ``StreamStatus`` through a callback, and logs it, only when the status changes (not per retry);
* asks for a slow retry (``slow_retry_s``, 30 s) while refused, instead of alpaca-py's 1 s doubling, which
  reconnects every few seconds at first: a 406 lasts as long as the other connection does, and keys Alpaca
  refused three times will not start working within a second.

Connection errors that alpaca-py already handles (a dropped socket, a server restart) are not reported here: they
heal by themselves, and the trade stream's reconnection is reported through its ``on_connected`` hook instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)

AUTH_FAILURES_SHOWN = 3  # one refusal can be a blip at Alpaca's end; three in a row are the keys
SLOW_RETRY_S = 30.0


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"  # working around it (retrying), the trader may fix the cause
    ERROR = "error"  # will not work until the trader does something (keys)


@dataclass(frozen=True)
class StreamStatus:
    """One stream's state, in words a trader can act on; ``stream`` names it ("Market data", "Trade updates")."""

    stream: str
    severity: Severity
    message: str

    @property
    def ok(self) -> bool:
        return self.severity is Severity.OK


StatusCallback = Callable[[StreamStatus], None]

# What alpaca-py's ValueError says when a stream's authentication reply is a refusal (its own wording, and the
# server's message for the data stream); the connection limit is Alpaca's 406 message.
_CONNECTION_LIMIT = "connection limit exceeded"
_AUTH_REFUSALS = ("auth failed", "failed to authenticate", "not authenticated", "unauthorized", "auth timeout")


def is_connection_limit(error: BaseException) -> bool:
    return _CONNECTION_LIMIT in str(error).lower()


def is_auth_refusal(error: BaseException) -> bool:
    text = str(error).lower()
    return any(words in text for words in _AUTH_REFUSALS)


class StreamHealth:
    """Thread-safe; one per stream object. ``status`` is the latest report (OK before any trouble)."""

    def __init__(
        self,
        stream: str,
        on_status: StatusCallback | None = None,
        *,
        slow_retry_s: float = SLOW_RETRY_S,
        auth_failures_shown: int = AUTH_FAILURES_SHOWN,
    ) -> None:
        self.stream = stream
        self.slow_retry_s = slow_retry_s
        self._on_status = on_status
        self._auth_failures_shown = auth_failures_shown
        self._lock = threading.Lock()
        self._auth_failures = 0
        self._refused = False
        self._status = StreamStatus(stream, Severity.OK, f"{stream}: connected")
        self.reports: list[StreamStatus] = []  # every change reported, oldest first (for logs and tests)

    @property
    def status(self) -> StreamStatus:
        with self._lock:
            return self._status

    @property
    def auth_failures(self) -> int:
        """Refused authentications in a row (0 after a connection)."""
        with self._lock:
            return self._auth_failures

    @property
    def slow_retry(self) -> bool:
        """True while the stream is refused for a reason a fast retry cannot cure."""
        with self._lock:
            return self._refused

    def connected(self) -> None:
        with self._lock:
            self._auth_failures = 0
            self._refused = False
        self._report(Severity.OK, f"{self.stream}: connected")

    def refused(self, error: BaseException) -> None:
        """A connection attempt failed at authentication: classify the refusal, report it if it changed."""
        if is_connection_limit(error):
            with self._lock:
                self._auth_failures = 0
                self._refused = True
            self._report(
                Severity.WARNING,
                f"{self.stream}: another connection is using the club's Alpaca account (406); "
                f"retrying every {self.slow_retry_s:g} s",
            )
        elif is_auth_refusal(error):
            with self._lock:
                self._auth_failures += 1
                failures = self._auth_failures
                self._refused = failures >= self._auth_failures_shown
            if failures >= self._auth_failures_shown:
                self._report(
                    Severity.ERROR,
                    f"{self.stream}: Alpaca refused the club's keys {self._auth_failures_shown} times in a row; "
                    f"check them in Settings (retrying every {self.slow_retry_s:g} s)",
                )

    def _report(self, severity: Severity, message: str) -> None:
        status = StreamStatus(self.stream, severity, message)
        with self._lock:
            if status == self._status:
                return  # the same refusal again: said already
            self._status = status
            self.reports.append(status)
        log.log(logging.INFO if status.ok else logging.WARNING, "%s", message)
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                log.exception("stream status callback failed")
