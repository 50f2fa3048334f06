"""Broker errors; ``str()`` is a message a trader can read."""

from __future__ import annotations


class BrokerError(Exception):
    """Any failure talking to a broker."""


class BrokerRejected(BrokerError):
    """The broker refused the request (e.g. 403/422 from Alpaca, an invalid order in SimBroker)."""


class OrderNotFound(BrokerError):
    """No order with that id or client order id."""


class BrokerUnavailable(BrokerError):
    """Timeout, connection failure or server error: the outcome of the request is unknown."""


class RateLimited(BrokerUnavailable):
    """The account's request budget is exhausted (HTTP 429); retry later."""
