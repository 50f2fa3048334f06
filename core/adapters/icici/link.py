"""IciciLink: ICICI Direct's log-in for a broker link (``core.broker.links.BrokerLinkAdapter``).

ICICI's flow: the trader opens ``https://api.icicidirect.com/apiuser/login?api_key=<API key>`` in a browser and
signs in; ICICI redirects to the redirect URL registered with the app, adding ``?apisession=<API session>``. That
API session is the day's session token: breeze_connect's ``generate_session(api_secret, session_token)`` trades it
for the session key every call is signed with, and it stops working when ICICI resets sessions each morning
(SessionExpired: the trader logs in again).

Addresses: breeze_connect's are module constants, so ``Endpoints.api_root`` cannot move them. For ICICI it names an
HTTPS proxy the broker host sends all its traffic through instead (tests: the stand-in's); ``login_root`` moves the
log-in page. Either way the SDK runs unmodified in its own process (``host``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from core.adapters.icici.broker import (
    DEFAULT_POLL_INTERVAL_S,
    NOT_OFFERED,
    NOTIFIED_POLL_INTERVAL_S,
    PRODUCTS,
    IciciBroker,
)
from core.adapters.icici.host_process import BreezeHost, HostConfig, HostError
from core.broker.errors import BrokerError, BrokerRejected, BrokerUnavailable, SessionExpired
from core.broker.links import CredentialField, Endpoints
from core.config import default_data_dir
from core.market.india import IST

LOGIN_ROOT = "https://api.icicidirect.com"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class IciciLink:
    broker = "icici"
    display_name = "ICICI Direct (Breeze API)"
    credential_fields = (
        CredentialField("api_key", "API key", secret=True, help="From your app at api.icicidirect.com (Breeze API)."),
        CredentialField("api_secret", "Secret key", secret=True, help="The app's secret key; it signs every request."),
    )

    def __init__(
        self,
        *,
        work_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        notified_poll_interval_s: float = NOTIFIED_POLL_INTERVAL_S,
        call_timeout_s: float = 10.0,
    ) -> None:
        """``work_dir``: where the SDK's ``logs/`` go (default: the app's data folder, ``brokers/icici``);
        ``env``: environment entries for the broker host (tests: the stand-in's proxy and CA); the poll intervals
        without and with ICICI's order notifications (see ``broker``)."""
        self._work_dir = work_dir
        self._env = dict(env or {})
        self._poll_interval_s = poll_interval_s
        self._notified_poll_interval_s = notified_poll_interval_s
        self._call_timeout_s = call_timeout_s
        self.last_host_start_s: float | None = None  # measured: spawn to ready, the SDK's import included

    def login_url(self, credentials: Mapping[str, str], endpoints: Endpoints) -> str | None:
        api_key = _required(credentials, "api_key")
        root = (endpoints.login_root or LOGIN_ROOT).rstrip("/")
        return f"{root}/apiuser/login?api_key={quote_plus(api_key)}"

    def start_session(
        self, credentials: Mapping[str, str], answer: Mapping[str, str], endpoints: Endpoints
    ) -> dict[str, str]:
        """Check the redirect's ``apisession`` by opening a session with it; the session secrets to seal."""
        api_session = (answer.get("apisession") or answer.get("session_token") or "").strip()
        if not api_session:
            raise BrokerRejected("ICICI Direct's log-in did not return an API session; log in again.")
        host = self._start_host(endpoints)
        try:
            user_id = self._login(host, credentials, api_session)
            self._check_secret(host)
        finally:
            host.close()
        return {
            "session_token": api_session,
            "user_id": user_id,
            "session_date": _india_today(),  # the day (in India) the session was opened; it ends overnight
        }

    def open_broker(
        self, credentials: Mapping[str, str], session: Mapping[str, str], endpoints: Endpoints
    ) -> IciciBroker:
        product = (credentials.get("product") or "cash").strip().lower()
        if product not in PRODUCTS:
            raise BrokerRejected(NOT_OFFERED.get(product, f"ICICI Direct has no product {product!r} for StratForge."))
        api_session = _required(session, "session_token")
        issued = session.get("session_date")
        if issued and issued != _india_today():
            # ICICI ends every API session overnight: a session from an earlier day is refused without a host start
            raise SessionExpired("Yesterday's ICICI Direct session has ended; log in to ICICI Direct again.")
        opened: list[IciciBroker] = []  # the host starts before the broker it reports to exists

        def on_event(message: dict[str, Any]) -> None:
            if opened:
                opened[0].on_host_event(message)

        host = self._start_host(endpoints, on_event=on_event)
        try:
            user_id = self._login(host, credentials, api_session)
            broker = IciciBroker(
                host,
                user_id=user_id,
                product=product,
                poll_interval_s=self._poll_interval_s,
                notified_poll_interval_s=self._notified_poll_interval_s,
            )
        except BaseException:
            host.close()
            raise
        opened.append(broker)
        broker.subscribe_notifications()
        return broker

    def _start_host(self, endpoints: Endpoints, on_event: Callable[[dict[str, Any]], None] | None = None) -> BreezeHost:
        env = dict(self._env)
        if endpoints.api_root:
            env.update({name: endpoints.api_root for name in PROXY_VARIABLES})
        config = HostConfig(
            work_dir=self._work_dir or default_data_dir() / "brokers" / "icici",
            env=env,
            call_timeout_s=self._call_timeout_s,
        )
        host = BreezeHost(config, on_event=on_event)
        self.last_host_start_s = host.start_s
        return host

    @staticmethod
    def _check_secret(host: BreezeHost) -> None:
        try:
            answer = host.call("get_funds")
        except HostError:
            raise BrokerUnavailable("ICICI Direct could not be reached to check the secret key; try again.") from None
        _check_secret_answer(answer)

    def _login(self, host: BreezeHost, credentials: Mapping[str, str], api_session: str) -> str:
        try:
            result = host.request(
                "login",
                timeout_s=60,
                api_key=_required(credentials, "api_key"),
                api_secret=_required(credentials, "api_secret"),
                session_token=api_session,
            )
        except HostError as exc:
            raise _login_error(exc) from None
        return str((result or {}).get("user_id") or "")


def _check_secret_answer(answer: object) -> None:
    """The log-in itself is not signed; the first signed call is where a wrong secret shows."""
    if isinstance(answer, Mapping) and answer.get("Status") != 200:
        error = str(answer.get("Error") or "")
        if "checksum" in error.lower():
            raise BrokerRejected(f"ICICI Direct did not accept the secret key ({error}); check it and link again.")
        if "session" in error.lower() or "user details" in error.lower():
            raise SessionExpired(f"ICICI Direct did not accept the session ({error}); log in again.")


def _login_error(exc: HostError) -> BrokerError:
    """breeze_connect's log-in messages (its own, trader-readable) to broker errors."""
    text = str(exc).lower()
    if exc.kind == "transport":
        return BrokerUnavailable("ICICI Direct could not be reached to log in; try again.")
    if "expired" in text:
        return SessionExpired("ICICI Direct's API session has expired; log in to ICICI Direct again.")
    if "api key" in text:
        return BrokerRejected("ICICI Direct does not know this API key; check it in the broker account's settings.")
    if "session key" in text:
        return SessionExpired("ICICI Direct did not accept the API session; log in to ICICI Direct again.")
    return BrokerRejected("ICICI Direct refused the log-in; check the API key and secret, then log in again.")


def _india_today() -> str:
    return datetime.now(UTC).astimezone(IST).date().isoformat()


def _required(values: Mapping[str, str], name: str) -> str:
    value = (values.get(name) or "").strip()
    if not value:
        raise BrokerRejected(f"The ICICI Direct link has no {name.replace('_', ' ')}; edit the broker account.")
    return value
