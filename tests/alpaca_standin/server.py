"""``AlpacaStandIn``: one fake Alpaca paper account that the real alpaca-py clients talk to.

Use as a context manager (e.g. in a fixture: ``with AlpacaStandIn() as alpaca: yield alpaca``)::

    with AlpacaStandIn() as alpaca:
        client = TradingClient(alpaca.key_id, alpaca.secret_key, paper=True, url_override=alpaca.rest_url)
        stream = TradingStream(alpaca.key_id, alpaca.secret_key, url_override=alpaca.stream_url)
        order = client.submit_order(...)
        alpaca.fill(str(order.id), qty="4", price="101.5")  # -> partial_fill on the stream

REST, the trade-updates stream and the market-data stream (``StockDataStream(url_override=
alpaca.data_stream_url)``, bars sent with ``publish_bar``) listen on OS-chosen loopback ports
(the stdlib HTTP server cannot upgrade to websockets). Orders change only when a test says so.

Strict by default: the account refuses what Alpaca refuses account-wide (opposite-side opening
orders, potential wash trades, crossing zero in one order, sub-penny prices, shorts of assets
that are not shortable and easy to borrow, fractional shorts), with Alpaca's status, code and
message (``rules.py``), and counts the refusals (``rule_rejections()``). ``strict=False`` accepts
them all, for the one kind of test that measures what a naive order path would suffer.

Faults on demand: ``stream_down()`` (an outage of the trade stream whose events are lost),
``rate_limit_storm(seconds)`` (every request 429), ``reject_next_orders(n, ...)`` (rejection
after acceptance), ``inject_error``, ``set_response_delay``, ``drop_connections``, duplicated
and out-of-order events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Self

import pandas as pd

from tests.alpaca_standin.account import Json, PaperAccount, StandInAsset
from tests.alpaca_standin.data_stream import MarketDataHub
from tests.alpaca_standin.rest import InjectedError, RestGateway, make_http_server
from tests.alpaca_standin.stream import TradeUpdatesHub


class AlpacaStandIn:
    """Start with ``start()``/``with``; all public methods are thread-safe.

    Event knobs: ``duplicate_events`` sends each trade update twice; ``hold_events()``
    buffers updates until ``release_events(reverse=...)`` sends them (reversed: out of order).
    """

    def __init__(self, key_id: str = "standin-key", secret_key: str = "standin-secret", strict: bool = True) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.duplicate_events = False
        self._held: list[Json] | None = None
        self._stream_down = False
        self._events_lock = threading.RLock()
        self.sent_events: list[Json] = []  # every trade-update payload sent to listeners (duplicates included)
        self.lost_events: list[Json] = []  # published during ``stream_down()``: sent to nobody, never replayed
        self.account = PaperAccount(self._publish, strict=strict)
        self._gateway = RestGateway(self.account, key_id, secret_key)
        self._http = make_http_server(self._gateway)
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="alpaca-standin-rest", daemon=True
        )
        self._hub = TradeUpdatesHub(key_id, secret_key)
        self._data_hub = MarketDataHub(key_id, secret_key)

    # ---- lifecycle ----

    def start(self) -> Self:
        self._http_thread.start()
        self._hub.start()
        self._data_hub.start()
        return self

    def stop(self) -> None:
        self.account.close()
        self._data_hub.stop()
        self._hub.stop()
        self._http.shutdown()
        self._http.server_close()
        self._http_thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        """For ``TradingClient(url_override=...)``: no ``/v2``, the client adds it."""
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def stream_url(self) -> str:
        """For ``TradingStream(url_override=...)``: the full websocket URL."""
        return f"ws://127.0.0.1:{self._hub.port}/stream"

    @property
    def data_stream_url(self) -> str:
        """For ``StockDataStream(url_override=...)``: the full websocket URL of the IEX feed."""
        return f"ws://127.0.0.1:{self._data_hub.port}/v2/iex"

    # ---- market control (each emits trade updates; returns the first payload sent) ----

    def fill(self, order_id: str, qty: Decimal | str | None = None, price: Decimal | str = "100") -> Json:
        """Execute ``qty`` (default: the rest) at ``price``: partial_fill, or fill when complete."""
        return self.account.fill(order_id, qty, price)

    def reject(self, order_id: str, reason: str = "rejected by the stand-in") -> Json:
        return self.account.reject(order_id, reason)

    def cancel(self, order_id: str) -> Json:
        return self.account.cancel(order_id)

    def expire(self, order_id: str) -> Json:
        return self.account.expire(order_id)

    def order(self, order_id: str) -> Json:
        """The order as GET /v2/orders/{id} would return it (legs nested)."""
        return self.account.order_json(order_id)

    def replace(
        self, order_id: str, qty: Decimal | str | None = None, limit_price: Decimal | str | None = None
    ) -> Json:
        """Replace an order as PATCH /v2/orders/{id} does; returns the new order.

        The old order becomes ``replaced`` (``replaced_by`` set), the new one carries ``replaces``;
        the trade updates are ``replaced`` with the OLD order in ``order`` (as Alpaca sends it: the old
        price, and ``replaced_by`` naming the new order), then ``new`` for the new order.
        """
        return self.account.replace(order_id, qty=qty, limit_price=limit_price)

    def reject_next_orders(self, count: int, reason: str = "rejected by the stand-in", delay_s: float = 0.5) -> None:
        """The next ``count`` orders that pass the rules: POST answers "accepted", no "new" update follows,
        and ``delay_s`` later a ``rejected`` update arrives and the order is rejected (if still open)."""
        self.account.reject_next_orders(count, reason, delay_s)

    def positions(self) -> dict[str, Decimal]:
        """Signed quantity held per symbol (negative: short), for reconciliation tests."""
        return self.account.positions()

    # ---- the account-wide rules ----

    @property
    def strict(self) -> bool:
        return self.account.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        """Settable on a running stand-in, for a test given the shared fixture that must measure the naive path."""
        self.account.strict = value

    def rule_rejections(self) -> dict[str, int]:
        """Orders refused so far, by rule: sub_penny, short_not_allowed, fractional_short, crossing_zero,
        opposite_side, wash_trade, buying_power (every key present, zero when never tripped)."""
        return self.account.rule_rejection_counts()

    def add_asset(
        self,
        symbol: str,
        tradable: bool = True,
        fractionable: bool = True,
        shortable: bool = True,
        easy_to_borrow: bool = True,
    ) -> None:
        self.account.assets[symbol.upper()] = StandInAsset(
            symbol.upper(), tradable, fractionable, shortable, easy_to_borrow
        )

    def add_bars(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        """Bars GET /v2/stocks/bars will serve (a bar frame: timestamp, open, high, low, close, volume, ...)."""
        self.account.market.add(symbol, timeframe, frame)

    @property
    def bar_requests(self) -> list[Json]:
        """Every bars query answered (one per page): symbols, start, end, page_token."""
        return list(self.account.market.requests)

    def set_market_open(self, is_open: bool) -> None:
        self.account.clock_open = is_open

    # ---- REST knobs ----

    def set_rate_limit(self, limit: int | None, window_s: float = 60.0) -> None:
        """Allow ``limit`` requests per window, then 429 with X-RateLimit-* headers; None disables."""
        self._gateway.rate_limit.limit = limit
        self._gateway.rate_limit.window_s = window_s

    def inject_error(
        self, status: int, message: str, code: int | None = None, route: str | None = None, skip: int = 0
    ) -> None:
        """Answer the next request matching ``route`` (e.g. ``"POST /v2/orders"``) with this error, after letting
        ``skip`` matching requests through."""
        self._gateway.injected.append(InjectedError(status, message, code or status * 100000, route, skip))

    def set_response_delay(self, seconds: float) -> None:
        """Stall every REST response, to test client timeouts."""
        self._gateway.delay_s = seconds

    def request_count(self, route: str) -> int:
        """Requests seen for a route pattern, e.g. ``"GET /v2/orders/{id}"`` (rejected ones included)."""
        return self._gateway.request_counts[route]

    @property
    def request_counts(self) -> dict[str, int]:
        return dict(self._gateway.request_counts)

    def rate_limit_storm(self, seconds: float) -> None:
        """For ``seconds`` from now, answer every authorised REST request 429 ``{"code": 42910000, "message":
        "rate limit exceeded"}`` with X-RateLimit-Limit/-Remaining (0)/-Reset, without processing it."""
        self._gateway.storm_until = time.monotonic() + seconds

    def end_rate_limit_storm(self) -> None:
        self._gateway.storm_until = 0.0

    @property
    def rate_limited_count(self) -> int:
        """REST requests refused with 429 so far (by a storm or by ``set_rate_limit``)."""
        return sum(self._gateway.rate_limited.values())

    @property
    def rate_limited_counts(self) -> dict[str, int]:
        """Requests refused with 429, by route pattern."""
        return dict(self._gateway.rate_limited)

    # ---- stream knobs ----

    def wait_for_listeners(self, count: int = 1, timeout: float = 10.0, accepted_at_least: int = 0) -> bool:
        """True once ``count`` stream clients listen to trade_updates (False after ``timeout`` s)."""
        return self._hub.wait_for_listeners(count, timeout, accepted_at_least)

    @property
    def listener_count(self) -> int:
        return self._hub.listener_count

    @property
    def connections_accepted(self) -> int:
        """Stream handshakes completed so far; grows by one per (re)connection."""
        return self._hub.connections_accepted

    def drop_connections(self) -> None:
        """Abort every stream connection; clients must reconnect to hear later events."""
        self._hub.drop_connections()

    @contextmanager
    def stream_down(self) -> Iterator[None]:
        """A trade-stream outage: listeners are cut, reconnections refused (HTTP 503) until the block ends,
        and the trade updates caused inside are sent to nobody and never replayed (``lost_events``), as
        Alpaca replays nothing after a reconnect. REST keeps working. Afterwards clients may reconnect
        (alpaca-py retries with its own backoff: wait with ``wait_for_listeners(accepted_at_least=...)``)."""
        self._hub.down = True
        with self._events_lock:
            self._stream_down = True
        self._hub.drop_connections()
        try:
            yield
        finally:
            with self._events_lock:
                self._stream_down = False
            self._hub.down = False

    @property
    def stream_refusals(self) -> int:
        """Trade-stream handshakes refused during ``stream_down()`` blocks."""
        return self._hub.refused_while_down

    def hold_events(self) -> None:
        with self._events_lock:
            self._held = []

    def release_events(self, reverse: bool = False) -> None:
        """Send the held events, in reverse order if asked, and stop holding."""
        with self._events_lock:
            held, self._held = self._held or [], None
            for data in reversed(held) if reverse else held:
                self._send(data)

    @contextmanager
    def events_out_of_order(self) -> Iterator[None]:
        """Events caused inside the block are sent in reverse order when it ends."""
        self.hold_events()
        try:
            yield
        finally:
            self.release_events(reverse=True)

    # ---- market-data stream knobs ----

    def publish_bar(self, symbol: str, bar: Mapping[str, Any]) -> int:
        """Send a bar to the data connections subscribed to ``symbol``; blocks until written.

        ``bar``: timestamp (aware datetime), open, high, low, close, volume, trade_count, vwap.
        Returns how many connections got it (0: dropped, as Alpaca drops unsubscribed symbols).
        """
        return self._data_hub.publish_bar(symbol, bar)

    def wait_for_bar_subscribers(self, symbol: str, count: int = 1, timeout: float = 10.0) -> bool:
        """True once ``count`` data connections subscribe to ``symbol``'s bars (False after ``timeout`` s)."""
        return self._data_hub.wait_for_subscribers(symbol, count, timeout)

    @property
    def data_connections_accepted(self) -> int:
        """Data-stream authentications accepted so far; grows by one per (re)connection."""
        return self._data_hub.connections_accepted

    @property
    def data_connection_refusals(self) -> int:
        """Data connections refused with 406 because the account already had one open."""
        return self._data_hub.connection_refusals

    @property
    def bar_subscriptions(self) -> dict[str, int]:
        """Bar subscriptions now: symbol (or ``"*"``) -> number of data connections subscribed."""
        return self._data_hub.subscriptions

    def drop_data_connections(self) -> None:
        """Abort every data-stream connection; clients must reconnect and resubscribe to get later bars."""
        self._data_hub.drop_connections()

    def _publish(self, data: Json) -> None:
        with self._events_lock:
            if self._held is not None:
                self._held.append(data)
                return
            self._send(data)

    def _send(self, data: Json) -> None:
        if self._stream_down:
            self.lost_events.append(data)
            return
        for _ in range(2 if self.duplicate_events else 1):
            self.sent_events.append(data)
            self._hub.publish(data)
