"""Accounts: users, password hashing, login sessions, default profile and risk settings."""

from core.accounts.errors import (
    AccountDisabled,
    AccountError,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    InvalidLoginSession,
    LoginSessionExpired,
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
    "InvalidLoginSession",
    "LoginResult",
    "LoginSessionExpired",
    "UnknownUser",
    "UserInfo",
    "WeakPassword",
    "WrongPassword",
]
