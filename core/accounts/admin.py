"""The club admin's work on members: approve or reject sign-up requests, disable and enable members, reset a
virtual balance, add a user, prune the audit trail.

One implementation for the command line (``stratforge-admin users ...``) and the app's Admin panel, and for both
kinds of database:

- a club's shared database, reached as the admin's own login role (a member of ``<prefix>_admin``): row-level
  security lets that role read the members and the sign-up requests, insert new accounts, and nothing else;
  everything that touches a PostgreSQL role or money goes through the ``sf_admin_*`` functions of migration 0012,
  which check the caller is the admin and do the privileged part themselves;
- a solo (embedded) or plain database, reached as its owner: row-level security does not apply to the owner and
  the same functions exist (the migration runs everywhere), so the same calls work. Creating a login role there
  is harmless; it is simply never used.

Where the password lives differs with how the account was made:

- approved from a sign-up request: the applicant's app sent only PostgreSQL's SCRAM verifier of the password, so
  the password exists nowhere but in PostgreSQL's role (the trader logs in as that role). ``users.password_hash``
  gets the marker ``CLUB_ROLE_PASSWORD``, which no argon2 check ever accepts;
- added by the admin (``add``): the admin typed the password, so both are written: an argon2 hash (for
  ``AccountService.log_in`` on a solo or plain database) and the role's SCRAM verifier (for a club).

Every method is one transaction: an approval whose role could not be created leaves the request waiting and no
account behind. Errors are ``AdminError`` subclasses whose text is shown to the admin as is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.accounts import defaults, passwords
from core.accounts.errors import AccountError, DuplicateAccount, InvalidInput
from core.accounts.new_user import insert_user_rows, raise_if_taken
from core.accounts.service import clean_email, clean_username  # sign-up's own rules: both refuse the same input
from core.db.club_roles import scram_verifier, trader_role
from core.db.models import User, WaitlistEntry
from core.db.models.accounts import USER_ROLES
from core.domain.clock import utc_now

# users.password_hash of a member approved from a sign-up request: the password is PostgreSQL's (the role's SCRAM
# verifier), not ours. Not an argon2 string, so passwords.verify_password never accepts it.
CLUB_ROLE_PASSWORD = "!club-role"
# sf_admin_purge_audit refuses anything newer (the last hour is what an investigation starts from).
AUDIT_KEEP = timedelta(hours=1)
# sf_admin_reset_balance's own bound (users.virtual_balance is NUMERIC(20, 6)).
MAX_BALANCE = Decimal("1000000000000")

UserRef = str | uuid.UUID  # a username (any case) or a user id


class AdminError(AccountError):
    """The admin's request cannot be carried out; the text says why."""


class UnknownMember(AdminError):
    """No user has that username or id."""


class UnknownRequest(AdminError):
    """No sign-up request has that id."""


class RequestDecided(AdminError):
    """The sign-up request was already approved or rejected."""


class BalanceResetRefused(AdminError):
    """The member still has open orders or positions: a reset would strand their reservations or shares."""


class NotClubAdmin(AdminError):
    """The database login is not the club admin's role (PostgreSQL refused the privileged function)."""


@dataclass(frozen=True)
class Member:
    """A user as the admin sees them (never the password hash)."""

    id: uuid.UUID
    username: str
    email: str
    role: str
    active: bool
    virtual_balance: Decimal
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class SignUpRequest:
    """A row of the waitlist: someone asking to join (the verifier stays in the database)."""

    id: uuid.UUID
    name: str
    email: str
    username: str | None
    status: str
    created_at: datetime
    # A sign-in identity the request came with (migration 0015): "google" / "discord" and the provider's user id.
    # The database cannot re-check it (no network in PL/pgSQL): the admin's approval is the check.
    auth_provider: str | None = None
    provider_subject: str | None = None


def _member(user: User) -> Member:
    return Member(user.id, user.username, user.email, user.role, user.is_active, user.virtual_balance,
                  user.created_at, user.last_login_at)  # fmt: skip


def _request(entry: WaitlistEntry) -> SignUpRequest:
    return SignUpRequest(
        entry.id, entry.name, entry.email, entry.username, entry.status, entry.created_at,
        entry.auth_provider, entry.provider_subject,
    )  # fmt: skip


def parse_user_ref(ref: str) -> UserRef:
    """A user id when ``ref`` reads as a UUID, else a username."""
    try:
        return uuid.UUID(ref)
    except ValueError:
        return ref


