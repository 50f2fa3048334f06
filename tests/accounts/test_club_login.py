"""Club sign-up requests and log-ins as the member's own PostgreSQL role, against a server that checks passwords
(tests/accounts/conftest_scram.py), through raw connections where the test checks what the database holds."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from keyring.backends.fail import Keyring as NoKeyring
from psycopg import sql

from core.accounts import club_login
from core.accounts.club_login import ClubLogin, is_club_url, log_in, request_sign_up
from core.accounts.errors import (
    LOGIN_REFUSED,
    AccountDisabled,
    ClubMisconfigured,
    ClubUnreachable,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    SignUpsClosed,
    WeakPassword,
)
from core.accounts.token_store import KeyringClubLoginStore, TokenStoreUnavailable
from core.config import Settings
from core.db.club_roles import group_role, trader_role
from core.db.database import open_database
from core.db.engine import mask_url
from tests.accounts.conftest_scram import ScramClub
from tests.keyrings import MemoryKeyring, use_keyring
from tests.pg import libpq_url

PASSWORD = "Tr4ding-Pass-2026"


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


def as_trader(login: ClubLogin) -> psycopg.Connection:
    return psycopg.connect(libpq_url(login.url), autocommit=True, connect_timeout=10)


# --- log-in -------------------------------------------------------------------------------------------------


def test_the_right_password_logs_in_as_the_members_role_which_sees_only_its_own_users_row(
    scram_club: ScramClub,
) -> None:
    name, other = unique("ann"), unique("ben")
    ann = scram_club.add_member(name, PASSWORD)
    scram_club.add_member(other, "Other-Pass-2026")

    login = log_in(scram_club.applicant_url, name.upper(), PASSWORD)  # usernames are case-insensitive

    assert login.user == ann
    assert login.role == trader_role(scram_club.database, name)
    assert PASSWORD not in repr(login)
    with as_trader(login) as conn:
        assert conn.execute("SELECT session_user").fetchone() == (login.role,)
        assert conn.execute("SELECT id FROM users").fetchall() == [(ann.id,)]
        assert conn.execute("SELECT last_login_at IS NOT NULL FROM users").fetchone() == (True,)


@pytest.mark.parametrize(
    ("who", "password"),
    [
        ("member", PASSWORD + "x"),  # a member, a wrong password
        ("member", "x" * 1024),
        ("stranger", PASSWORD),  # no such role: PostgreSQL's SCRAM answers as for a wrong password
        ("nonsense", PASSWORD),  # a name no member can have
    ],
)
def test_wrong_passwords_and_unknown_users_get_the_one_same_message(
    scram_club: ScramClub, who: str, password: str
) -> None:
    name = unique("cid")
    scram_club.add_member(name, PASSWORD)
    login = {"member": name, "stranger": unique("nobody"), "nonsense": "no such/name!"}[who]
    with pytest.raises(InvalidCredentials) as refused:
        log_in(scram_club.applicant_url, login, password)
    assert type(refused.value) is InvalidCredentials
    assert str(refused.value) == LOGIN_REFUSED


def test_a_disabled_member_is_told_so_and_an_enabled_one_gets_back_in(scram_club: ScramClub) -> None:
    name = unique("dee")
    dee = scram_club.add_member(name, PASSWORD)
    scram_club.set_active(dee, False)  # ALTER ROLE ... NOLOGIN
    with pytest.raises(AccountDisabled):
        log_in(scram_club.applicant_url, name, PASSWORD)
    scram_club.set_active(dee, True)
    assert log_in(scram_club.applicant_url, name, PASSWORD).user.id == dee.id


@pytest.mark.parametrize(
    ("login", "password", "message"),
    [
        ("dee@example.com", PASSWORD, "log in with your username"),
        ("al\x00ice", PASSWORD, "control character"),
        ("alice", "pass\x00word-2026", "control character"),
        ("alice", "a1" * 513, "longer than 1,024"),
        ("a" * 256, PASSWORD, "longer than 255"),
        ("", PASSWORD, "Enter your"),
    ],
)
def test_what_cannot_be_a_members_name_or_password_is_invalid_input_before_any_connection(
    monkeypatch: pytest.MonkeyPatch, login: str, password: str, message: str
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError("connected")

    monkeypatch.setattr(club_login.psycopg, "connect", no_connection)
    with pytest.raises(InvalidInput, match=message):
        log_in("postgresql://sf000000_applicant@127.0.0.1:1/club", login, password)


def test_a_password_with_url_syntax_and_accents_logs_in_and_its_url_opens_the_database(
    scram_club: ScramClub, tmp_path: Path
) -> None:
    name, password = unique("eve"), "p@ss:w/rd%?#&=é-2026"
    eve = scram_club.add_member(name, password)
    login = log_in(scram_club.applicant_url, name, password)
    database = open_database(Settings(data_dir=tmp_path, database_url=login.url))
    try:
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM users").all() == [(eve.id,)]
        assert password not in database.display_url
    finally:
        database.close()


def test_a_server_that_does_not_check_passwords_is_refused(scram_club: ScramClub) -> None:
    """A pg_hba.conf that trusts a member's role lets it in with any password: the app refuses to go on."""
    role = trader_role(scram_club.database, "tina")
    with scram_club.server.connect(scram_club.database) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with (
            scram_club.server.trusting(scram_club.database, role),
            pytest.raises(ClubMisconfigured, match="without checking its password"),
        ):
            log_in(scram_club.applicant_url, "tina", "any-password-at-all-1")
        with pytest.raises(InvalidCredentials):  # trusted no more: the same login is refused again
            log_in(scram_club.applicant_url, "tina", "any-password-at-all-1")
    finally:
        with scram_club.server.connect(scram_club.database) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_an_unreachable_club_says_so_without_the_password(closed_port: int) -> None:
    club = f"postgresql://sf000000_applicant:club-secret@127.0.0.1:{closed_port}/club"
    with pytest.raises(ClubUnreachable, match="Cannot reach the club's database") as unreachable:
        log_in(club, "alice", PASSWORD)
    assert PASSWORD not in str(unreachable.value) and "club-secret" not in str(unreachable.value)
    with pytest.raises(ClubUnreachable, match="Cannot reach"):
        request_sign_up(club, "Alice", "alice@example.com", "alice", PASSWORD)


