"""Where and as whom StratForge calls SnapTrade: the API host and the partner's key. Light on purpose: the panel and
the service import it at start-up, the SDK itself is imported only when a call is made (``client.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

PRODUCTION_HOST = "https://api.snaptrade.com"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PartnerKeys:
    """StratForge's SnapTrade API key: configuration, never shipped; repr hides the consumer key."""

    client_id: str
    consumer_key: str = field(repr=False)
