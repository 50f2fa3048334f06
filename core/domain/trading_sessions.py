"""The states of a trading session (``trading_sessions``) and of the signals it emits (``signals``).

"Session" alone means four things in a trading app; here it is always a *trading session*: a strategy running in
one mode (a paper session is one with mode PAPER). Upper-case values, as the seeds store them.
"""

from __future__ import annotations

from enum import StrEnum


class TradingSessionMode(StrEnum):
    LIVE = "LIVE"
    PAPER = "PAPER"
    BACKTEST = "BACKTEST"
    MANUAL = "MANUAL"


class TradingSessionStatus(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"


class SignalAction(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class SignalStatus(StrEnum):
    PENDING = "PENDING"  # on disk before its order is placed, so a crash cannot lose it
    EXECUTED = "EXECUTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
