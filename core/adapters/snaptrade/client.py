"""Every line that speaks SnapTrade, through the official ``snaptrade-python-sdk`` (the only importer of it).

The SDK's public calls pass no timeout to urllib3, and urllib3 then waits forever. Rather than patch the SDK, the
client builds the SDK's API objects on ``_DeadlineApiClient``, an ``ApiClient`` subclass whose ``request`` gives
every call a deadline when the SDK gives none: ``connect_timeout_s`` to connect, ``read_timeout_s`` for each read,
and their sum for the whole call (urllib3's ``total``: a server trickling bytes cannot stretch a call past it).
urllib3's retries are off (``Configuration.retries = 0``): one attempt, so the deadline is the whole cost. The host
is injectable: the tests point it at a local stand-in.

Answers are read from the response's own bytes with ``parse_float=Decimal`` (the SDK's parse gives floats). Errors
become ``SnapTradeError`` with a trader's message (``errors.py``), raised ``from None``: the SDK's and urllib3's
exceptions print the request URL, and SnapTrade's user endpoints carry the user secret in the query string.
For the same reason the SDK's and urllib3's DEBUG log lines are filtered here (``_redact``): at DEBUG urllib3 logs
each request line, query string and all.

One client per operation (``SnapTradeSession`` objects are cheap): the SDK writes the request timestamp into its
configuration before signing, so a client shared by two threads could sign one request with the other's time.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any, cast

import urllib3
from snaptrade_client.api_client import ApiClient
from snaptrade_client.apis.tags.account_information_api import AccountInformationApi
from snaptrade_client.apis.tags.authentication_api import AuthenticationApi
from snaptrade_client.apis.tags.connections_api import ConnectionsApi
from snaptrade_client.auth import CommercialApiKeyAuth, SnapTradeAuth
from snaptrade_client.configuration import Configuration
from snaptrade_client.exceptions import ApiException, OpenApiException

from core.adapters.snaptrade import convert
from core.adapters.snaptrade.config import CONNECT_TIMEOUT_S, PRODUCTION_HOST, READ_TIMEOUT_S, PartnerKeys
from core.adapters.snaptrade.errors import SnapTradeError, SnapTradeRefused, SnapTradeUnavailable, from_response

PAGE_SIZE = 1000  # SnapTrade's largest activities page
MAX_PAGES = 200  # 200k transactions in one account: far past any trader's history; a loop guard, not a limit

# userSecret=... in a URL (urllib3's request lines) and "userSecret": "..." in a body (the SDK's "response body").
_SECRET_IN_TEXT = re.compile(r"""(userSecret["']?\s*[:=]\s*["']?)[^&\s'",}]*""", re.IGNORECASE)


class _RedactUserSecret(logging.Filter):
    """Blanks the user secret in a log record: urllib3 logs request lines and the SDK response bodies at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str) and "usersecret" in record.msg.lower():
            record.msg = _SECRET_IN_TEXT.sub(r"\1***", record.msg)
        return True


_REDACT = _RedactUserSecret()


def _redact_logs() -> None:
    """Idempotent: the filter is one object, and a logger holds a filter once."""
    for name in ("urllib3.connectionpool", "snaptrade_client", "snaptrade_client.rest"):
        logging.getLogger(name).addFilter(_REDACT)


class _DeadlineApiClient(ApiClient[CommercialApiKeyAuth]):
    """The SDK's ApiClient with a default deadline on every request (its public calls pass none)."""

    def __init__(self, configuration: Configuration[CommercialApiKeyAuth], timeout: urllib3.Timeout) -> None:
        super().__init__(configuration)
        self._timeout = timeout

    def request(self, method: str, url: str, headers: Any = None, fields: Any = None, body: Any = None,
                stream: bool = False, timeout: Any = None) -> Any:  # fmt: skip
        # The SDK's REST client hands a Timeout object to urllib3 as it is (it converts only numbers and pairs);
        # its annotation names only those, hence the cast.
        deadline = cast(Any, self._timeout if timeout is None else timeout)
        return super().request(method, url, headers=headers, fields=fields, body=body, stream=stream,
                               timeout=deadline)  # fmt: skip


class SnapTradeClient:
    """Opens ``SnapTradeSession``s against ``host`` with the partner's keys and the deadlines."""

    def __init__(
        self,
        keys: PartnerKeys,
        *,
        host: str = PRODUCTION_HOST,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self._keys = keys
        self._host = host
        self._timeout = urllib3.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, total=connect_timeout_s + read_timeout_s
        )
        self.read_timeout_s = read_timeout_s
        _redact_logs()

    def session(self) -> SnapTradeSession:
        configuration = Configuration(
            host=self._host,
            auth=SnapTradeAuth.commercial_api_key(consumer_key=self._keys.consumer_key, client_id=self._keys.client_id),
        )
        configuration.retries = 0  # type: ignore[assignment]  # one attempt per call: the deadline is the whole cost
        api = _DeadlineApiClient(configuration, self._timeout)
        return SnapTradeSession(api, self.read_timeout_s)

    # One call per method, each on a fresh session (see the module's docstring).
    def register(self, user_id: str) -> convert.SnapTradeUser:
        return self.session().register(user_id)

    def portal_url(self, user: convert.SnapTradeUser, *, reconnect: str | None = None) -> str:
        return self.session().portal_url(user, reconnect=reconnect)

    def delete_user(self, user_id: str) -> None:
        self.session().delete_user(user_id)

    def connections(self, user: convert.SnapTradeUser) -> list[convert.Connection]:
        return self.session().connections(user)

    def accounts(self, user: convert.SnapTradeUser, brokerages: Mapping[str, str]) -> list[convert.BrokerageAccount]:
        return self.session().accounts(user, brokerages)

    def positions(self, user: convert.SnapTradeUser, account_id: str) -> convert.PositionsSnapshot:
        return self.session().positions(user, account_id)

    def activities(
        self, user: convert.SnapTradeUser, account_id: str, *, start: date | None = None
    ) -> list[convert.Activity]:
        return self.session().activities(user, account_id, start=start)


class SnapTradeSession:
    """The SDK's API objects on one ApiClient: one thread at a time."""

    def __init__(self, api: ApiClient[CommercialApiKeyAuth], read_timeout_s: float) -> None:
        self._authentication: AuthenticationApi[CommercialApiKeyAuth] = AuthenticationApi(api)
        self._connections: ConnectionsApi[CommercialApiKeyAuth] = ConnectionsApi(api)
        self._accounts: AccountInformationApi[CommercialApiKeyAuth] = AccountInformationApi(api)
        self._read_timeout_s = read_timeout_s

    def register(self, user_id: str) -> convert.SnapTradeUser:
        body = self._call("register", lambda: self._authentication.register_snap_trade_user(user_id=user_id))
        return self._read("register", convert.user, body)

    def delete_user(self, user_id: str) -> None:
        """SnapTrade deletes the user and its connections (queued there; irreversible)."""
        self._call("remove the SnapTrade user", lambda: self._authentication.delete_snap_trade_user(user_id=user_id))

    def portal_url(self, user: convert.SnapTradeUser, *, reconnect: str | None = None) -> str:
        body = self._call(
            "open the connection portal",
            lambda: self._authentication.login_snap_trade_user(
                user_id=user.user_id, user_secret=user.user_secret, connection_type="read", reconnect=reconnect
            ),
        )
        return self._read("open the connection portal", convert.portal_url, body)

    def connections(self, user: convert.SnapTradeUser) -> list[convert.Connection]:
        body = self._call(
            "list connections",
            lambda: self._connections.list_brokerage_authorizations(user_id=user.user_id, user_secret=user.user_secret),
        )
        return self._read("list connections", lambda b: [convert.connection(item) for item in _items(b)], body)

    def accounts(self, user: convert.SnapTradeUser, brokerages: Mapping[str, str]) -> list[convert.BrokerageAccount]:
        """The investment accounts; ``brokerages``: connection id -> brokerage name (from ``connections``)."""
        body = self._call(
            "list accounts",
            lambda: self._accounts.list_all_user_accounts(user_id=user.user_id, user_secret=user.user_secret),
        )
        return self._read("list accounts", lambda b: convert.accounts(b, brokerages), body)

    def positions(self, user: convert.SnapTradeUser, account_id: str) -> convert.PositionsSnapshot:
        body = self._call(
            "read positions",
            lambda: self._accounts.get_all_account_positions(
                account_id=account_id, user_id=user.user_id, user_secret=user.user_secret
            ),
        )
        return self._read("read positions", lambda b: convert.positions(account_id, b), body)

    def activities(self, user: convert.SnapTradeUser, account_id: str, *, start: date | None = None) -> list[
            convert.Activity]:  # fmt: skip
        """Every transaction of the account since ``start`` (all of them without), page by page, newest first as
        SnapTrade sends them."""
        found: list[convert.Activity] = []
        for page in self._activity_pages(user, account_id, start):
            found.extend(convert.activity(account_id, item) for item in page)
        return found

    def _activity_pages(
        self, user: convert.SnapTradeUser, account_id: str, start: date | None
    ) -> Iterator[list[Mapping[str, Any]]]:
        offset = 0
        for _ in range(MAX_PAGES):
            read_page = partial(
                self._accounts.get_account_activities,
                account_id=account_id,
                start_date=start,
                offset=offset,
                limit=PAGE_SIZE,
                user_id=user.user_id,
                user_secret=user.user_secret,
            )
            body = self._call("read transactions", read_page)
            fields = body if isinstance(body, Mapping) else {}
            data = [item for item in fields.get("data") or () if isinstance(item, Mapping)]
            yield data
            total = convert.decimal_or_none((fields.get("pagination") or {}).get("total"))
            offset += len(data)
            if not data or total is None or offset >= total:
                return
        raise SnapTradeRefused("SnapTrade kept sending more transactions than StratForge can read in one sync.")

    # --- the one place SDK calls and their failures are handled ---
    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one SDK call; its body parsed from the bytes (Decimal numbers), or a SnapTradeError."""
        try:
            response = call()
        except ApiException as exc:
            raise from_response(int(exc.status or 0), exc.body, exc.headers) from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise self._late(what) from None
        except urllib3.exceptions.MaxRetryError as exc:  # retries are off: the one attempt's own failure
            if isinstance(exc.reason, urllib3.exceptions.TimeoutError):
                raise self._late(what) from None
            raise SnapTradeUnavailable(
                f"Cannot reach SnapTrade ({what}): check this computer's internet connection."
            ) from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise SnapTradeUnavailable(f"The connection to SnapTrade failed ({what}); try again later.") from None
        except OpenApiException:
            raise SnapTradeError(f"StratForge could not build the SnapTrade request ({what}).") from None
        raw = getattr(response.response, "data", None)
        if raw:
            try:
                return json.loads(raw, parse_float=Decimal)
            except (ValueError, UnicodeDecodeError):
                raise SnapTradeUnavailable(f"SnapTrade's answer could not be read ({what}).") from None
        return response.body

    def _late(self, what: str) -> SnapTradeUnavailable:
        return SnapTradeUnavailable(
            f"SnapTrade did not answer within {self._read_timeout_s:g} s ({what}); nothing was changed, "
            "try again later."
        )

    @staticmethod
    def _read[T](what: str, reader: Callable[[Any], T], body: Any) -> T:
        try:
            return reader(body)
        except (KeyError, TypeError, ValueError):
            raise SnapTradeUnavailable(f"SnapTrade's answer was not what StratForge expects ({what}).") from None


def _items(body: Any) -> list[Mapping[str, Any]]:
    return [item for item in body if isinstance(item, Mapping)] if isinstance(body, list) else []
