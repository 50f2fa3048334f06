"""Kite Connect's failures as broker errors, each with one line a trader can read.

The SDK raises ``kiteconnect.exceptions`` built from Kite's JSON envelope (``status``, ``message``, ``error_type``)
with the HTTP status as ``.code``; an ``error_type`` the SDK has no class for (Kite's MarginException,
HoldingException, UserException) comes out as GeneralException with the HTTP status, so the status decides between
"refused" (4xx) and "outcome unknown" (5xx). Transport failures come straight from ``requests``.
"""

from __future__ import annotations

import requests
from kiteconnect import exceptions as kite

from core.broker.errors import (
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    NotPlaced,
    OrderNotFound,
    RateLimited,
    SessionExpired,
)

BROKER = "Zerodha"
# Kite documents ~10 requests a second per endpoint and answers 429 past it, without a reset time: wait a second.
RATE_LIMIT_RETRY_S = 1.0
MAX_MESSAGE_CHARS = 200


def _kite_message(exc: kite.KiteException) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def translate_error(exc: BaseException, what: str) -> BaseException:
    """The broker error for ``exc`` raised while doing ``what`` (e.g. "place the order"); others pass through."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, kite.KiteException):
        return _translate_kite(exc, what)
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(exc):
        return NotPlaced(f"{BROKER} could not be reached, so nothing was sent ({what}); try again.")
    if isinstance(exc, requests.exceptions.Timeout):
        return BrokerUnavailable(f"{BROKER} did not answer in time ({what}); the outcome is unknown until it does.")
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        return BrokerUnavailable(
            f"The connection to {BROKER} failed ({what}); the outcome is unknown until it answers."
        )
    if isinstance(exc, ValueError | KeyError | TypeError):  # a body the SDK could not read (no Content-Type, ...)
        return BrokerUnavailable(f"{BROKER} sent an answer StratForge cannot read ({what}).")
    return exc


def _translate_kite(exc: kite.KiteException, what: str) -> BrokerError:
    kind = type(exc).__name__
    message = _kite_message(exc)
    status = int(getattr(exc, "code", 500) or 500)
    if status == 429:
        return RateLimited(f"{BROKER} is limiting requests ({message}); nothing was sent ({what}).", RATE_LIMIT_RETRY_S)
    if isinstance(exc, kite.TokenException):
        return SessionExpired(f"The {BROKER} session has ended ({message}); log in to Zerodha again to {what}.")
    if status == 404:
        return OrderNotFound(f"{BROKER} has no such order ({what}): {message} ({kind})")
    if isinstance(exc, kite.NetworkException | kite.DataException):
        return BrokerUnavailable(f"{BROKER} could not reach its order system ({what}): {message} ({kind})")
    if isinstance(exc, kite.InputException | kite.OrderException | kite.PermissionException) or status < 500:
        return BrokerRejected(f"{BROKER} refused to {what}: {message} ({kind})")
    return BrokerUnavailable(f"{BROKER} failed ({what}): {message} ({kind}, HTTP {status}); the outcome is unknown.")


def _never_connected(exc: BaseException) -> bool:
    """requests' ConnectionError caused by a refused/unresolvable connection: the request never left."""
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.ReadTimeout):
        return False
    text = repr(exc.args[0]) if exc.args else ""
    return "NewConnectionError" in text or "NameResolutionError" in text
