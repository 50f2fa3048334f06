"""The symbols the club's open orders are on, kept wanted on the bar feed while this process routes.

The router fills resting orders from closed bars and crosses at the last price, so it needs bars of every
symbol any trader has an open order on, not only of what this machine's chart shows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.club.virtual_orders import OPEN_SQL

log = logging.getLogger(__name__)

_OPEN_SYMBOLS = text(f"SELECT DISTINCT symbol FROM orders WHERE broker = 'club' AND status IN ({OPEN_SQL})")


def open_order_symbols(session_factory: sessionmaker[Session]) -> set[str]:
    with session_factory() as s:
        return set(s.execute(_OPEN_SYMBOLS).scalars())


class OpenOrderSymbols:
    """Every ``every_s``, hands ``want`` the symbols of the club's open orders (while ``active()`` says so)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        want: Callable[[Iterable[str]], None],
        *,
        active: Callable[[], bool] = lambda: True,
        every_s: float = 5.0,
    ) -> None:
        self._sessions = session_factory
        self._want = want
        self._active = active
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="club-open-symbols", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            if not self._active():
                continue
            try:
                self._want(open_order_symbols(self._sessions))
            except Exception as exc:  # a lost connection: try again at the next refresh
                log.warning("cannot read the open orders' symbols: %s", exc)