# --- sign-up requests -----------------------------------------------------------------------------------------


def waitlist_rows(club: ScramClub, email: str) -> list[tuple[str, str, str, str, str]]:
    with club.server.connect(club.database) as conn:
        return conn.execute(
            "SELECT w::text, name, username, status, password_verifier FROM waitlist w WHERE email = %s", (email,)
        ).fetchall()


def test_a_sign_up_request_waits_with_the_passwords_verifier_never_the_password(scram_club: ScramClub) -> None:
    name = unique("fay")
    email = f"{name}@example.com"
    request_sign_up(scram_club.applicant_url, "Fay Fern", email.upper(), name, PASSWORD)
    ((row, shown_name, username, status, verifier),) = waitlist_rows(scram_club, email)
    assert (shown_name, username, status) == ("Fay Fern", name, "waiting")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert PASSWORD not in row
    with pytest.raises(DuplicateAccount, match="already registered or waiting"):
        request_sign_up(scram_club.applicant_url, "Fay again", email, unique("fay"), PASSWORD)
    with pytest.raises(DuplicateAccount):
        request_sign_up(scram_club.applicant_url, "", f"other-{email}", name.upper(), PASSWORD)


def test_the_requests_verifier_is_the_password_the_member_then_logs_in_with(scram_club: ScramClub) -> None:
    """Approval, as the admin's function does it with the request's own verifier: the password typed at sign-up
    is the one PostgreSQL then accepts, though it never reached the server."""
    name = unique("gus")
    request_sign_up(scram_club.applicant_url, "Gus", f"{name}@example.com", name, PASSWORD)
    ((_, _, _, _, verifier),) = waitlist_rows(scram_club, f"{name}@example.com")
    with scram_club.server.connect(scram_club.database) as conn:
        user_id = conn.execute(
            "INSERT INTO users (email, username, password_hash) VALUES (%s, %s, '!club') RETURNING id",
            (f"{name}@example.com", name),
        ).fetchone()[0]
        conn.execute("SELECT sf_admin_grant_login(%s, %s)", (user_id, verifier))
    assert log_in(scram_club.applicant_url, name, PASSWORD).user.id == user_id
    with pytest.raises(InvalidCredentials):
        log_in(scram_club.applicant_url, name, PASSWORD + "x")


