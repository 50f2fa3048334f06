"""Signing up and logging in to a club whose members each have their own PostgreSQL role (issue 26, migration 0012).

How the app knows: the configured database URL's user is the club's applicant role,
``group_role(dbname, "applicant")`` (``sf<6 hex>_applicant``). That is the only role a club hands out to people who
are not members yet, so its name in the URL says "a club with roles" without a setting of its own, and a URL
naming any other user (a plain shared database, the club service's own role) keeps today's behaviour. The
applicant may only call ``sf_request_signup`` (and read ``alembic_version``, so the app can check the schema).

Sign-up is a request: the app checks the fields and the password's strength here, computes PostgreSQL's
SCRAM-SHA-256 verifier of the password for the role the trader will get (libpq does it locally), and files the
request through ``sf_request_signup``. The password itself never leaves this machine; the club admin's approval
creates the role with the verifier.

Log-in is a PostgreSQL log-in: the trader's URL is the club's with the user replaced by
``trader_role(dbname, username)`` and the password the trader typed, and PostgreSQL checks it. Its answers map to the
app's: a failed password and a role that does not exist (PostgreSQL's SCRAM answers both alike) are the one
``LOGIN_REFUSED``; a NOLOGIN role (disabled by the admin) is AccountDisabled; no answer is ClubUnreachable. The
role is named after the username, so a club member logs in with the username, not the email. A server that lets
the role in without asking for its password (``trust`` in pg_hba.conf) is refused: every password would be
"right" there, and the app would be pretending to check one.

"Remember me" keeps the password in the OS keyring (token_store.KeyringClubLoginStore), never in a file.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import URL, make_url

from core.accounts import passwords
from core.accounts.errors import (
    LOGIN_REFUSED,
    AccountDisabled,
    ClubMisconfigured,
    ClubUnreachable,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    SignUpsClosed,
)
from core.accounts.service import (
    UserInfo,
    check_login_password,
    clean_email,
    clean_login,
    clean_username,
)
from core.db.club_roles import group_role, scram_verifier, trader_role
from core.db.engine import CONNECT_TIMEOUT_S, normalize_url

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255  # waitlist.name
_USERNAME_ONLY = re.compile(r"^[A-Za-z0-9_.-]{3,50}\Z")

# PostgreSQL's own words for each way a log-in fails (libpq gives no SQLSTATE for a refused connection). They are
# the server's messages in English; a server answering in another language lands in ClubUnreachable, its own words
# shown. A SCRAM server answers "password authentication failed" for a role that does not exist too; a server that
# does not check passwords names the missing role instead.
_REFUSED = re.compile(r'password authentication failed|role ".*" does not exist', re.IGNORECASE)
_DISABLED = re.compile(r"is not permitted to log in", re.IGNORECASE)
_NO_ROOM = re.compile(r"too many (connections|clients)|remaining connection slots", re.IGNORECASE)


@dataclass(frozen=True)
class ClubLogin:
    """A trader logged in to a club: the user, and the URL to open the club's database as that trader."""

    user: UserInfo
    role: str
    url: str = field(repr=False)  # carries the password: for open_database only, never for a log line
    password: str = field(repr=False)  # for "remember me" (the OS keyring), nothing else


class ClubAccounts:
    """One club's sign-up request and log-in, bound to the club's URL as configured (for the login dialog)."""

    def __init__(self, club_url: str) -> None:
        self.club_url = club_url

    def request_sign_up(self, name: str, email: str, username: str, password: str) -> None:
        request_sign_up(self.club_url, name, email, username, password)

    def log_in(self, login: str, password: str) -> ClubLogin:
        return log_in(self.club_url, login, password)


def is_club_url(url: str | None) -> bool:
    """True when ``url`` names the club's applicant role of its own database (see the module's docstring)."""
    if not url:
        return False
    try:
        parsed = make_url(normalize_url(url))
    except Exception:
        return False
    database = parsed.database or parsed.username
    return bool(parsed.username and database and parsed.username == group_role(database, "applicant"))


