"""All tables of the schema; importing this package registers them on ``Base.metadata``."""

from core.db.models.accounts import (
    BrokerConnection,
    LoginSession,
    RiskSettings,
    User,
    UserProfile,
    UserRule,
    WaitlistEntry,
)
from core.db.models.backtest import BacktestResult, BatchJob, BatchJobRun, VariableList
from core.db.models.club import (
    ClubFollow,
    ClubMember,
    ClubRouteAllocation,
    ClubRouteStep,
    ClubStopTrigger,
    OrderRequest,
)
from core.db.models.journal import CampaignCheck, CampaignFill, DecisionContext, JournalEntry
from core.db.models.logs import ApiUsageLog, SystemLog, TradeLog
from core.db.models.market import ComputedFeature, DataSyncLog, OhlcvBar, Ticker
from core.db.models.strategies import (
    ProbeStrategy,
    Strategy,
    StrategyProbeResult,
    StrategyProbeTrade,
    StrategyVersion,
)
from core.db.models.trading import (
    Fill,
    Order,
    Position,
    PositionHistory,
    SessionSnapshot,
    Signal,
    StrategyPerformance,
    TradingSession,
)

__all__ = [
    "ApiUsageLog",
    "BacktestResult",
    "BatchJob",
    "BatchJobRun",
    "BrokerConnection",
    "CampaignCheck",
    "CampaignFill",
    "ClubFollow",
    "ClubMember",
    "ClubRouteAllocation",
    "ClubRouteStep",
    "ClubStopTrigger",
    "ComputedFeature",
    "DataSyncLog",
    "DecisionContext",
    "Fill",
    "JournalEntry",
    "LoginSession",
    "OhlcvBar",
    "Order",
    "OrderRequest",
    "Position",
    "PositionHistory",
    "ProbeStrategy",
    "RiskSettings",
    "SessionSnapshot",
    "Signal",
    "Strategy",
    "StrategyPerformance",
    "StrategyProbeResult",
    "StrategyProbeTrade",
    "StrategyVersion",
    "SystemLog",
    "Ticker",
    "TradeLog",
    "TradingSession",
    "User",
    "UserProfile",
    "UserRule",
    "VariableList",
    "WaitlistEntry",
]
