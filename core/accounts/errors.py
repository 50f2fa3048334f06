"""Account errors; ``str(error)`` is the message shown to the trader as is."""

from __future__ import annotations


class AccountError(Exception):
    """Base class: something the trader did or typed cannot be accepted."""


class InvalidInput(AccountError):
    """A field is empty or malformed (email, username)."""


class WeakPassword(AccountError):
    """The password does not meet the strength rule."""


class DuplicateAccount(AccountError):
    """The email or username is already taken."""


class InvalidCredentials(AccountError):
    """Base for the two ways a log-in can fail."""


class UnknownUser(InvalidCredentials):
    """No account has that email or username."""


class WrongPassword(InvalidCredentials):
    """The account exists but the password does not match."""


class AccountDisabled(AccountError):
    """The account exists but an admin disabled it."""


class LoginSessionExpired(AccountError):
    """A remembered login is past its expiry."""


class InvalidLoginSession(AccountError):
    """A token that was never issued, or was revoked by logging out."""
