"""Broker errors; ``str()`` is a message a trader can read.

Two failures must never be confused, because the ledger does opposite things with them:
``BrokerUnavailable`` means the outcome is unknown (the order may exist: keep it pending and settle it later),
``NotPlaced`` means the request certainly was not processed (nothing to settle: retrying is safe, and giving up
releases the reservation at once).
"""

from __future__ import annotations


class BrokerError(Exception):
    """Any failure talking to a broker."""


class BrokerRejected(BrokerError):
    """The broker refused the request (e.g. 403/422 from Alpaca, an invalid order in SimBroker)."""


class OrderNotFound(BrokerError):
    """No order with that id or client order id."""


class BrokerUnavailable(BrokerError):
    """Timeout, connection failure or server error: the outcome of the request is unknown."""


class NotPlaced(BrokerError):
    """The request certainly was not processed (refused before it was sent, or refused unread); retrying is safe.

    ``retry_after_s``: when the refusal said how long to wait (Alpaca's X-RateLimit-Reset, the club budget's next
    free slot), else None.
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(NotPlaced):
    """The account's request budget is exhausted: HTTP 429 from Alpaca (Alpaca did not process the request), or the
    club's own budget refused before anything was sent."""


class SessionExpired(BrokerError):
    """The broker's trading session ended (Kite's and Breeze's access tokens expire every morning, Angel's JWT
    after a day): nothing was placed, and the trader must log in to the broker again before retrying."""
