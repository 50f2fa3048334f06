"""One shared broker account, many clients (DESIGN.md "One account, many clients").

StratForge has no central server beyond PostgreSQL, so the roles of a gateway and
an ingestor are played by whichever clients are running, coordinated through the
database:

- ``RateBudget`` / ``BudgetedBroker``: every REST call on the shared account takes a slot
  from one budget recorded in ``api_usage_logs``, so the club as a whole stays under
  Alpaca's limit (club_budget, club_broker).
- ``StreamLeadership``: exactly one running client holds the trade-updates stream,
  elected with a session-level advisory lock that dies with its holder (club_leadership).
- ``ClubClient``: connects the two to a Ledger and an AlpacaBroker (club_client).
"""

from core.broker.club_broker import BudgetedBroker
from core.broker.club_budget import RateBudget, Slot
from core.broker.club_client import TRADE_STREAM_KEY, ClubClient
from core.broker.club_leadership import StreamLeadership
from core.db.advisory import advisory_key

__all__ = [
    "TRADE_STREAM_KEY",
    "BudgetedBroker",
    "ClubClient",
    "RateBudget",
    "Slot",
    "StreamLeadership",
    "advisory_key",
]
