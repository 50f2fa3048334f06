"""SnapTrade: brokerage connections read through the official ``snaptrade-python-sdk`` (client.py, the only importer
of the SDK, imported by its callers only when they call: the SDK takes about a second to import), its answers as our
values (convert.py), its failures as a trader's messages (errors.py), the host and the partner's key (config.py)."""

from core.adapters.snaptrade.config import PRODUCTION_HOST, PartnerKeys
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
    "SnapTradeConnectionDisabled",
    "SnapTradeError",
    "SnapTradeNotConfigured",
    "SnapTradeRefused",
    "SnapTradeUnavailable",
    "SnapTradeUser",
    "SnapTradeUserInvalid",
]
