"""SnapTrade's failures as one-line messages a trader can act on.

SnapTrade answers errors as JSON ``{"detail": ..., "status_code": ..., "code": ...}`` (the 400/403/404 models name
the fields ``default_detail``/``default_code``). The codes we act on, from SnapTrade's documentation and answers seen
in the field:

- 1076 (401) "Unable to verify signature sent": the consumer key does not match the client id;
- 1083 (401) "Invalid userID or userSecret provided": the trader's SnapTrade user or secret is unknown or rotated;
- 3003: the brokerage connection is disabled (the trader must reconnect it through the portal);
- 3012 (425) "The resource is currently being populated": the account's first sync is still running;
- 429: a rate limit (``Retry-After`` says when to try again); 5xx: SnapTrade's own trouble.

No message carries SnapTrade's raw text, a URL (the SDK puts the user secret in the query string) or a secret; and
every error is raised ``from None``, so a logged traceback cannot print the SDK's exception (its URL) either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CODE_SIGNATURE = "1076"
CODE_USER = "1083"
CODE_DISABLED = "3003"
CODE_POPULATING = "3012"


class SnapTradeError(Exception):
    """A SnapTrade call failed; ``str()`` is the trader's message. ``status``/``code`` are SnapTrade's, if any."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class SnapTradeNotConfigured(SnapTradeError):
    """No partner credentials (client id + consumer key) on this computer."""


class SnapTradeUnavailable(SnapTradeError):
    """SnapTrade could not be reached, did not answer in time, or failed on its side: try again later."""


class SnapTradeRefused(SnapTradeError):
    """SnapTrade answered and refused the request (credentials, a disabled connection, a missing account)."""


class SnapTradeUserInvalid(SnapTradeRefused):
    """SnapTrade no longer accepts the trader's user id + secret (1083): link again."""


class SnapTradeConnectionDisabled(SnapTradeRefused):
    """A brokerage connection is disabled (3003): reconnect it through the portal."""


def _field(body: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = body.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def from_response(status: int, body: object, headers: Mapping[str, str] | None = None) -> SnapTradeError:
    """The trader's error for a SnapTrade HTTP answer ``status`` with JSON ``body``."""
    fields = body if isinstance(body, Mapping) else {}
    code = _field(fields, "code", "default_code")
    detail = (_field(fields, "detail", "default_detail") or "").lower()
    if code == CODE_USER:
        return SnapTradeUserInvalid(
            "SnapTrade no longer accepts this trader's link (its user secret is unknown or was reset); "
            "unlink SnapTrade and connect again.",
            status=status,
            code=code,
        )
    if code == CODE_SIGNATURE:
        return SnapTradeRefused(
            "SnapTrade refused StratForge's signature: the SnapTrade consumer key configured on this computer does "
            "not match the client id. Check STRATFORGE_SNAPTRADE_CONSUMER_KEY (or the keyring entry).",
            status=status,
            code=code,
        )
    if code == CODE_DISABLED:
        return SnapTradeConnectionDisabled(
            "A brokerage connection is disabled at SnapTrade (its login expired or was revoked); reconnect it with "
            "Connect, then sync again.",
            status=status,
            code=code,
        )
    if code == CODE_POPULATING or status == 425:
        return SnapTradeUnavailable(
            "SnapTrade is still loading this brokerage account's history; try again in a few minutes.",
            status=status,
            code=code,
        )
    if status == 429:
        wait = (headers or {}).get("Retry-After")
        after = f" in {wait} seconds" if wait and wait.strip().isdigit() else " in a minute"
        return SnapTradeUnavailable(f"SnapTrade's rate limit was reached; try again{after}.", status=status, code=code)
    if status == 401 and "clientid" in detail.replace(" ", ""):
        return SnapTradeRefused(
            "SnapTrade does not know the client id configured on this computer. Check STRATFORGE_SNAPTRADE_CLIENT_ID "
            "(or the keyring entry).",
            status=status,
            code=code,
        )
    if status == 401 and "timestamp" in detail:
        return SnapTradeRefused(
            "SnapTrade refused the request's time: this computer's clock is off; correct it and try again.",
            status=status,
            code=code,
        )
    if status in (401, 403):
        return SnapTradeRefused(
            f"SnapTrade refused StratForge's credentials (HTTP {status}{', code ' + code if code else ''}).",
            status=status,
            code=code,
        )
    if status == 404:
        return SnapTradeRefused(
            "SnapTrade no longer has that account or connection (it may have been removed); refresh the list.",
            status=status,
            code=code,
        )
    if status >= 500:
        return SnapTradeUnavailable(
            f"SnapTrade is having trouble (HTTP {status}); nothing was synced, try again later.",
            status=status,
            code=code,
        )
    return SnapTradeRefused(
        f"SnapTrade refused the request (HTTP {status}{', code ' + code if code else ''}).", status=status, code=code
    )