class ClubAdmin:
    """The admin's operations on one database; each call is one short transaction (callers use worker threads)."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    # --- reading ---
    def list_users(self) -> list[Member]:
        """Every user, oldest first (the first is the solo database's admin)."""
        with self._transaction() as session:
            users = session.scalars(select(User).order_by(User.created_at, User.username)).all()
            return [_member(u) for u in users]

    def list_requests(self, *, include_decided: bool = False) -> list[SignUpRequest]:
        """The sign-up requests waiting for a decision, oldest first; ``include_decided`` adds the others."""
        with self._transaction() as session:
            query = select(WaitlistEntry).order_by(WaitlistEntry.created_at, WaitlistEntry.email)
            if not include_decided:
                query = query.where(WaitlistEntry.status == "waiting")
            return [_request(e) for e in session.scalars(query).all()]

    # --- sign-up requests ---
    def approve(self, request_id: uuid.UUID) -> Member:
        """Create the requested account (a trader with the default balance) and its login role with the verifier
        the applicant's app sent, and mark the request approved, all in one transaction."""
        with self._transaction() as session:
            entry = self._waiting_request(session, request_id)
            if not entry.username or not entry.password_verifier:
                raise AdminError(
                    f"The request of {entry.email} has no username or password (it was not sent from the app): "
                    "reject it and ask them to sign up from the app, or add them with 'users add'."
                )
            raise_if_taken(session, entry.email.lower(), entry.username)
            user = insert_user_rows(
                session,
                email=entry.email.lower(),
                username=entry.username,
                password_hash=CLUB_ROLE_PASSWORD,
                role="trader",
                balance=defaults.DEFAULT_STARTING_BALANCE,
            )
            _grant_login(session, user.id, entry.password_verifier)
            _decide(session, entry, "approved", user.id)
            session.commit()
            return _member(user)

    def reject(self, request_id: uuid.UUID) -> SignUpRequest:
        """Refuse the request (kept, marked rejected, so the same person is not asked about twice)."""
        with self._transaction() as session:
            entry = self._waiting_request(session, request_id)
            _decide(session, entry, "rejected", None)
            session.commit()
            return _request(entry)

    # --- members ---
    def disable(self, ref: UserRef) -> Member:
        """Refuse the member's logins from now on and end their open database connections."""
        return self._set_active(ref, False)

    def enable(self, ref: UserRef) -> Member:
        return self._set_active(ref, True)

    def set_role(self, ref: UserRef, role: str) -> Member:
        """Make the member a trader, an investor or an admin; their login role joins or leaves the admin group
        with it (sf_admin_set_role), so a former admin keeps no admin power."""
        if role not in USER_ROLES:
            raise InvalidInput(f"The role must be one of {', '.join(USER_ROLES)}.")
        with self._transaction() as session:
            user = self._user(session, ref)
            if role != "admin" and user.role == "admin" and user.is_active:
                self._keep_an_admin(session, user)
            session.execute(text("SELECT sf_admin_set_role(:user, :role)"), {"user": user.id, "role": role})
            session.commit()
            session.refresh(user)
            return _member(user)

    def reset_balance(self, ref: UserRef, amount: Decimal) -> Member:
        """Start the member's virtual account over at ``amount`` (cash and starting balance; P&L, fees and
        reservations back to zero). Refused while they have open orders or positions."""
        amount = _balance(amount)
        with self._transaction() as session:
            user = self._user(session, ref)
            session.execute(text("SELECT sf_admin_reset_balance(:user, :amount)"), {"user": user.id, "amount": amount})
            session.commit()
            session.refresh(user)
            return _member(user)

    def add(self, email: str, username: str, password: str, role: str = "trader") -> Member:
        """Create an account the admin vouches for (no request): it can log in at once, through the app on a
        solo or plain database (argon2 hash) and as its own PostgreSQL role in a club (SCRAM verifier)."""
        email, username = clean_email(email), clean_username(username)
        if role not in USER_ROLES:
            raise InvalidInput(f"The role must be one of {', '.join(USER_ROLES)}.")
        if "\x00" in password:
            raise InvalidInput("The password must not contain a NUL character.")
        passwords.check_strength(password, username=username, email=email)
        password_hash = passwords.hash_password(password)  # before the transaction: a slow hash holds no lock
        with self._transaction() as session:
            raise_if_taken(session, email, username)
            user = insert_user_rows(session, email=email, username=username, password_hash=password_hash,
                                    role=role, balance=defaults.DEFAULT_STARTING_BALANCE)  # fmt: skip
            database = session.scalar(text("SELECT current_database()"))
            verifier = scram_verifier(_driver_connection(session), password, trader_role(str(database), username))
            _grant_login(session, user.id, verifier)
            session.commit()
            return _member(user)

    def purge_audit(self, before: datetime) -> int:
        """Delete the trade, system and API usage log rows created before ``before``; how many went.

        ``before`` must be at least an hour ago (the database refuses anything newer)."""
        if before.tzinfo is None:
            raise InvalidInput("Give the purge date with a time zone (or as a UTC date).")
        if before > utc_now() - AUDIT_KEEP:
            raise InvalidInput("The audit trail of the last hour is kept: choose a date at least an hour ago.")
        with self._transaction() as session:
            deleted = session.scalar(text("SELECT sf_admin_purge_audit(:before)"), {"before": before})
            session.commit()
            return int(deleted or 0)

    # --- helpers ---
    def _set_active(self, ref: UserRef, active: bool) -> Member:
        with self._transaction() as session:
            user = self._user(session, ref)
            if not active and user.role == "admin" and user.is_active:
                self._keep_an_admin(session, user)
            session.execute(text("SELECT sf_admin_set_active(:user, :active)"), {"user": user.id, "active": active})
            session.commit()
            session.refresh(user)
            return _member(user)

    @staticmethod
    def _keep_an_admin(session: Session, user: User) -> None:
        admins = session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.is_active.is_(True))
        )
        if (admins or 0) <= 1:
            raise AdminError(f"{user.username} is the only active admin: nobody could manage the club.")

    @staticmethod
    def _user(session: Session, ref: UserRef) -> User:
        if isinstance(ref, uuid.UUID):
            user = session.get(User, ref)
        elif "\x00" in ref or not ref.strip():
            user = None
        else:
            user = session.scalar(select(User).where(func.lower(User.username) == ref.strip().lower()))
        if user is None:
            raise UnknownMember(f"No user {str(ref)!r}: give a username or a user id ('users list' shows both).")
        return user

    @staticmethod
    def _waiting_request(session: Session, request_id: uuid.UUID) -> WaitlistEntry:
        entry = session.scalar(select(WaitlistEntry).where(WaitlistEntry.id == request_id).with_for_update())
        if entry is None:
            raise UnknownRequest(f"No sign-up request {request_id} ('users requests' lists them).")
        if entry.status != "waiting":
            raise RequestDecided(f"The request of {entry.email} was already {entry.status}.")
        return entry

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A session whose PostgreSQL refusals become the admin's errors (the transaction is rolled back)."""
        with self._sessions() as session:
            try:
                yield session
            except IntegrityError as exc:
                session.rollback()
                raise _duplicate(exc) from None
            except DBAPIError as exc:
                session.rollback()
                raise _admin_error(exc) from None


