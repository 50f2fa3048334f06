"""Account errors; ``str(error)`` is the message shown to the trader as is."""

from __future__ import annotations

from core.db.errors import DatabaseUnreachable

# The one answer to a log-in with an unknown name or a wrong password (solo, plain shared and club databases alike):
# two different answers would let anyone list the members by trying names.
LOGIN_REFUSED = "Wrong password or unknown user."


class AccountError(Exception):
    """Base class: something the trader did or typed cannot be accepted."""


class InvalidInput(AccountError):
    """A field is empty or malformed (email, username), too long, or holds control characters."""


class WeakPassword(AccountError):
    """The password does not meet the strength rule."""


class DuplicateAccount(AccountError):
    """The email or username is already taken."""


class InvalidCredentials(AccountError):
    """A log-in was refused: no such user, or the wrong password; which one is deliberately not said.

    Log-in raises this class itself, always with LOGIN_REFUSED; the subclasses are for callers that already know
    who the user is (a password change checks the current password, a lookup by id finds no user).
    """


class UnknownUser(InvalidCredentials):
    """No account has that id (a user deleted while logged in); log-in never raises it."""


class WrongPassword(InvalidCredentials):
    """A logged-in user's current password does not match (changing the password); log-in never raises it."""


class AccountDisabled(AccountError):
    """The account exists but an admin disabled it."""


class LoginSessionExpired(AccountError):
    """A remembered login is past its expiry."""


class InvalidLoginSession(AccountError):
    """A token that was never issued, or was revoked by logging out."""


class SignUpsClosed(AccountError):
    """The club takes no more sign-up requests for now: as many as it allows are waiting for the admin."""


class ClubUnreachable(AccountError, DatabaseUnreachable):
    """The club's PostgreSQL did not answer, or refused the club's own sign-up role: nothing the trader typed is
    at fault, so the message says what to check or whom to ask."""


class ClubMisconfigured(AccountError):
    """The club's server let a trader's role in without checking its password (pg_hba.conf ``trust``): any
    password would do, so the app refuses rather than pretend the password was checked."""
