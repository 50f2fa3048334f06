"""Login hygiene (issue 26, item 5) against a real PostgreSQL: one answer for an unknown name and a wrong password,
the sign-up caps at log-in too (refused before any hashing), and a clear InvalidInput for control characters
wherever a name, email, password or token comes in, never a raw psycopg error."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from core.accounts import (
    AccountDisabled,
    AccountError,
    AccountService,
    InvalidCredentials,
    InvalidInput,
    InvalidLoginSession,
    UserInfo,
    WrongPassword,
)
from core.accounts import passwords as passwords_module
from core.accounts.errors import LOGIN_REFUSED
from core.db.database import Database
from core.db.models import LoginSession, User

PASSWORD = "Tr4ding-Pass-2026"
# What a NUL, a line break, DEL, a C1 control, a zero-width space and a lone surrogate (Python's stand-in for an
# undecodable byte of an environment variable) look like inside a name.
BAD_NAME_CHARACTERS = ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85", "\u200b", "\ud800"]
BAD_PASSWORD_CHARACTERS = ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x9f", "\udcff"]


class Calls:
    """Counts the calls of one function of the passwords module while passing them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.count = 0
        real: Callable[..., Any] = getattr(passwords_module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(passwords_module, name, counted)


@pytest.fixture
def alice(accounts: AccountService) -> UserInfo:
    return accounts.sign_up("alice@example.com", "alice", PASSWORD)


def users(db: Database) -> int:
    with db.session_factory() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


# --- one answer for an unknown name and a wrong password --------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("alice", PASSWORD + "x"),  # the right name, a wrong password
        ("ALICE@example.com", "not-the-Password-1"),
        ("nobody", PASSWORD),  # a name nobody has, with a password somebody has
        ("nobody@example.com", PASSWORD + "x"),
        ("a" * 255, PASSWORD),  # the longest login name there can be
        ("alice", "x" * passwords_module.MAX_LENGTH),  # the longest password there can be
        ("alice", "1"),  # shorter than sign-up allows: still only "wrong"
    ],
)
def test_unknown_users_and_wrong_passwords_get_one_and_the_same_answer(
    accounts: AccountService, alice: UserInfo, login: str, password: str
) -> None:
    with pytest.raises(InvalidCredentials) as refused:
        accounts.log_in(login, password)
    assert type(refused.value) is InvalidCredentials  # not a subclass that would tell the two apart
    assert str(refused.value) == LOGIN_REFUSED == "Wrong password or unknown user."


