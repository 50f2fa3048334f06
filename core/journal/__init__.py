"""The trade journal: fills, decision contexts, behavioural checks, FIFO campaigns, entries, statistics.

No Qt. Every function takes the session factory and the user's id and sees only that user's rows; every
function that takes a session factory blocks on the database, so the GUI runs it on a worker thread. The
pure parts (``campaigns``, ``csv_fills``, ``pre_trade``, ``post_trade``, ``check_settings.resolve_check_settings``,
``stats.summarize_by_strategy``) need no database.
"""

from core.journal.campaign_store import campaigns_of_fill, list_campaigns, rebuild_campaigns, stored_groups
from core.journal.campaigns import CLOSED, LONG, OPEN, SHORT, Campaign, FillEffect, build_campaigns
from core.journal.check_records import (
    StoredCheck,
    acknowledge_check,
    link_checks_to_fill,
    list_checks,
    record_pre_trade_response,
)
from core.journal.check_settings import CheckRule, CheckSettings, load_check_settings, save_check_rule
from core.journal.check_types import CheckResult, PreTradeEvaluation, ProposedOrder
from core.journal.contexts import DecisionContextView, attach_context, get_context, list_contexts, update_context
from core.journal.csv_fills import RejectedRow
from core.journal.entries import EntryView, create_entry, delete_entry, get_entry, search_entries, update_entry
from core.journal.errors import AlreadyAttached, FillImportError, InvalidJournalInput, JournalError, NotFound
from core.journal.exit_intent import ExitIntent
from core.journal.fill_import import FillImportReport, import_fills_csv, import_fills_text
from core.journal.fills import JournalFill, JournalFillRow, list_fills
from core.journal.post_trade_service import AfterFill, after_fill, run_post_trade_checks
from core.journal.pre_trade_service import evaluate_order
from core.journal.stats import CampaignSummary, StrategyStats, overall_stats, strategy_stats

__all__ = [
    "CLOSED",
    "LONG",
    "OPEN",
    "SHORT",
    "AfterFill",
    "AlreadyAttached",
    "Campaign",
    "CampaignSummary",
    "CheckResult",
    "CheckRule",
    "CheckSettings",
    "DecisionContextView",
    "EntryView",
    "ExitIntent",
    "FillEffect",
    "FillImportError",
    "FillImportReport",
    "InvalidJournalInput",
    "JournalError",
    "JournalFill",
    "JournalFillRow",
    "NotFound",
    "PreTradeEvaluation",
    "ProposedOrder",
    "RejectedRow",
    "StoredCheck",
    "StrategyStats",
    "acknowledge_check",
    "after_fill",
    "attach_context",
    "build_campaigns",
    "campaigns_of_fill",
    "create_entry",
    "delete_entry",
    "evaluate_order",
    "get_context",
    "get_entry",
    "import_fills_csv",
    "import_fills_text",
    "link_checks_to_fill",
    "list_campaigns",
    "list_checks",
    "list_contexts",
    "list_fills",
    "load_check_settings",
    "overall_stats",
    "rebuild_campaigns",
    "record_pre_trade_response",
    "run_post_trade_checks",
    "save_check_rule",
    "search_entries",
    "stored_groups",
    "strategy_stats",
    "update_context",
    "update_entry",
]
