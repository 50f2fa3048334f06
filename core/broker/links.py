"""How a trader's own brokerage account becomes a Broker: the contract each real-broker adapter fulfils.

A link is a ``broker_connections`` row: the broker's name, a label the trader chose, whether it is paper, and the
API credentials sealed by the credential vault. Opening one takes three steps, because the Indian brokers' APIs
all put a browser or a one-time password between the API key and a trading session:

1. ``credential_fields``: what the link form asks for (an API key, its secret, a client code, a PIN, a TOTP seed);
2. ``login_url`` / ``start_session``: the broker's log-in (Kite's and Breeze's browser log-in returning a request
   token or session key; Angel's client code + PIN + TOTP) giving the day's session tokens, sealed beside the
   credentials and refreshed when the broker expires them (Kite's and Breeze's sessions end each morning);
3. ``open_broker``: the Broker-protocol adapter for that session.

The adapters live in ``core.adapters.<broker>``; ``LINK_ADAPTERS`` names where, so that a broker's SDK (some of
which do network calls or write files when imported) is imported only when a trader opens that broker.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from core.broker.protocol import Broker


@dataclass(frozen=True)
class CredentialField:
    """One value the link form asks for; ``secret`` fields are masked and sealed, never shown again; a field that
    is not ``required`` may stay empty (the adapter has a default, or asks for the value at each log-in)."""

    name: str
    label: str
    secret: bool = True
    help: str = ""
    required: bool = True


@dataclass(frozen=True)
class Endpoints:
    """Where the broker's API is; None means the broker's public production address (tests point it at a
    local stand-in)."""

    api_root: str | None = None
    login_root: str | None = None
    stream_root: str | None = None


class BrokerLinkAdapter(Protocol):
    broker: str  # the broker_connections.broker value: "zerodha" | "angel" | "icici"
    display_name: str  # "Zerodha (Kite Connect)"
    credential_fields: tuple[CredentialField, ...]

    def login_url(self, credentials: Mapping[str, str], endpoints: Endpoints) -> str | None:
        """The browser log-in page, or None when the log-in needs no browser (Angel: PIN + TOTP)."""
        ...

    def start_session(
        self, credentials: Mapping[str, str], answer: Mapping[str, str], endpoints: Endpoints
    ) -> dict[str, str]:
        """Trade the log-in's answer (the redirect's query parameters, or nothing) for session secrets."""
        ...

    def open_broker(self, credentials: Mapping[str, str], session: Mapping[str, str], endpoints: Endpoints) -> Broker:
        """The Broker for this session; the caller closes it with ``close()`` when the adapter has one."""
        ...


LINK_ADAPTERS: dict[str, str] = {
    "zerodha": "core.adapters.zerodha.link:ZerodhaLink",
    "angel": "core.adapters.angel.link:AngelLink",
    "icici": "core.adapters.icici.link:IciciLink",
}


def link_adapter(broker: str) -> BrokerLinkAdapter:
    """The adapter for ``broker``, imported on first use."""
    try:
        target = LINK_ADAPTERS[broker]
    except KeyError:
        raise ValueError(f"StratForge cannot link a {broker!r} account; it links {', '.join(LINK_ADAPTERS)}.") from None
    module_name, _, class_name = target.partition(":")
    adapter: BrokerLinkAdapter = getattr(importlib.import_module(module_name), class_name)()
    return adapter
