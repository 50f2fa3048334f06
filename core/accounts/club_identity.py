"""A club sign-up request filed by signing in with Google or Discord (migration 0015).

In a club every member logs in as their own PostgreSQL role, and the admin approves every newcomer; an identity
changes neither. So "Sign in with Google" on a club's login dialog files a join request like the password sign-up
(core.accounts.club_login.request_sign_up: the same field checks, the SCRAM verifier of the password the member's
database role will have), carrying the verified provider and subject id and the provider's verified email, through
``sf_request_identity_signup``. The admin sees who is asking; approving the request links the identity to the new
member. Logging in to a club by the identity alone is not possible: PostgreSQL needs the role's password.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from core.accounts import passwords
from core.accounts.club_login import (
    _applicant_refused,
    _clean_name,
    _connect_args,
    _libpq,
    _parse,
    _primary,
    _shown,
)
from core.accounts.errors import ClubMisconfigured, DuplicateAccount, InvalidInput, SignUpsClosed
from core.accounts.oauth.identity import VerifiedIdentity
from core.accounts.oauth.providers import LABELS
from core.accounts.service import clean_email, clean_username
from core.db.club_roles import scram_verifier, trader_role


def request_sign_up_with_identity(
    applicant_url: str, name: str, username: str, password: str, identity: VerifiedIdentity
) -> None:
    """File the join request for ``identity`` (already verified by core.accounts.oauth). The email is the
    provider's verified one; ``password`` is the member's database password (needed for every club log-in)."""
    label = LABELS[identity.provider]
    if not identity.email or not identity.email_verified:
        raise InvalidInput(
            f"Your {label} account has no verified email address, which the club admin needs to know who you are."
        )
    name = _clean_name(name or identity.name or "")
    email = clean_email(identity.email)
    username = clean_username(username)
    passwords.check_strength(password, username=username, email=email)
    club = _parse(applicant_url)
    try:
        conn = psycopg.connect(_libpq(club), **_connect_args())
    except psycopg.Error as exc:
        raise _applicant_refused(club, exc) from None
    with conn:
        verifier = scram_verifier(conn, password, trader_role(conn.info.dbname, username))
        try:
            conn.execute(
                "SELECT sf_request_identity_signup(%s, %s, %s, %s, %s, %s)",
                (name, email, username, verifier, identity.provider, identity.subject),
            )
        except pg_errors.InvalidParameterValue as exc:
            raise InvalidInput(_primary(exc)) from None
        except pg_errors.UniqueViolation as exc:
            raise DuplicateAccount(_primary(exc)) from None
        except pg_errors.ProgramLimitExceeded as exc:
            raise SignUpsClosed(_primary(exc)) from None
        except (pg_errors.UndefinedFunction, pg_errors.InsufficientPrivilege):
            raise ClubMisconfigured(
                f"The club's database {_shown(club)} does not take {label} sign-up requests yet (its schema is "
                "older than this app). Sign up with a password, or ask the club admin to upgrade the database."
            ) from None
