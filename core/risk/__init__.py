"""Per-user pre-trade risk rules, composed into the ledger as one explicit chain."""

from core.risk.chain import RiskChain, default_chain
from core.risk.context import OrderTicket, RecentOrder, RiskContext, RiskLimits
from core.risk.rules import Rejection

__all__ = ["OrderTicket", "RecentOrder", "Rejection", "RiskChain", "RiskContext", "RiskLimits", "default_chain"]