def request_sign_up(applicant_url: str, name: str, email: str, username: str, password: str) -> None:
    """File a sign-up request with the club: it waits in ``waitlist`` (with the password's verifier, never the
    password) until the club admin approves it. Raises InvalidInput, WeakPassword, DuplicateAccount (a user or a
    waiting request has that email or username), SignUpsClosed, ClubUnreachable or ClubMisconfigured."""
    name = _clean_name(name)
    email = clean_email(email)
    username = clean_username(username)
    passwords.check_strength(password, username=username, email=email)
    club = _parse(applicant_url)
    try:
        conn = psycopg.connect(_libpq(club), **_connect_args())
    except psycopg.Error as exc:  # OperationalError: refused or unreachable; ProgrammingError: a malformed URL
        raise _applicant_refused(club, exc) from None
    with conn:
        role = trader_role(conn.info.dbname, username)
        verifier = scram_verifier(conn, password, role)
        try:
            conn.execute("SELECT sf_request_signup(%s, %s, %s, %s)", (name, email, username, verifier))
        except pg_errors.InvalidParameterValue as exc:
            raise InvalidInput(_primary(exc)) from None
        except pg_errors.UniqueViolation as exc:
            raise DuplicateAccount(_primary(exc)) from None
        except pg_errors.ProgramLimitExceeded as exc:  # the club caps how many requests may wait at once
            raise SignUpsClosed(_primary(exc)) from None
        except (pg_errors.UndefinedFunction, pg_errors.InsufficientPrivilege) as exc:
            raise ClubMisconfigured(
                f"The club's database {_shown(club)} does not take sign-up requests with this address "
                f"({_primary(exc)}). Ask the club admin for the club's current address."
            ) from None


def log_in(club_url: str, login: str, password: str) -> ClubLogin:
    """Log in to the club as the trader ``login`` (a username): PostgreSQL checks the password.

    Raises InvalidInput (nothing typed could be a member's name or password), InvalidCredentials(LOGIN_REFUSED),
    AccountDisabled, ClubUnreachable or ClubMisconfigured.
    """
    login = clean_login(login)
    check_login_password(password)
    if "@" in login:
        raise InvalidInput("In a club, log in with your username: your database login is named after it.")
    if not _USERNAME_ONLY.match(login):
        raise InvalidCredentials(LOGIN_REFUSED)  # no member can have this name; the same answer as any unknown one
    club = _parse(club_url)
    database = club.database or club.username or ""
    role = trader_role(database, login)
    trader = club.set(username=role, password=password)
    try:
        conn = psycopg.connect(_libpq(club), **_connect_args(user=role, password=password))
    except psycopg.Error as exc:
        raise _trader_refused(club, exc) from None
    with conn:
        if not conn.pgconn.used_password:
            raise ClubMisconfigured(
                f"The club's database {_shown(club)} let this login in without checking its password "
                "(pg_hba.conf allows it without one), so any password would do. Ask the club admin to require "
                "scram-sha-256 for members."
            )
        row = conn.execute(
            "SELECT id, email, username, role, virtual_balance FROM users WHERE id = sf_uid()"
        ).fetchone()
        if row is None:  # sf_uid() is NULL for a role that is no active member (disabled, or never approved)
            raise AccountDisabled("This account is not an active member of the club; ask the club admin.")
        conn.execute("UPDATE users SET last_login_at = now() WHERE id = sf_uid()")
    user = UserInfo(id=row[0], email=row[1], username=row[2], role=row[3], virtual_balance=row[4])
    return ClubLogin(user=user, role=role, url=trader.render_as_string(hide_password=False), password=password)


# --- helpers -------------------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The name may be at most {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise InvalidInput("The name contains a control character (such as a NUL byte); type it again without it.")
    return name


def _parse(url: str) -> URL:
    try:
        return make_url(normalize_url(url))
    except Exception as exc:
        raise ClubMisconfigured(f"The club's database address is not a PostgreSQL URL ({exc}).") from None


def _libpq(url: URL) -> str:
    """The URL as libpq reads it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _connect_args(**given: Any) -> dict[str, Any]:
    """Keywords beside the URL. A member's user and password come this way and override the applicant's in the
    URL, so a password with '@' or '%' in it needs no escaping."""
    return {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "stratforge", "autocommit": True, **given}


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _primary(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or str(exc)


def _reason(exc: psycopg.Error) -> str:
    """libpq's message without its "connection failed: connection to server at ... failed:" preamble."""
    text = str(exc).strip()
    return text.rsplit("failed: ", 1)[-1].strip() or text


def _trader_refused(club: URL, exc: psycopg.Error) -> Exception:
    reason = _reason(exc)
    if _DISABLED.search(reason):
        return AccountDisabled("This account has been disabled by the club admin.")
    if _REFUSED.search(reason):
        return InvalidCredentials(LOGIN_REFUSED)
    return _unreachable(club, reason)


def _applicant_refused(club: URL, exc: psycopg.Error) -> Exception:
    """The applicant's own log-in failing is the club's address being out of date, not anything the trader typed."""
    reason = _reason(exc)
    if _REFUSED.search(reason) or _DISABLED.search(reason):
        return ClubUnreachable(
            f"The club's database {_shown(club)} refused its sign-up login ({reason}). "
            "Ask the club admin for the club's current address."
        )
    return _unreachable(club, reason)


def _unreachable(club: URL, reason: str) -> ClubUnreachable:
    if _NO_ROOM.search(reason):
        return ClubUnreachable(f"The club's database {_shown(club)} is busy ({reason}). Try again in a minute.")
    return ClubUnreachable(f"Cannot reach the club's database {_shown(club)}: {reason}")
