"""In a club, signing in with Google or Discord files a join request (migration 0015): it waits for the admin like
any other, shows who is asking, and approving it links the identity to the new member."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from sqlalchemy import select, text

from core.accounts.club_identity import request_sign_up_with_identity
from core.accounts.errors import DuplicateAccount, InvalidInput
from core.accounts.oauth import DISCORD, GOOGLE, VerifiedIdentity
from core.db.club_roles import group_role, role_prefix
from core.db.models import User, WaitlistEntry
from tests.accounts_admin.club import PASSWORD, Club

ANN = VerifiedIdentity(GOOGLE, "110248495921238986420", "ann@example.com", True, "Ann Trader", None)


def applicant(club: Club) -> str:
    return club.url_as(group_role(club.name, "applicant"))


def waiting(db) -> list[WaitlistEntry]:
    with db.session_factory() as s:
        return list(s.scalars(select(WaitlistEntry).where(WaitlistEntry.status == "waiting")))


def test_a_google_sign_in_on_a_club_files_a_waiting_request_carrying_the_identity(club: Club, db) -> None:
    request_sign_up_with_identity(applicant(club), "", "ann", PASSWORD, ANN)
    [entry] = waiting(db)
    assert (entry.name, entry.email, entry.username) == ("Ann Trader", "ann@example.com", "ann")
    assert (entry.auth_provider, entry.provider_subject) == (GOOGLE, ANN.subject)
    assert (entry.password_verifier or "").startswith("SCRAM-SHA-256$")  # the member's database role still needs one
    with db.session_factory() as s:
        assert s.scalar(select(User).where(User.google_id == ANN.subject)) is None  # nobody is a member yet


def test_approving_the_request_links_the_identity_to_the_new_member(club: Club, db) -> None:
    admin = club.make_admin()
    request_sign_up_with_identity(applicant(club), "Ann", "ann", PASSWORD, ANN)
    [request] = admin.list_requests()
    assert (request.auth_provider, request.provider_subject) == (GOOGLE, ANN.subject)  # the admin sees who asks
    member = admin.approve(request.id)
    with db.session_factory() as s:
        assert s.get(User, member.id).google_id == ANN.subject
    with pytest.raises(DuplicateAccount, match="already a member of the club or waiting"):
        request_sign_up_with_identity(applicant(club), "", "ann2", PASSWORD, replace(ANN, email="other@example.com"))


def test_the_same_identity_cannot_wait_twice(club: Club, db) -> None:
    request_sign_up_with_identity(applicant(club), "", "ann", PASSWORD, ANN)
    with pytest.raises(DuplicateAccount):
        request_sign_up_with_identity(applicant(club), "", "ann2", PASSWORD, replace(ANN, email="ann2@example.com"))
    assert len(waiting(db)) == 1


def test_an_identity_without_a_verified_email_files_nothing(club: Club, db) -> None:
    with pytest.raises(InvalidInput, match="no verified email"):
        request_sign_up_with_identity(applicant(club), "", "ann", PASSWORD, replace(ANN, email_verified=False))
    assert waiting(db) == []


@pytest.mark.parametrize(
    ("provider", "subject"), [("github", "1"), (DISCORD, ""), (GOOGLE, "x" * 256), (GOOGLE, "1; DROP")]
)
def test_the_database_refuses_a_malformed_identity_from_the_applicant_role(
    club: Club, db, provider: str, subject: str
) -> None:
    libpq = applicant(club).replace("postgresql+psycopg://", "postgresql://")
    with (
        psycopg.connect(libpq, autocommit=True, connect_timeout=10) as conn,
        pytest.raises(psycopg.errors.InvalidParameterValue),
    ):
        conn.execute(
            "SELECT sf_request_identity_signup(%s, %s, %s, %s, %s, %s)",
            ("x", "x@example.com", "xavier", "SCRAM-SHA-256$4096:x", provider, subject),
        )
    assert waiting(db) == []


def test_only_the_applicant_and_admin_roles_may_file_identity_requests(club: Club, db) -> None:
    with club.db.engine.connect() as conn:
        allowed = set(
            conn.execute(
                text(
                    "SELECT r.rolname FROM pg_roles r WHERE has_function_privilege(r.oid, "
                    "'sf_request_identity_signup(text, text, text, text, text, text)', 'EXECUTE') "
                    "AND r.rolname LIKE :p AND NOT r.rolsuper"
                ),
                {"p": role_prefix(club.name) + "_%"},
            ).scalars()
        )
    assert allowed == {group_role(club.name, "applicant"), group_role(club.name, "admin")}


def test_a_member_cannot_link_an_identity_to_their_own_row(club: Club, db) -> None:
    """Only the admin's approval links an identity in a club: a member's role may not write users.google_id."""
    admin = club.make_admin()
    club.request_signup("bea")
    [request] = admin.list_requests()
    admin.approve(request.id)
    with club.connect_as_member("bea") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE users SET google_id = %s WHERE id = sf_uid()", (ANN.subject,))
