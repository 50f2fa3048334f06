"""smartapi-python, imported late and constructed quietly; its answers and failures turned into broker errors.

The SDK's quirks, and what this module does about each (no monkey-patching: a subclass and explicit arguments):

- Importing ``SmartApi.smartConnect`` runs ``requests.get('https://api.ipify.org')`` in the class body, with no
  timeout: an import can hang for as long as the network lets it. ``load_sdk()`` imports it once, on first use,
  from the thread that opens the link (the link service's worker, never the GUI thread), and the module is never
  imported at StratForge's start (``core.broker.links`` names it by path). A hung first import blocks only that
  worker; ``load_sdk(timeout_s)`` gives up waiting after ``timeout_s`` and reports BrokerUnavailable.
- ``SmartConnect.__init__`` creates ``logs/<date>/`` in the current directory and points logzero at
  ``logs/<date>/app.log``. ``QuietSmartConnect`` (built by ``new_connect``) sets the same attributes without that
  step, so nothing is written to the current directory.
- On failures the SDK logs the request headers (the API key, and on network errors the JWT) to logzero's default
  logger. That logger is disabled here; StratForge logs its own lines, which carry codes, never credentials.
- ``placeOrder`` swallows Angel's error (returns None): ``placeOrderFullResponse`` is used instead.
- ``individual_order_details`` ignores ``root`` (it uses the hard-coded production URL) and has no timeout: not used;
  an order is read from the order book.
- Angel answers errors as ``{"status": false, "message", "errorcode"}`` (``{"success": false, "errorCode"}`` from
  its gateway), which the SDK returns rather than raises; its rate limit is an HTTP 403 with a plain-text body,
  which the SDK raises as DataException("Couldn't parse the JSON ..."). ``call()`` maps all of these.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import requests

from core.broker.errors import (
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    NotPlaced,
    OrderNotFound,
    RateLimited,
    SessionExpired,
)

log = logging.getLogger(__name__)

PRODUCTION_ROOT = "https://apiconnect.angelone.in"
DEFAULT_TIMEOUT_S = 7.0  # the SDK's own default, per socket operation
SDK_IMPORT_TIMEOUT_S = 15.0

# Angel's documented codes (SmartAPI "Exceptions and Errors"): the day's token is gone, log in again.
SESSION_CODES = frozenset({"AG8001", "AG8002", "AG8003", "AB8050", "AB8051", "AB1010", "AB1011"})
NOT_FOUND_CODES = frozenset({"AB1013"})
# Angel's "something went wrong / internal error / not specified": nothing says whether it acted.
UNKNOWN_OUTCOME_CODES = frozenset({"AB1004", "AB2000", "AB2001"})
RATE_LIMIT_TEXT = "exceeding access rate"

TRADER_TEXT = {
    "AG8001": "Angel One no longer accepts this session; log in to Angel One again",
    "AG8002": "the Angel One session expired; log in to Angel One again",
    "AG8003": "the Angel One session is missing; log in to Angel One again",
    "AB1010": "the Angel One session expired; log in to Angel One again",
    "AB1011": "the client is not logged in to Angel One; log in again",
    "AB1050": "Angel One refused the one-time code (TOTP); check the authenticator's seed and the clock",
    "AB1000": "Angel One refused the client code or PIN",
    "AB1007": "Angel One refused the client code or PIN",
    "AB1006": "Angel One has blocked this client for trading",
    "AB1009": "Angel One does not know that symbol",
    "AB1012": "Angel One refused the product type",
    "AB1013": "Angel One has no such order",
    "AB4008": "the order tag is too long for Angel One",
}

SDK_MODULE = "SmartApi.smartConnect"


class _Importer:
    """Imports one module on a daemon thread, once; callers wait for it with a deadline."""

    def __init__(self, module_name: str, after: Callable[[], None] = lambda: None) -> None:
        self.module_name = module_name
        self._after = after
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self._thread: threading.Thread | None = None

    def load(self, timeout_s: float) -> ModuleType:
        with self._lock:
            if self._module is not None:
                return self._module
            if self._thread is None or not self._thread.is_alive():  # first call, or the last import failed
                self._thread = threading.Thread(target=self._work, name=f"import:{self.module_name}", daemon=True)
                self._thread.start()
            thread = self._thread
        thread.join(timeout_s)
        with self._lock:
            if self._module is not None:
                return self._module
        raise BrokerUnavailable(
            "Angel One's library is still starting (it looks up this computer's public address); try again shortly"
        )

    def _work(self) -> None:
        try:
            module = importlib.import_module(self.module_name)
            self._after()
        except Exception:
            log.exception("importing %s failed", self.module_name)
            return
        with self._lock:
            self._module = module


def _silence_sdk_logger() -> None:
    # The SDK logs request headers (API key, JWT) on failures to logzero's default logger: it stays silent.
    importlib.import_module("logzero").logger.disabled = True


_SDK = _Importer(SDK_MODULE, _silence_sdk_logger)


def load_sdk(timeout_s: float = SDK_IMPORT_TIMEOUT_S, importer: _Importer = _SDK) -> ModuleType:
    """``SmartApi.smartConnect``, imported once; BrokerUnavailable when its import (a network call) hangs.

    The import runs on a daemon thread so a caller never waits longer than ``timeout_s``; a later call waits for
    the same import again rather than starting a second one (``importer``: another module, for tests).
    """
    return importer.load(timeout_s)


def new_connect(
    api_key: str,
    *,
    root: str | None,
    timeout_s: float,
    access_token: str | None = None,
    refresh_token: str | None = None,
    feed_token: str | None = None,
    user_id: str | None = None,
) -> Any:
    """A SmartConnect that writes no log files (see the module docstring)."""
    module = load_sdk()
    smart_connect: type = module.SmartConnect

    class QuietSmartConnect(smart_connect):
        """SmartConnect's attributes, without its __init__'s log folder in the current directory."""

        def __init__(self) -> None:  # deliberately not calling super().__init__ (see the module docstring)
            self.debug = False
            self.api_key = api_key
            self.session_expiry_hook = None
            self.disable_ssl = False
            self.access_token = access_token
            self.refresh_token = refresh_token
            self.feed_token = feed_token
            self.userId = user_id
            self.proxies: dict[str, str] = {}
            self.root = root or PRODUCTION_ROOT
            self.timeout = timeout_s
            self.Authorization = None
            self.privateKey = api_key
            self.reqsession = requests

        def __repr__(self) -> str:  # never the key or tokens
            return f"<QuietSmartConnect root={self.root!r}>"

    return QuietSmartConnect()


def response_code(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    return str(data.get("errorcode") or data.get("errorCode") or "")


def succeeded(data: Any) -> bool:
    return isinstance(data, dict) and (data.get("status") is True or data.get("success") is True)


def call(what: str, fn: Callable[[], Any], *, sending: bool = False) -> Any:
    """Run one SDK call and return its ``data``; raise the broker error its answer or failure means.

    ``sending``: the call changes something at Angel (place/modify/cancel), so a failure whose outcome is unknown
    must be BrokerUnavailable; reads are BrokerUnavailable too (the caller just reads again).
    """
    try:
        answer = fn()
    except BrokerError:
        raise
    except BaseException as exc:
        raise translate_exception(exc, what) from exc
    if succeeded(answer):
        return answer.get("data")
    raise translate_answer(answer, what)


def translate_answer(answer: Any, what: str) -> BrokerError:
    code = response_code(answer)
    message = str(answer.get("message") or "") if isinstance(answer, dict) else ""
    text = TRADER_TEXT.get(code) or message or "no reason given"
    label = f"Angel One refused {what}: {text} ({code})" if code else f"Angel One refused {what}: {text}"
    if code in SESSION_CODES:
        return SessionExpired(label)
    if code in NOT_FOUND_CODES:
        return OrderNotFound(label)
    if code in UNKNOWN_OUTCOME_CODES:
        return BrokerUnavailable(f"Angel One could not say whether {what} was done: {text} ({code})")
    return BrokerRejected(label)


def translate_exception(exc: BaseException, what: str) -> BrokerError:
    """requests' and the SDK's exceptions as broker errors, with no raw SDK text (it may quote headers)."""
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        return NotPlaced(f"Angel One could not be reached ({what} was not sent); try again")
    if isinstance(exc, requests.Timeout):
        return BrokerUnavailable(f"Angel One did not answer in time ({what}); its outcome is unknown")
    if isinstance(exc, requests.ConnectionError):
        return BrokerUnavailable(f"the connection to Angel One failed ({what}); its outcome is unknown")
    if isinstance(exc, requests.RequestException | OSError):
        return BrokerUnavailable(f"Angel One is unreachable ({what})")
    if name == "DataException":  # a body that is not JSON: the gateway's rate limit, or an HTML error page
        if RATE_LIMIT_TEXT in str(exc):
            return RateLimited(f"Angel One's request limit was reached ({what} was not done); try again in a second")
        return BrokerUnavailable(f"Angel One answered {what} with an unreadable reply; its outcome is unknown")
    if name == "TokenException":
        return SessionExpired(f"Angel One no longer accepts this session ({what}); log in to Angel One again")
    if name in {"InputException", "OrderException", "PermissionException"}:
        return BrokerRejected(f"Angel One refused {what} ({name})")
    if name in {"NetworkException", "GeneralException", "SmartAPIException"}:
        return BrokerUnavailable(f"Angel One reported an error ({what}); its outcome is unknown")
    return BrokerError(f"unexpected failure talking to Angel One ({what}): {name}")
