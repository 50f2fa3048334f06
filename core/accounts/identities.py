"""A Google or Discord identity linked to one StratForge user: log in by it, create an account from it, link and
unlink it (solo and plain shared databases; a club's members are core.accounts.club_identity).

The identity is the provider's stable subject id (``users.google_id`` / ``users.discord_id``, each UNIQUE: one
identity can never name two users). It is never matched by email: an account whose email equals the identity's is
not taken over by signing in with it; the trader logs in with their password and links the identity in Settings.

An account created from an identity has no password (``NO_PASSWORD`` is not an argon2 hash, so
``passwords.verify_password`` never accepts anything for it) until the trader sets one. Unlinking the last way to
log in (no password and no other identity) is refused. Every method is one short transaction; the row of the user
is locked while links change, so two unlinks at once cannot both pass the last-way check.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from core.accounts import passwords
from core.accounts.errors import AccountDisabled, DuplicateAccount, InvalidInput, UnknownUser
from core.accounts.new_user import add_account
from core.accounts.oauth.errors import IdentityTaken, LastWayToLogIn
from core.accounts.oauth.identity import VerifiedIdentity
from core.accounts.oauth.providers import DISCORD, GOOGLE, LABELS, PROVIDERS
from core.accounts.service import (
    SIGNUP_LOCK_KEY,
    LoginResult,
    clean_email,
    clean_username,
    open_login_session,
)
from core.db.models import User
from core.domain.clock import utc_now

# users.password_hash of an account created from an identity, until the trader sets a password. Not an argon2
# string, so no password is ever accepted for it (the club's members use "!club-role" the same way).
NO_PASSWORD = "!identity-only"
_COLUMNS: dict[str, InstrumentedAttribute[str | None]] = {GOOGLE: User.google_id, DISCORD: User.discord_id}
_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def has_password(password_hash: str | None) -> bool:
    """Whether the stored hash is a real password's (argon2), not a marker such as NO_PASSWORD."""
    return bool(password_hash) and str(password_hash).startswith("$argon2")


def username_from(identity: VerifiedIdentity) -> str:
    """A valid username (not checked for being free) made from the provider's name, else the email's local part."""
    base = _USERNAME_CHARS.sub("", (identity.name or "").replace(" ", "."))[:40].strip(".-")
    if len(base) < 3 and identity.email:
        base = _USERNAME_CHARS.sub("", identity.email.split("@", 1)[0])[:40].strip(".-")
    return clean_username(base if len(base) >= 3 else f"{identity.provider}.trader")


@dataclass(frozen=True)
class LinkedIdentities:
    """Which identities a user has linked (the provider's subject, or None) and whether they have a password."""

    google: str | None
    discord: str | None
    has_password: bool

    def subject(self, provider: str) -> str | None:
        return self.google if provider == GOOGLE else self.discord if provider == DISCORD else None

    def unlink_refusal(self, provider: str) -> str | None:
        """Why unlinking ``provider`` is refused (it is the last way to log in), or None when it may go."""
        others = [p for p in PROVIDERS if p != provider and self.subject(p)]
        if self.subject(provider) and not self.has_password and not others:
            return (
                f"{LABELS[provider]} is your only way to log in: set a password first (or link another "
                "account), then unlink it."
            )
        return None


