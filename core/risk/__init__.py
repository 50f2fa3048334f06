"""Per-user pre-trade risk rules, composed into the ledger as one explicit chain."""

from core.risk.chain import RiskChain, default_chain
from core.risk.context import RecentOrder, RiskContext, cover_part, short_part
from core.risk.rules import Rejection

__all__ = ["RecentOrder", "Rejection", "RiskChain", "RiskContext", "cover_part", "default_chain", "short_part"]
