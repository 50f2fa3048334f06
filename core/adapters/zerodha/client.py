"""KiteConnect clients, one per thread, and the single place their calls are made and their failures translated.

Why one client per thread: the SDK keeps a ``requests.Session`` per KiteConnect and the ledger calls the broker from
several worker threads while the order poller runs on its own; sessions are not documented as thread-safe, so
each thread gets its own client (same key and token; a handful of threads at most). Every request is bounded by
the SDK's own ``timeout`` (it hands it to requests: seconds per connect and per read).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kiteconnect import KiteConnect

from core.adapters.zerodha.errors import translate_error
from core.broker.errors import RateLimited

DEFAULT_TIMEOUT_S = 7.0  # the SDK's own default
PRODUCTION_API_ROOT = "https://api.kite.trade"
# Kite allows ~10 requests a second per endpoint (orders included) and answers 429 beyond; 9 leaves a margin for
# clock skew between our window and Kite's.
REQUESTS_PER_SECOND = 9


class RequestPacer:
    """At most ``per_second`` requests per endpoint in any one-second window, shared by every thread of one
    session: the order poller and the ledger's calls draw on the same budget at Kite, so they wait their turn
    here (at most ``max_wait_s``) instead of one of them meeting a 429. Thread-safe."""

    def __init__(self, per_second: int = REQUESTS_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, endpoint: str, max_wait_s: float) -> None:
        """Return when a request to ``endpoint`` may go; RateLimited (nothing sent) if that is beyond
        ``max_wait_s``."""
        deadline = self._clock() + max_wait_s
        while True:
            with self._lock:
                now = self._clock()
                sent = self._sent.setdefault(endpoint, deque())
                while sent and sent[0] <= now - 1.0:
                    sent.popleft()
                if len(sent) < self.per_second:
                    sent.append(now)
                    return
                wait = sent[0] + 1.0 - now
            if now + wait > deadline:
                raise RateLimited(
                    "Zerodha's request limit for this session is used up for the moment; nothing was sent.", wait
                )
            time.sleep(wait)


@dataclass(frozen=True)
class KiteSession:
    """What a Kite trading session is: the app's key, the day's access token, the trader's Kite user id.

    ``repr`` hides the token: sessions are logged and shown in tracebacks.
    """

    api_key: str
    access_token: str
    user_id: str = ""

    def __repr__(self) -> str:
        return f"KiteSession(api_key={self.api_key[:4]}…, user_id={self.user_id!r})"


class KiteCalls:
    """Runs SDK calls on the calling thread's client and raises ``core.broker.errors`` only."""

    def __init__(
        self,
        session: KiteSession,
        *,
        api_root: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pacer: RequestPacer | None = None,
    ) -> None:
        self._session = session
        self._root = api_root or PRODUCTION_API_ROOT
        self.timeout_s = timeout_s
        self._pacer = pacer or RequestPacer()
        self._local = threading.local()

    def client(self) -> KiteConnect:
        kite: KiteConnect | None = getattr(self._local, "kite", None)
        if kite is None:
            kite = KiteConnect(
                self._session.api_key, access_token=self._session.access_token, root=self._root, timeout=self.timeout_s
            )
            self._local.kite = kite
        return kite

    def run[T](self, what: str, endpoint: str, call: Callable[[KiteConnect], T]) -> T:
        """``call(client)``, a request to ``endpoint`` (a key for the pacer: "GET /orders", ...), once the pacer
        lets it go; ``what`` completes "Zerodha refused to ..." in error messages."""
        self._pacer.acquire(endpoint, self.timeout_s)
        try:
            return call(self.client())
        except Exception as exc:
            raise translate_error(exc, what) from exc
