"""One pass at a time, requests in between folded into one more pass.

Panels reload on every NOTIFY, price tick or filter change; running a load per request would queue work on the
runner's threads faster than it finishes. ``CoalescedPasses`` runs ``one_pass`` as a task: a request while a pass
runs marks that exactly one more pass is due after it, however many requests arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class CoalescedPasses:
    def __init__(
        self,
        one_pass: Callable[[], Awaitable[bool]],
        spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], object],
    ) -> None:
        """``one_pass`` returns False to end the run early (the widget is gone, the load failed); ``spawn`` starts
        a task running the coroutine the function it is given makes (the panel's own spawn, which shows
        unexpected errors)."""
        self._one_pass = one_pass
        self._spawn = spawn
        self._running = False
        self._again = False

    @property
    def running(self) -> bool:
        return self._running

    def request(self) -> None:
        """A pass soon: now if none runs, else one more after the current one. A pass may call this itself (a
        backlog it did not finish)."""
        if self._running:
            self._again = True
            return
        self._running = True
        self._spawn(self._passes)

    async def _passes(self) -> None:
        try:
            while True:
                self._again = False
                if not await self._one_pass() or not self._again:
                    return
        finally:
            self._running = False