def _message(exc: DBAPIError) -> str:
    orig = exc.orig
    return (orig.diag.message_primary or "") if isinstance(orig, psycopg.Error) else ""


def _duplicate(exc: IntegrityError) -> DuplicateAccount:
    """A unique constraint (two admins adding the same name at once), or the grant function's own refusal of a
    login that belongs to another user (its message says which)."""
    orig = exc.orig
    if isinstance(orig, psycopg.Error) and orig.diag.constraint_name is None and _message(exc):
        return DuplicateAccount(_message(exc))
    return DuplicateAccount("That email or username is already registered.")


def _admin_error(exc: DBAPIError) -> Exception:
    """PostgreSQL's refusal as the admin's error (the sf_admin_* functions' messages are written for the admin);
    anything unexpected is re-raised as it is."""
    orig, message = exc.orig, _message(exc)
    if isinstance(orig, psycopg.errors.InsufficientPrivilege):
        return NotClubAdmin(f"This database login may not manage the club's members (it is not the admin's): {message}")
    if isinstance(orig, psycopg.errors.ObjectNotInPrerequisiteState):
        return BalanceResetRefused(message)  # "The member has open orders: they must be canceled before ..."
    if isinstance(orig, psycopg.errors.InvalidParameterValue | psycopg.errors.DuplicateObject):
        return AdminError(message)
    return exc


def _decide(session: Session, entry: WaitlistEntry, status: str, user_id: uuid.UUID | None) -> None:
    """Record the decision on the request. Plain SQL, not the ORM: the ORM would also set ``updated_at``, which a
    club's admin role may not (it may update only the decision's columns); ``decided_at`` says when it was decided."""
    session.execute(
        text("UPDATE waitlist SET status = :status, user_id = :user, decided_at = now() WHERE id = :id"),
        {"status": status, "user": user_id, "id": entry.id},
    )
    session.refresh(entry)


def _grant_login(session: Session, user_id: uuid.UUID, verifier: str) -> str:
    """Create (or re-password) the user's login role through migration 0012's function; the role's name."""
    role = session.scalar(
        text("SELECT sf_admin_grant_login(:user, :verifier)"), {"user": user_id, "verifier": verifier}
    )
    return str(role)


def _driver_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under the session (libpq computes the SCRAM verifier)."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def _balance(amount: Decimal | str) -> Decimal:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"Not an amount: {amount!r}.") from None
    if not value.is_finite() or value <= 0 or value > MAX_BALANCE:
        raise InvalidInput(f"The balance must be above 0 and at most {MAX_BALANCE:,.0f}.")
    if value != value.quantize(Decimal("0.000001")):
        raise InvalidInput("The balance has at most 6 decimals.")
    return value
