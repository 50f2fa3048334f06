"""Why a sign-in with Google or Discord did not happen; ``str(error)`` is the one line the trader reads.

Each is an AccountError, so the login dialog shows it as it shows a wrong password. None carries a provider's raw
answer beyond its standard error code, and none a token, code or secret.
"""

from __future__ import annotations

from core.accounts.errors import AccountError


class SignInError(AccountError):
    """The sign-in failed; nothing was written (no user, no link, no login session)."""


class SignInCancelled(SignInError):
    """The trader cancelled: in the dialog, or by refusing consent at the provider (``error=access_denied``)."""


class SignInTimedOut(SignInError):
    """No answer came back from the browser in time (the tab was closed, or the trader walked away)."""


class SignInNotConfigured(SignInError):
    """No client id is configured for the provider, so its button cannot work."""


class IdentityTaken(AccountError):
    """The identity is already linked to another StratForge user (users.google_id / users.discord_id are unique)."""


class LastWayToLogIn(AccountError):
    """Unlinking would leave the account with no way to log in (no password and no other identity)."""
