"""BudgetedBroker: a Broker whose every REST call first takes a slot from the club's RateBudget.

Composition rather than a subclass, so the same wrapper serves any Broker (the
ledger only sees the protocol). Event-handler registration costs no request and
is delegated untouched, so handlers still reach the inner broker's stream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from core.adapters.alpaca.rate_budget import RateBudget
from core.broker.errors import BrokerError, BrokerRejected, OrderNotFound, RateLimited
from core.broker.protocol import Broker, EventHandler
from core.domain.orders import Account, Asset, BrokerOrder, BrokerPosition, Clock, OrderRequest


def _status_of(exc: BaseException | None) -> int | None:
    """A rough HTTP status for the audit row (the Broker protocol hides the real one)."""
    if exc is None:
        return 200
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, OrderNotFound):
        return 404
    if isinstance(exc, BrokerRejected):
        return 422
    return None  # unavailable or unknown: the outcome is not known either


class BudgetedBroker:
    """Implements ``Broker`` by delegating to ``inner``; thread-safe as long as ``inner`` is."""

    def __init__(
        self,
        inner: Broker,
        budget: RateBudget,
        *,
        user_id: uuid.UUID | None = None,
        acquire_timeout_s: float = 30.0,
        record_outcome: bool = True,
    ) -> None:
        """``user_id``: whom to attribute the calls to in ``api_usage_logs`` (None: the club).

        ``record_outcome`` costs one extra small UPDATE per call; turn it off to halve DB traffic.
        """
        self.inner = inner
        self.name = inner.name
        self._budget = budget
        self._user_id = user_id
        self._timeout = acquire_timeout_s
        self._record = record_outcome

    def _call[T](self, method: str, endpoint: str, fn: Callable[[], T]) -> T:
        slot = self._budget.acquire(endpoint, method, self._user_id, self._timeout)
        started = time.monotonic()
        error: BaseException | None = None
        try:
            return fn()
        except BrokerError as exc:
            error = exc
            raise
        finally:
            if self._record:
                self._budget.record(slot, _status_of(error), int((time.monotonic() - started) * 1000))

    # ---- REST: each takes one slot ----

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        return self._call("POST", "/v2/orders", lambda: self.inner.submit_order(request))

    def cancel_order(self, order_id: str) -> None:
        self._call("DELETE", "/v2/orders/{id}", lambda: self.inner.cancel_order(order_id))

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._call("GET", "/v2/orders/{id}", lambda: self.inner.get_order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        return self._call(
            "GET", "/v2/orders:by_client_order_id", lambda: self.inner.get_order_by_client_id(client_order_id)
        )

    def list_open_orders(self) -> list[BrokerOrder]:
        return self._call("GET", "/v2/orders", self.inner.list_open_orders)

    def get_account(self) -> Account:
        return self._call("GET", "/v2/account", self.inner.get_account)

    def get_positions(self) -> list[BrokerPosition]:
        return self._call("GET", "/v2/positions", self.inner.get_positions)

    def get_clock(self) -> Clock:
        return self._call("GET", "/v2/clock", self.inner.get_clock)

    def get_asset(self, symbol: str) -> Asset:
        return self._call("GET", "/v2/assets/{symbol}", lambda: self.inner.get_asset(symbol))

    # ---- events: no request, straight through ----

    def add_event_handler(self, handler: EventHandler) -> None:
        self.inner.add_event_handler(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self.inner.remove_event_handler(handler)
