"""The rows one new account consists of: the user, its profile and its risk settings.

Sign-up, the club admin's approval of a sign-up request and ``stratforge-admin users add`` all create an account;
they differ in where the password lives and who may call them, not in what an account starts with. Writing the
rows here, once, keeps the three from drifting apart (a club member approved by the admin starts with exactly
what a solo sign-up starts with).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.accounts import defaults
from core.accounts.errors import DuplicateAccount
from core.db.models import RiskSettings, User, UserProfile


def insert_user_rows(
    session: Session,
    *,
    email: str,
    username: str,
    password_hash: str,
    role: str,
    balance: Decimal,
) -> User:
    """Add the user, its default profile and risk settings to ``session`` and flush; the caller commits.

    The inputs are taken as already checked (email lower-cased, username valid, role one of ``USER_ROLES``): the
    callers validate them with their own messages. A duplicate email or username surfaces as the flush's
    ``IntegrityError``, which the caller turns into its own error after rolling back.
    """
    user = User(
        email=email,
        username=username,
        password_hash=password_hash,
        role=role,
        virtual_balance=balance,
        starting_balance=balance,
    )
    session.add(user)
    session.flush()
    session.add(
        UserProfile(
            user_id=user.id,
            profile=defaults.default_profile(balance),
            risk_profile=defaults.default_risk_profile(),
            site_prefs=defaults.default_site_prefs(),
        )
    )
    session.add(RiskSettings(user_id=user.id, **defaults.default_risk_settings(balance)))
    session.flush()
    return user


def raise_if_taken(session: Session, email: str, username: str) -> None:
    """DuplicateAccount when a user has this email or (in any case) this username."""
    taken = session.execute(
        select(User.email, User.username).where(or_(User.email == email, func.lower(User.username) == username.lower()))
    ).first()
    if taken is None:
        return
    if taken.email == email:
        raise DuplicateAccount(f"An account with the email {email} already exists.")
    raise DuplicateAccount(f"The username {username!r} is already taken.")


def add_account(session: Session, *, email: str, username: str, password_hash: str) -> User:
    """A new trader's rows, after DuplicateAccount checks; the first account of a database is its admin.

    The caller holds the sign-up lock (``SIGNUP_LOCK_KEY``) so that two first sign-ups cannot both become admin and
    the duplicate checks are not raced; a password sign-up and a sign-in identity's new account share this rule."""
    raise_if_taken(session, email, username)
    is_first = session.scalar(select(func.count()).select_from(User)) == 0
    return insert_user_rows(
        session,
        email=email,
        username=username,
        password_hash=password_hash,
        role="admin" if is_first else "trader",
        balance=defaults.DEFAULT_STARTING_BALANCE,
    )
