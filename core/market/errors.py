"""Errors of the market-data layer, worded for the trader who sees them."""

from __future__ import annotations


class MarketDataError(Exception):
    """Bars could not be fetched or stored; the message says why and what was kept."""
