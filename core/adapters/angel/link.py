"""AngelLink: linking a trader's Angel One account (SmartAPI), for ``core.broker.links.link_adapter("angel")``.

Angel's log-in needs no browser: the client code, the trading PIN and a six-digit TOTP give the day's JWT
(valid until Angel expires it, at the latest the next morning), a refresh token and a feed token. The TOTP is
generated from the seed the trader saved (Angel shows it as base32 text when TOTP is enabled), or, when no seed is
stored, read from ``answer["totp"]`` (the link form asks for it at each log-in).

Importing this module does not import the SDK (its import does a network call, see ``sdk``): that happens in
``start_session``/``open_broker``, which the link service runs on a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.adapters.angel import sdk
from core.adapters.angel.broker import AngelBroker
from core.adapters.angel.gate import PER_SECOND, RouteGate
from core.adapters.angel.order_stream import stream_url
from core.adapters.angel.totp import TotpSeedError, totp_code
from core.broker.errors import BrokerRejected, NotPlaced
from core.broker.links import CredentialField, Endpoints

SESSION_KEYS = ("jwt_token", "refresh_token", "feed_token", "client_code")
# Angel allows one log-in a second per user; link adapters are built per use, so the spacing is the module's.
LOGIN_GATE = RouteGate()


class AngelLink:
    broker = "angel"
    display_name = "Angel One (SmartAPI)"
    credential_fields = (
        CredentialField("api_key", "API key", help="The key of your app on smartapi.angelbroking.com."),
        CredentialField("client_code", "Client code", secret=False, help="Your Angel One client ID, e.g. A123456."),
        CredentialField("pin", "Trading PIN", help="The 4-digit PIN you log in to Angel One with."),
        CredentialField(
            "totp_seed",
            "TOTP secret",
            help="The text Angel showed when you enabled TOTP (smartapi.angelbroking.com/enable-totp). "
            "Leave it empty to type the 6-digit code at each log-in.",
            required=False,
        ),
        CredentialField(
            "product", "Product", secret=False, help="CNC (delivery, the default) or MIS (intraday).", required=False
        ),
    )

    def __init__(
        self,
        timeout_s: float = sdk.DEFAULT_TIMEOUT_S,
        *,
        per_second: Mapping[str, float] = PER_SECOND,
        poll_interval_s: float | None = None,
    ) -> None:
        """``per_second``/``poll_interval_s``: Angel's request limits and the book-polling pace (Angel's own by
        default; a stand-in that keeps time faster, as the conformance suite's does, passes its own)."""
        self._timeout_s = timeout_s
        self._per_second = per_second
        self._poll_interval_s = poll_interval_s

    def login_url(self, credentials: Mapping[str, str], endpoints: Endpoints) -> str | None:
        return None  # client code + PIN + TOTP, no browser

    def start_session(
        self, credentials: Mapping[str, str], answer: Mapping[str, str], endpoints: Endpoints
    ) -> dict[str, str]:
        """Log in; the session secrets to seal beside the credentials. BrokerRejected names what Angel refused."""
        api_key, client_code, pin = (_required(credentials, k) for k in ("api_key", "client_code", "pin"))
        code = self._totp(credentials, answer)
        connect = sdk.new_connect(api_key, root=endpoints.api_root, timeout_s=self._timeout_s)

        def log_in() -> Any:
            answer = connect.generateSession(client_code, pin, code)
            if sdk.succeeded(answer) and not connect.access_token:
                return {"status": False, "message": "no session token in Angel One's answer", "errorcode": ""}
            return answer

        LOGIN_GATE.wait("login", self._timeout_s)
        sdk.call("the log-in", log_in)
        return {
            "jwt_token": str(connect.access_token),
            "refresh_token": str(connect.refresh_token or ""),
            "feed_token": str(connect.feed_token or ""),
            "client_code": client_code,
        }

    def open_broker(
        self, credentials: Mapping[str, str], session: Mapping[str, str], endpoints: Endpoints
    ) -> AngelBroker:
        api_key = _required(credentials, "api_key")
        jwt = session.get("jwt_token") or ""
        if not jwt:
            raise NotPlaced("There is no Angel One session: log in to Angel One first.")
        product = (credentials.get("product") or "CNC").strip().upper()
        if product not in ("CNC", "MIS"):
            raise BrokerRejected(f"The Angel One product must be CNC or MIS, not {product!r}.")
        client_code = session.get("client_code") or _required(credentials, "client_code")
        connect = sdk.new_connect(
            api_key,
            root=endpoints.api_root,
            timeout_s=self._timeout_s,
            access_token=jwt,
            refresh_token=session.get("refresh_token") or None,
            feed_token=session.get("feed_token") or None,
            user_id=client_code,
        )
        return AngelBroker(
            connect,
            client_code=client_code,
            product=product,
            api_root=endpoints.api_root,
            timeout_s=self._timeout_s,
            gate=RouteGate(self._per_second),
            poll_interval_s=self._poll_interval_s,
            stream_url=_order_stream_url(endpoints),
        )

    def _totp(self, credentials: Mapping[str, str], answer: Mapping[str, str]) -> str:
        typed = "".join((answer.get("totp") or "").split())
        if typed:
            if not (typed.isdigit() and len(typed) == 6):
                raise BrokerRejected("The Angel One code must be the 6 digits your authenticator shows.")
            return typed
        seed = credentials.get("totp_seed") or ""
        if not seed.strip():
            raise BrokerRejected("Type the 6-digit code from your authenticator to log in to Angel One.")
        try:
            return totp_code(seed)
        except TotpSeedError as exc:
            raise BrokerRejected(str(exc)) from None


def _order_stream_url(endpoints: Endpoints) -> str | None:
    """Angel's order-update socket: its production address with Angel's production API, the given stream root
    with a stand-in's; a stand-in of the REST API alone (no ``stream_root``) is polled alone, never connecting
    to the real Angel One."""
    if endpoints.stream_root or endpoints.api_root is None:
        return stream_url(endpoints.stream_root)
    return None


def _required(values: Mapping[str, str], key: str) -> str:
    value = (values.get(key) or "").strip()
    if not value:
        raise BrokerRejected(f"The Angel One link has no {key.replace('_', ' ')}.")
    return value
