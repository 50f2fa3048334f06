"""A linkable test broker: the link-adapter contract over SimBroker, with a log-in that issues day sessions.

``SimLink`` is what ``core.broker.links.link_adapter`` would return for a real broker: its fields (a secret API key
and secret, a non-secret client code and product), a browser log-in whose redirect carries ``request_token``, and
``open_broker`` giving a Broker for the session. The market behind it (``SimMarket``) holds one SimBroker per
account, the tokens it issued, and levers for the tests: end every session (the broker's morning expiry), feed a
bar (fills), count what reached the account.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.broker.errors import BrokerRejected, SessionExpired
from core.broker.links import CredentialField, Endpoints
from core.broker.protocol import EventHandler
from core.broker.sim import SimBroker
from core.domain.bars import NormalizedBar
from core.domain.orders import Account, Asset, BrokerOrder, BrokerPosition, Clock, OrderRequest

API_KEY = "kiteapikey0123456789"
API_SECRET = "kitesecret-ABCDEFGHIJKLMNOP"
CLIENT_CODE = "ZX1234"
GOOD_TOKEN = "req-token-ok"
T0 = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # Monday 09:30 in India


@dataclass
class SimMarket:
    """The broker's side: accounts (one SimBroker each, by API key), issued session tokens, what was sent."""

    cash: Decimal = Decimal("100000")
    sims: dict[str, SimBroker] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    sessions_started: int = 0
    brokers_opened: int = 0
    submitted: list[OrderRequest] = field(default_factory=list)
    minute: int = 0
    tick_size: str = "0.05"
    lot_size: str = "1"

    def sim(self, api_key: str) -> SimBroker:
        if api_key not in self.sims:
            self.sims[api_key] = SimBroker(initial_cash=self.cash, clock=lambda: T0 + timedelta(minutes=self.minute))
        return self.sims[api_key]

    def end_sessions(self) -> None:
        """The broker's morning: every access token stops working."""
        self.tokens.clear()

    def bar(self, api_key: str, symbol: str, price: str) -> None:
        """One minute at ``price``: working orders of ``symbol`` fill at it (the SimBroker's fill model)."""
        p = float(price)
        bar = NormalizedBar(symbol, "1Min", T0 + timedelta(minutes=self.minute), p, p, p, p, 1e6)
        self.minute += 1
        self.sim(api_key).on_bar(bar)


class SessionBroker:
    """The Broker protocol for one session: every call refused with SessionExpired once the token has ended."""

    name = "zerodha"

    def __init__(self, market: SimMarket, api_key: str, token: str) -> None:
        self._market = market
        self._sim = market.sim(api_key)
        self._token = token
        self.closed = False

    def _live(self) -> SimBroker:
        if self._token not in self._market.tokens:
            raise SessionExpired("TokenException: Incorrect `api_key` or `access_token`.")
        return self._sim

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        sim = self._live()
        self._market.submitted.append(request)
        return sim.submit_order(request)

    def cancel_order(self, order_id: str) -> None:
        self._live().cancel_order(order_id)

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._live().get_order(order_id)

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        return self._live().get_order_by_client_id(client_order_id)

    def list_open_orders(self) -> list[BrokerOrder]:
        return self._live().list_open_orders()

    def get_account(self) -> Account:
        a = self._live().get_account()
        return Account(CLIENT_CODE, a.status, a.cash, a.buying_power, a.equity)

    def get_positions(self) -> list[BrokerPosition]:
        return self._live().get_positions()

    def get_clock(self) -> Clock:
        return self._live().get_clock()

    def get_asset(self, symbol: str) -> Asset:
        self._live()
        extra = {"tick_size": self._market.tick_size, "lot_size": self._market.lot_size, "token": "408065"}
        return Asset(symbol, tradable=True, fractionable=False, extra=extra, shortable=False, easy_to_borrow=False)

    def add_event_handler(self, handler: EventHandler) -> None:
        self._sim.add_event_handler(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._sim.remove_event_handler(handler)

    def close(self) -> None:
        self.closed = True


class SimLink:
    """The link adapter of the test broker (as ``core.adapters.zerodha.link:ZerodhaLink`` is for Kite)."""

    broker = "zerodha"
    display_name = "Zerodha (Kite Connect)"
    credential_fields: tuple[CredentialField, ...] = (
        CredentialField("api_key", "API key"),
        CredentialField("api_secret", "API secret"),
        CredentialField("client_code", "Client code", secret=False),
        CredentialField("product", "Product (CNC or MIS)", secret=False, required=False),
    )

    def __init__(self, market: SimMarket) -> None:
        self.market = market

    def login_url(self, credentials: Mapping[str, str], endpoints: Endpoints) -> str | None:
        root = endpoints.login_root or "https://kite.zerodha.com"
        return f"{root}/connect/login?v=3&api_key={credentials['api_key']}"

    def start_session(
        self, credentials: Mapping[str, str], answer: Mapping[str, str], endpoints: Endpoints
    ) -> dict[str, str]:
        if credentials.get("api_secret") != API_SECRET or answer.get("request_token") != GOOD_TOKEN:
            raise BrokerRejected("TokenException: Token is invalid or has expired.")
        self.market.sessions_started += 1
        token = "acc-" + secrets.token_hex(8)
        self.market.tokens.add(token)
        return {"access_token": token}

    def open_broker(
        self, credentials: Mapping[str, str], session: Mapping[str, str], endpoints: Endpoints
    ) -> SessionBroker:
        if session.get("access_token") not in self.market.tokens:
            raise SessionExpired("TokenException: Incorrect `api_key` or `access_token`.")
        self.market.brokers_opened += 1
        return SessionBroker(self.market, credentials["api_key"], session["access_token"])