@pytest.mark.parametrize("login", ["alice", "nobody"])
def test_an_unknown_name_costs_the_same_one_password_verify_as_a_wrong_password(
    accounts: AccountService, alice: UserInfo, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    verifies = Calls(monkeypatch, "verify_password")
    with pytest.raises(InvalidCredentials):
        accounts.log_in(login, PASSWORD + "x")
    assert verifies.count == 1


def test_a_disabled_account_is_only_named_to_whoever_has_its_password(
    accounts: AccountService, alice: UserInfo, db: Database
) -> None:
    with db.session_factory() as s:
        s.execute(update(User).where(User.id == alice.id).values(is_active=False))
        s.commit()
    with pytest.raises(InvalidCredentials, match=f"^{LOGIN_REFUSED}$"):
        accounts.log_in("alice", PASSWORD + "x")
    with pytest.raises(AccountDisabled):
        accounts.log_in("alice", PASSWORD)


# --- the sign-up caps, at log-in, before hashing ---------------------------------------------------------------


@pytest.mark.parametrize("length", [passwords_module.MAX_LENGTH + 1, 100_000, 10 * 1024 * 1024])
def test_a_password_longer_than_sign_up_allows_is_refused_before_hashing(
    accounts: AccountService, alice: UserInfo, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    verifies, hashes = Calls(monkeypatch, "verify_password"), Calls(monkeypatch, "hash_password")
    for login in ("alice", "nobody"):  # the same answer whether or not the name exists
        with pytest.raises(InvalidInput, match="longer than 1,024 characters"):
            accounts.log_in(login, "a1" * (length // 2) + "a" * (length % 2))
    assert verifies.count == hashes.count == 0


def test_sign_up_refuses_the_same_over_long_password(accounts: AccountService, db: Database) -> None:
    with pytest.raises(AccountError, match="at most 1024"):
        accounts.sign_up("bob@example.com", "bob", "a1" * 513)
    assert users(db) == 0


@pytest.mark.parametrize("length", [256, 1_000, 1_000_000])
def test_a_login_name_longer_than_any_email_is_refused_without_a_query(
    accounts: AccountService, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    verifies = Calls(monkeypatch, "verify_password")
    with pytest.raises(InvalidInput, match="longer than 255"):
        accounts.log_in("a" * length, PASSWORD)
    assert verifies.count == 0


@pytest.mark.parametrize(("login", "password"), [("", PASSWORD), ("   ", PASSWORD), ("alice", ""), ("", "")])
def test_an_empty_name_or_password_asks_for_both(accounts: AccountService, login: str, password: str) -> None:
    with pytest.raises(InvalidInput, match="Enter your email or username and your password"):
        accounts.log_in(login, password)


# --- control characters: a clear InvalidInput, never psycopg.DataError --------------------------------------------


@pytest.mark.parametrize("bad", BAD_NAME_CHARACTERS)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_control_characters_in_the_login_name_are_invalid_input(
    accounts: AccountService, alice: UserInfo, bad: str, where: str
) -> None:
    login = {"start": bad + "alice", "middle": "ali" + bad + "ce", "end": "alice@example.com" + bad}[where]
    try:
        accounts.log_in(login, PASSWORD)
    except InvalidInput as exc:
        assert "control character" in str(exc)
    else:  # only whitespace at either end may be trimmed away, and then it is simply alice
        assert bad.isspace() and where != "middle"


@pytest.mark.parametrize("bad", BAD_PASSWORD_CHARACTERS)
def test_control_characters_in_the_password_are_invalid_input_at_log_in(
    accounts: AccountService, alice: UserInfo, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    verifies = Calls(monkeypatch, "verify_password")
    for login in ("alice", "nobody"):
        with pytest.raises(InvalidInput, match="control character"):
            accounts.log_in(login, PASSWORD[:5] + bad + PASSWORD[5:])
    assert verifies.count == 0


@pytest.mark.parametrize("bad", BAD_NAME_CHARACTERS)
@pytest.mark.parametrize("field", ["email", "username", "password"])
def test_sign_up_refuses_control_characters_in_every_field(
    accounts: AccountService, db: Database, bad: str, field: str
) -> None:
    fields = {"email": "carol@example.com", "username": "carol", "password": PASSWORD}
    value = fields[field]
    fields[field] = value[:3] + bad + value[3:]
    if field == "password" and bad == "\u200b":
        accounts.sign_up(**fields)  # a format character (an emoji's zero-width joiner's kin) is text in a password
        assert accounts.log_in("carol", fields["password"]).user.username == "carol"
        return
    with pytest.raises(InvalidInput):
        accounts.sign_up(**fields)
    assert users(db) == 0


def test_an_emoji_password_signs_up_and_logs_in(accounts: AccountService) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: format characters inside
    password = f"family-{family}-2026"
    accounts.sign_up("dan@example.com", "dan", password)
    assert accounts.log_in("dan", password).user.username == "dan"


@pytest.mark.parametrize("bad", BAD_PASSWORD_CHARACTERS)
@pytest.mark.parametrize("which", ["old", "new"])
def test_change_password_refuses_control_characters_and_keeps_the_sessions(
    accounts: AccountService, alice: UserInfo, bad: str, which: str
) -> None:
    session = accounts.log_in("alice", PASSWORD, remember=True)
    spoiled = "New-Pass-2027" + bad + "x"
    old, new = (PASSWORD + bad, "New-Pass-2027x") if which == "old" else (PASSWORD, spoiled)
    with pytest.raises(InvalidInput, match="control character"):
        accounts.change_password(alice.id, old, new)
    assert accounts.resume(session.token) == alice  # nothing was changed, nobody logged out
    assert accounts.log_in("alice", PASSWORD).user == alice


def test_change_password_refuses_an_over_long_current_password_before_hashing(
    accounts: AccountService, alice: UserInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifies = Calls(monkeypatch, "verify_password")
    with pytest.raises(InvalidInput, match="longer than 1,024"):
        accounts.change_password(alice.id, "a1" * 600_000, "New-Pass-2027x")
    assert verifies.count == 0
    with pytest.raises(WrongPassword):  # a wrong current password still says just that: the user is known here
        accounts.change_password(alice.id, "not-the-password-1", "New-Pass-2027x")


@pytest.mark.parametrize("token", ["\x00", "abc\x00def", "tok\ud800en", "line\nbreak", "x" * 100_000])
def test_a_malformed_token_is_invalid_input_on_resume_and_harmless_on_log_out(
    accounts: AccountService, alice: UserInfo, db: Database, token: str
) -> None:
    session = accounts.log_in("alice", PASSWORD, remember=True)
    with pytest.raises(InvalidInput, match="malformed"):
        accounts.resume(token)
    accounts.log_out(token)
    assert accounts.resume(session.token) == alice
    with db.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.revoked_at.is_(None))) == 1


def test_an_unknown_well_formed_token_is_still_just_invalid(accounts: AccountService) -> None:
    with pytest.raises(InvalidLoginSession):
        accounts.resume(uuid.uuid4().hex)
