"""Per-user pre-trade risk rules, composed into the ledger as one explicit chain."""

from core.risk.chain import RiskChain, default_chain
from core.risk.context import RecentOrder, RiskContext
from core.risk.rules import Rejection

__all__ = ["RecentOrder", "Rejection", "RiskChain", "RiskContext", "default_chain"]