class IdentityAccounts:
    """Identities of one database's users (the login dialog and Settings reach it through core.services)."""

    def __init__(self, session_factory: sessionmaker[Session], *, clock: Callable[[], datetime] = utc_now) -> None:
        self._sessions = session_factory
        self._now = clock

    def log_in(self, identity: VerifiedIdentity, remember: bool = False) -> LoginResult | None:
        """A login session for the user this identity is linked to; None when it is linked to nobody."""
        with self._sessions() as session:
            user = session.scalar(select(User).where(_COLUMNS[identity.provider] == identity.subject))
            if user is None:
                return None
            if not user.is_active:
                raise AccountDisabled("This account has been disabled by the club admin.")
            result = open_login_session(session, user, self._now(), remember)
            session.commit()
            return result

    def propose_username(self, identity: VerifiedIdentity) -> str:
        """A free username made from the provider's name (or the email's local part), checked like any username."""
        base = username_from(identity)
        with self._sessions() as session:
            for n in range(0, 1000):
                candidate = clean_username(base if n == 0 else f"{base}{n + 1}")
                taken = session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower()))
                if taken is None:
                    return candidate
        return clean_username(f"{base[:30]}{uuid.uuid4().hex[:8]}")

    def sign_up(self, identity: VerifiedIdentity, username: str, remember: bool = False) -> LoginResult:
        """A new account from the identity (the first of a database administers it, as with a password sign-up),
        logged in at once. It needs the provider's verified email (users.email is every account's contact) and has
        no password until the trader sets one."""
        if not identity.email or not identity.email_verified:
            raise InvalidInput(
                f"Your {LABELS[identity.provider]} account has no verified email address, which a StratForge "
                "account needs. Verify it there, or sign up with a password."
            )
        email = clean_email(identity.email)
        username = clean_username(username)
        with self._sessions() as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SIGNUP_LOCK_KEY})
            _raise_if_linked(session, identity, None)
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise DuplicateAccount(
                    f"An account with the email {email} already exists: log in with its password, then link "
                    f"{LABELS[identity.provider]} in Settings → Sign-in."
                )
            try:
                user = add_account(session, email=email, username=username, password_hash=NO_PASSWORD)
                _set_identity(user, identity.provider, identity.subject)
                user.auth_provider = identity.provider
                user.avatar_url = identity.avatar_url
                if identity.name:
                    user.display_name = identity.name
                session.flush()
                result = open_login_session(session, user, self._now(), remember)
                session.commit()
            except IntegrityError:
                session.rollback()
                raise DuplicateAccount("That email, username or identity is already registered.") from None
            return result

    def linked(self, user_id: uuid.UUID) -> LinkedIdentities:
        with self._sessions() as session:
            return _linked(_user(session, user_id, lock=False))

    def link(self, user_id: uuid.UUID, identity: VerifiedIdentity) -> LinkedIdentities:
        """Link the identity to the user; IdentityTaken when another user has it (the unique column decides even
        when two links race)."""
        with self._sessions() as session:
            user = _user(session, user_id, lock=True)
            _raise_if_linked(session, identity, user.id)
            current = _linked(user).subject(identity.provider)
            if current is not None and current != identity.subject:
                raise IdentityTaken(
                    f"Another {LABELS[identity.provider]} account is linked to yours already: unlink it first."
                )
            _set_identity(user, identity.provider, identity.subject)
            if not user.avatar_url and identity.avatar_url:
                user.avatar_url = identity.avatar_url
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise IdentityTaken(_taken(identity.provider)) from None
            return _linked(user)

    def unlink(self, user_id: uuid.UUID, provider: str) -> LinkedIdentities:
        """Unlink the provider's identity; LastWayToLogIn when it is the only way left to log in."""
        if provider not in PROVIDERS:
            raise InvalidInput(f"Unknown sign-in provider {provider!r}.")
        with self._sessions() as session:
            user = _user(session, user_id, lock=True)
            before = _linked(user)
            if before.subject(provider) is None:
                return before
            refusal = before.unlink_refusal(provider)
            if refusal is not None:
                raise LastWayToLogIn(refusal)
            _set_identity(user, provider, None)
            if user.auth_provider == provider:
                remaining = [p for p in PROVIDERS if p != provider and before.subject(p)]
                user.auth_provider = "local" if before.has_password or not remaining else remaining[0]
            session.commit()
            return _linked(user)

    def set_password(self, user_id: uuid.UUID, new_password: str) -> None:
        """Give an account created from an identity its first password (a password change needs the current
        one, which such an account does not have)."""
        with self._sessions() as session:
            user = _user(session, user_id, lock=True)
            if has_password(user.password_hash):
                raise InvalidInput("This account has a password already: change it with the current one.")
            passwords.check_strength(new_password, username=user.username, email=user.email)
        password_hash = passwords.hash_password(new_password)  # outside the transaction: a slow hash holds no lock
        with self._sessions() as session:
            user = _user(session, user_id, lock=True)
            if has_password(user.password_hash):
                raise InvalidInput("This account has a password already: change it with the current one.")
            user.password_hash = password_hash
            if user.auth_provider != "local" and not (user.google_id or user.discord_id):
                user.auth_provider = "local"
            session.commit()


def _user(session: Session, user_id: uuid.UUID, *, lock: bool) -> User:
    query = select(User).where(User.id == user_id)
    user = session.scalar(query.with_for_update() if lock else query)
    if user is None:
        raise UnknownUser("That account no longer exists.")
    return user


def _linked(user: User) -> LinkedIdentities:
    return LinkedIdentities(user.google_id, user.discord_id, has_password(user.password_hash))


def _set_identity(user: User, provider: str, subject: str | None) -> None:
    if provider == GOOGLE:
        user.google_id = subject
    else:
        user.discord_id = subject


def _raise_if_linked(session: Session, identity: VerifiedIdentity, except_user: uuid.UUID | None) -> None:
    owner = session.scalar(select(User.id).where(_COLUMNS[identity.provider] == identity.subject))
    if owner is not None and owner != except_user:
        raise IdentityTaken(_taken(identity.provider))


def _taken(provider: str) -> str:
    return (
        f"This {LABELS[provider]} account is already linked to another StratForge user; one {LABELS[provider]} "
        "account can sign in to one user only."
    )
