"""Accounts: users, password hashing, login sessions, default profile and risk settings."""

from core.accounts.errors import (
    AccountDisabled,
    AccountError,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    InvalidSession,
    SessionExpired,
    UnknownUser,
    WeakPassword,
    WrongPassword,
)
from core.accounts.service import AccountService, LoginResult, UserInfo

__all__ = [
    "AccountDisabled",
    "AccountError",
    "AccountService",
    "DuplicateAccount",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidSession",
    "LoginResult",
    "SessionExpired",
    "UnknownUser",
    "UserInfo",
    "WeakPassword",
    "WrongPassword",
]
