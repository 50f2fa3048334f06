"""SnapTrade: brokerage connections read through the official ``snaptrade-python-sdk`` (client.py, the only importer
of the SDK), its answers as our values (convert.py) and its failures as a trader's messages (errors.py)."""

from core.adapters.snaptrade.client import PRODUCTION_HOST, PartnerKeys, SnapTradeClient
from core.adapters.snaptrade.convert import (
    Activity,
    BrokerageAccount,
    Connection,
    Position,
    PositionsSnapshot,
    SnapTradeUser,
)
from core.adapters.snaptrade.errors import (
    SnapTradeConnectionDisabled,
    SnapTradeError,
    SnapTradeNotConfigured,
    SnapTradeRefused,
    SnapTradeUnavailable,
    SnapTradeUserInvalid,
)

__all__ = [
    "PRODUCTION_HOST",
    "Activity",
    "BrokerageAccount",
    "Connection",
    "PartnerKeys",
    "Position",
    "PositionsSnapshot",
    "SnapTradeClient",
    "SnapTradeConnectionDisabled",
    "SnapTradeError",
    "SnapTradeNotConfigured",
    "SnapTradeRefused",
    "SnapTradeUnavailable",
    "SnapTradeUser",
    "SnapTradeUserInvalid",
]
