"""Sign-up, log-in, remembered sessions, log-out and password changes (solo and plain shared databases).

Every method is one short transaction: either everything it writes is
committed or nothing is. Password hashing happens before the transaction
opens, so a slow hash never holds database locks.

Inputs are checked before they reach argon2 or PostgreSQL: the same caps at log-in as at sign-up (a login name of
at most 255 characters, a password of at most 1,024), and no control characters (PostgreSQL's text cannot hold a
NUL: it used to come back as a raw ``psycopg.DataError``). An unknown name and a wrong password get one answer,
``LOGIN_REFUSED``, after the same single argon2 verify.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.accounts import passwords
from core.accounts.errors import (
    LOGIN_REFUSED,
    AccountDisabled,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    InvalidLoginSession,
    LoginSessionExpired,
    UnknownUser,
    WrongPassword,
)
from core.accounts.new_user import add_account
from core.db.models import LoginSession, User
from core.domain.clock import utc_now

REMEMBER_FOR = timedelta(days=30)
SESSION_FOR = timedelta(hours=12)
MAX_LOGIN_LENGTH = 255  # users.email's width; usernames are at most 50, so nothing longer names anyone
MAX_TOKEN_LENGTH = 256  # issued tokens are 43 characters; the cap only bounds what is hashed
# \Z, not $: "$" also matches before a final newline, so "alice\n" would pass a $-anchored rule.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,50}\Z")
USERNAME_RULE = "The username must be 3 to 50 letters, digits, '.', '_' or '-'."
# Serialises sign-ups so "the first account becomes admin" holds under concurrency.
SIGNUP_LOCK_KEY = 0x5F_0002


@dataclass(frozen=True)
class UserInfo:
    """What the rest of the app may know about the logged-in user (no hash, no secrets)."""

    id: uuid.UUID
    email: str
    username: str
    role: str
    virtual_balance: Decimal


@dataclass(frozen=True)
class LoginResult:
    user: UserInfo
    token: str  # shown once; only its SHA-256 is stored
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _has_non_text(value: str) -> bool:
    """Any character of Unicode's "other" categories: control (NUL, line breaks), format (zero-width), surrogate,
    private use or unassigned. None belongs in an email or a login name, and they make look-alike names."""
    return any(unicodedata.category(c).startswith("C") for c in value)


def clean_email(email: str) -> str:
    """The email as stored (trimmed, lower case), or InvalidInput."""
    email = (email or "").strip().lower()
    if len(email) > MAX_LOGIN_LENGTH or _has_non_text(email) or not _EMAIL_RE.fullmatch(email):
        raise InvalidInput("Enter a valid email address, like name@example.com.")
    return email


def clean_username(username: str) -> str:
    """The username as typed (trimmed), or InvalidInput; its rule admits no control character."""
    username = (username or "").strip()
    if not _USERNAME_RE.fullmatch(username):
        raise InvalidInput(USERNAME_RULE)
    return username


def clean_login(login: str) -> str:
    """The email or username typed at log-in (trimmed), or InvalidInput when it is empty, longer than any account's
    email or username, or holds control characters. None of these can name an account, so saying so reveals
    nothing about who is a member; and PostgreSQL never sees a NUL."""
    login = (login or "").strip()
    if not login:
        raise InvalidInput("Enter your email or username and your password.")
    if len(login) > MAX_LOGIN_LENGTH:
        raise InvalidInput(f"No email or username is longer than {MAX_LOGIN_LENGTH} characters.")
    if _has_non_text(login):
        raise InvalidInput(
            "The email or username contains a control character (such as a NUL byte or a line break); "
            "type it again without it."
        )
    return login


def check_login_password(password: str) -> None:
    """The password typed at log-in: present, and possibly a password at all (passwords.check_input)."""
    if not password:
        raise InvalidInput("Enter your email or username and your password.")
    passwords.check_input(password)


def _check_token(token: str) -> str:
    token = token or ""
    if len(token) > MAX_TOKEN_LENGTH or _has_non_text(token):
        raise InvalidInput("That saved login is malformed. Please log in again.")
    return token


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.email, user.username, user.role, user.virtual_balance)


def open_login_session(session: Session, user: User, now: datetime, remember: bool) -> LoginResult:
    """Add a login session for ``user`` (who has just proved who they are) to ``session``; the caller commits.

    One place for every way of logging in (a password here, a Google or Discord identity in
    core.accounts.identities), so a token means the same whichever way it was earned: 12 hours, or 30 days
    remembered, only its SHA-256 stored.
    """
    token = secrets.token_urlsafe(32)
    expires_at = now + (REMEMBER_FOR if remember else SESSION_FOR)
    session.add(
        LoginSession(
            user_id=user.id,
            token_hash=token_hash(token),
            remember=remember,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )
    user.last_login_at = now
    return LoginResult(_info(user), token, expires_at)


class AccountService:
    def __init__(self, session_factory: sessionmaker[Session], *, clock: Callable[[], datetime] = utc_now) -> None:
        self._sessions = session_factory
        self._now = clock

    def has_accounts(self) -> bool:
        """Whether any account exists: the login dialog opens on "Sign up" for a new database's first trader."""
        with self._sessions() as session:
            return session.scalar(select(select(User.id).limit(1).exists())) is True

    def sign_up(self, email: str, username: str, password: str) -> UserInfo:
        """Create the user with default profile and risk settings; the first user of a database is its admin."""
        email = clean_email(email)
        username = clean_username(username)
        passwords.check_strength(password, username=username, email=email)
        password_hash = passwords.hash_password(password)
        with self._sessions() as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SIGNUP_LOCK_KEY})
            try:
                user = add_account(session, email=email, username=username, password_hash=password_hash)
                session.commit()
            except IntegrityError:
                session.rollback()
                raise DuplicateAccount("That email or username is already registered.") from None
            return _info(user)

    def log_in(self, login: str, password: str, remember: bool = False) -> LoginResult:
        """Check the password and open a login session; ``remember`` makes it last 30 days instead of 12 hours.

        An unknown name and a wrong password both raise InvalidCredentials(LOGIN_REFUSED), after one argon2 verify
        each. Input no account can match (see clean_login, passwords.check_input) is InvalidInput, before hashing.
        """
        login = clean_login(login)
        check_login_password(password)
        with self._sessions() as session:
            user = session.scalar(
                select(User).where(or_(User.email == login.lower(), func.lower(User.username) == login.lower()))
            )
            # verified even without a user (against a dummy hash), so a wrong login takes as long as a wrong password
            verified = passwords.verify_password(user.password_hash if user else None, password)
            if user is None or not verified:
                raise InvalidCredentials(LOGIN_REFUSED)
            if not user.is_active:
                raise AccountDisabled("This account has been disabled by the club admin.")
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
            result = open_login_session(session, user, self._now(), remember)
            session.commit()
            return result

    def resume(self, token: str) -> UserInfo:
        """The user of a remembered login, if the token is known, not revoked and not expired."""
        token = _check_token(token)
        with self._sessions() as session:
            login = session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash(token)))
            if login is None or login.revoked_at is not None:
                raise InvalidLoginSession("That login is no longer valid. Please log in again.")
            now = self._now()
            if login.expires_at <= now:
                raise LoginSessionExpired("Your saved login has expired. Please log in again.")
            user = session.get(User, login.user_id)
            if user is None or not user.is_active:
                raise AccountDisabled("This account has been disabled by the club admin.")
            login.last_seen_at = now
            session.commit()
            return _info(user)

    def log_out(self, token: str) -> None:
        """Revoke the login session; logging out twice, or with a malformed token (none was issued), is harmless."""
        try:
            token = _check_token(token)
        except InvalidInput:
            return
        with self._sessions() as session:
            session.execute(
                update(LoginSession)
                .where(LoginSession.token_hash == token_hash(token), LoginSession.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
            session.commit()

    def change_password(self, user_id: uuid.UUID, old_password: str, new_password: str) -> None:
        """Replace the password and revoke every login session of the user (other machines log out too)."""
        passwords.check_input(old_password or "")  # before the verify: never hash 10 MB or choke on a NUL
        with self._sessions() as session:
            user = session.get(User, user_id)
            if user is None:
                raise UnknownUser("That account no longer exists.")
            if not passwords.verify_password(user.password_hash, old_password):
                raise WrongPassword("The current password is wrong.")
            passwords.check_strength(new_password, username=user.username, email=user.email)
            if new_password == old_password:
                raise InvalidInput("The new password must differ from the current one.")
            user.password_hash = passwords.hash_password(new_password)
            session.execute(
                update(LoginSession)
                .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
            session.commit()
