"""Linking a Zerodha account: Kite Connect's browser log-in, and the Broker for the day's session.

The flow (Kite Connect's documented one): the trader opens ``login_url`` (Kite's page, with the app's API key),
logs in to Zerodha there, and Kite redirects the browser to the app's registered redirect URL with
``request_token``, ``action=login`` and ``status=success``; ``start_session`` trades that one-time request token
(valid for a few minutes) and the app's secret for the day's ``access_token`` (the SDK sends
SHA-256(api_key + request_token + api_secret) as the checksum, never the secret itself). Kite ends every access token
at 06:00 India time the next morning, so the session is refreshed by logging in again each trading day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from kiteconnect import KiteConnect

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.client import DEFAULT_TIMEOUT_S, PRODUCTION_API_ROOT, KiteSession
from core.adapters.zerodha.convert import PRODUCTS, kite_time
from core.adapters.zerodha.errors import translate_error
from core.adapters.zerodha.order_stream import PRODUCTION_STREAM_ROOT
from core.broker.errors import BrokerRejected, SessionExpired
from core.broker.links import CredentialField, Endpoints
from core.market.india import IST

PRODUCTION_LOGIN_ROOT = "https://kite.zerodha.com"
LOGIN_PATH = "/connect/login"
KITE_VERSION = "3"
SESSION_ENDS_AT = time(6, 0)  # Kite: access tokens expire at 6 AM the next day (India time)


def session_expiry(login_time: datetime) -> datetime:
    """When a Kite session started at ``login_time`` ends (aware UTC): the next 06:00 in India."""
    local = login_time.astimezone(IST)
    end = datetime.combine(local.date(), SESSION_ENDS_AT, tzinfo=IST)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def _required(values: Mapping[str, str], name: str, label: str) -> str:
    value = (values.get(name) or "").strip()
    if not value:
        raise BrokerRejected(f"The Zerodha link needs its {label}.")
    return value


class ZerodhaLink:
    """``core.broker.links.BrokerLinkAdapter`` for Zerodha."""

    broker = "zerodha"
    display_name = "Zerodha (Kite Connect)"
    credential_fields = (
        CredentialField(
            "api_key", "API key", secret=False, help="From your Kite Connect app at developers.kite.trade."
        ),
        CredentialField("api_secret", "API secret", help="Shown once when the Kite Connect app is created."),
        CredentialField(
            "product",
            "Product",
            secret=False,
            help="CNC for delivery (the default) or MIS for intraday (Zerodha squares MIS positions off before "
            "the close).",
            required=False,
        ),
    )

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s

    def login_url(self, credentials: Mapping[str, str], endpoints: Endpoints) -> str | None:
        api_key = _required(credentials, "api_key", "API key")
        if endpoints.login_root is None:
            url: str = KiteConnect(api_key).login_url()  # the SDK knows only Kite's own log-in page
            return url
        return f"{endpoints.login_root.rstrip('/')}{LOGIN_PATH}?{urlencode({'api_key': api_key, 'v': KITE_VERSION})}"

    def start_session(
        self, credentials: Mapping[str, str], answer: Mapping[str, str], endpoints: Endpoints
    ) -> dict[str, str]:
        """``answer``: the redirect's query parameters. Returns ``access_token``, ``user_id``, ``login_time`` and
        ``expires_at`` (ISO, UTC); the access token is a secret to seal with the credentials."""
        api_key = _required(credentials, "api_key", "API key")
        api_secret = _required(credentials, "api_secret", "API secret")
        status = answer.get("status")
        if status is not None and status != "success":
            raise BrokerRejected("The Zerodha log-in did not succeed; log in again.")
        request_token = (answer.get("request_token") or "").strip()
        if not request_token:
            raise BrokerRejected("The Zerodha log-in did not return a request token; log in again.")
        kite = KiteConnect(api_key, root=endpoints.api_root or PRODUCTION_API_ROOT, timeout=self.timeout_s)
        try:
            data = kite.generate_session(request_token, api_secret=api_secret)
        except Exception as exc:
            error = translate_error(exc, "start the session")
            if isinstance(error, SessionExpired):  # a used, stale or forged request token, or the wrong secret
                raise BrokerRejected(f"Zerodha refused the log-in ({exc}); log in again.") from exc
            raise error from exc
        access_token = str(data.get("access_token") or "")
        if not access_token:
            raise BrokerRejected("Zerodha answered the log-in without an access token; log in again.")
        login_time = kite_time(data.get("login_time")) or datetime.now(UTC)
        return {
            "access_token": access_token,
            "user_id": str(data.get("user_id") or ""),
            "login_time": login_time.isoformat(),
            "expires_at": session_expiry(login_time).isoformat(),
        }

    def open_broker(
        self, credentials: Mapping[str, str], session: Mapping[str, str], endpoints: Endpoints
    ) -> ZerodhaBroker:
        """The broker for the session; it polls order updates once an event handler is added. ``close()`` it."""
        product = (credentials.get("product") or "CNC").strip().upper() or "CNC"
        if product not in PRODUCTS:
            raise BrokerRejected(f"The Zerodha product must be CNC or MIS, not {product!r}.")
        kite_session = KiteSession(
            api_key=_required(credentials, "api_key", "API key"),
            access_token=_session_token(session),
            user_id=session.get("user_id", ""),
        )
        return ZerodhaBroker(
            kite_session,
            product=product,
            api_root=endpoints.api_root,
            timeout_s=self.timeout_s,
            stream_root=_stream_root(endpoints),
        )


def _stream_root(endpoints: Endpoints) -> str | None:
    """Kite's WebSocket, or the one given. None (polling only) when the REST API is elsewhere but no socket is
    given: a stand-in's session token would mean nothing to Kite's production socket."""
    if endpoints.stream_root is not None:
        return endpoints.stream_root
    return PRODUCTION_STREAM_ROOT if endpoints.api_root is None else None


def _session_token(session: Mapping[str, str]) -> str:
    token = (session.get("access_token") or "").strip()
    if not token:
        raise SessionExpired("There is no Zerodha session yet; log in to Zerodha first.")
    return token
