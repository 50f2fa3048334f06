"""Ledger errors; ``str()`` is the message shown to the trader."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger could not do what was asked."""


class OrderRejected(LedgerError):
    """Refused before or by the broker; nothing stays reserved."""

    def __init__(self, reason: str, rule: str = "broker") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


class UnknownOrder(LedgerError):
    """No order with that id belongs to this user."""