def test_an_existing_members_name_cannot_be_requested(scram_club: ScramClub) -> None:
    name = unique("hal")
    scram_club.add_member(name, PASSWORD)
    with pytest.raises(DuplicateAccount):
        request_sign_up(scram_club.applicant_url, "Hal", f"new-{name}@example.com", name, PASSWORD)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not-an-email"}, InvalidInput),
        ({"email": "ivy\x00@example.com"}, InvalidInput),
        ({"username": "iv"}, InvalidInput),
        ({"username": "ivy\x00"}, InvalidInput),
        ({"name": "Ivy\x00"}, InvalidInput),
        ({"name": "I" * 256}, InvalidInput),
        ({"password": "short1"}, WeakPassword),
        ({"password": "ivy-secret-2026"}, WeakPassword),  # holds the username
        ({"password": "Tr4ding\x00Pass-2026"}, InvalidInput),
    ],
)
def test_a_malformed_request_is_refused_here_and_nothing_is_filed(
    scram_club: ScramClub, fields: dict[str, str], error: type[Exception]
) -> None:
    request = {"name": "Ivy", "email": "ivy@example.com", "username": "ivy", "password": PASSWORD, **fields}
    with pytest.raises(error):
        request_sign_up(scram_club.applicant_url, **request)
    assert waitlist_rows(scram_club, "ivy@example.com") == []


def test_when_the_club_has_as_many_waiting_requests_as_it_takes_the_applicant_is_told_so(
    scram_club: ScramClub,
) -> None:
    marker = unique("crowd")
    with scram_club.server.connect(scram_club.database) as conn:
        waiting = conn.execute("SELECT count(*) FROM waitlist WHERE status = 'waiting'").fetchone()[0]
        conn.execute(
            "INSERT INTO waitlist (name, email, username, status) "
            "SELECT %s, %s || i || '@example.com', 'c' || i, 'waiting' FROM generate_series(1, %s) i",
            (marker, marker, max(0, 500 - waiting)),
        )
    try:
        with pytest.raises(SignUpsClosed, match="too many sign-up requests"):
            request_sign_up(scram_club.applicant_url, "Late", "late@example.com", "late-comer", PASSWORD)
    finally:
        with scram_club.server.connect(scram_club.database) as conn:
            conn.execute("DELETE FROM waitlist WHERE name = %s", (marker,))
    assert waitlist_rows(scram_club, "late@example.com") == []


def test_a_wrong_applicant_password_is_the_clubs_address_being_out_of_date(scram_club: ScramClub) -> None:
    stale = scram_club.server.url(scram_club.database, group_role(scram_club.database, "applicant"), "old-secret")
    with pytest.raises(ClubUnreachable, match="refused its sign-up login"):
        request_sign_up(stale, "Jo", "jo@example.com", "jo-jo", PASSWORD)


# --- which URLs are clubs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "club"),
    [
        (f"postgresql://{group_role('club', 'applicant')}:pw@host:5432/club", True),
        (f"postgresql+psycopg://{group_role('club', 'applicant')}@host/club?sslmode=require", True),
        (f"postgres://{group_role('club', 'applicant')}@host/club", True),
        (f"postgresql://{group_role('other', 'applicant')}@host/club", False),  # another database's applicant
        (f"postgresql://{group_role('club', 'club')}@host/club", False),  # the club service's role
        ("postgresql://postgres@127.0.0.1:5432/postgres", False),
        ("postgresql://host/club", False),
        (None, False),
        ("", False),
        ("not a url", False),
    ],
)
def test_a_club_with_roles_is_recognised_by_its_applicant_in_the_url(url: str | None, club: bool) -> None:
    assert is_club_url(url) is club


# --- remember me ------------------------------------------------------------------------------------------------


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with use_keyring(MemoryKeyring()) as backend:
        yield backend


def test_remember_me_keeps_the_password_in_the_keyring_per_database_and_forgets_it(
    memory_keyring: MemoryKeyring,
) -> None:
    club_a = mask_url("postgresql://sfaaaaaa_applicant:pw@host/a")
    store, elsewhere = KeyringClubLoginStore(club_a), KeyringClubLoginStore("postgresql://host/b")
    assert store.available() and store.load() is None
    store.save("kim", PASSWORD)
    assert store.load() == ("kim", PASSWORD)
    assert elsewhere.load() is None
    assert all("kim" not in key and "pw" not in key for _, key in memory_keyring.items)  # entry names are digests
    store.save("lou", "Other-Pass-2026")  # one member remembered per database: kim's password is gone
    assert store.load() == ("lou", "Other-Pass-2026")
    assert PASSWORD not in memory_keyring.items.values()
    store.clear()
    assert store.load() is None and memory_keyring.items == {}
    store.clear()  # twice is harmless


def test_without_a_keyring_nothing_is_remembered() -> None:
    with use_keyring(NoKeyring()):
        store = KeyringClubLoginStore("postgresql://host/a")
        assert not store.available() and store.load() is None
        with pytest.raises(TokenStoreUnavailable):
            store.save("kim", PASSWORD)
        store.clear()
