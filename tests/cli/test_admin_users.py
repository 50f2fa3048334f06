"""`stratforge-admin users ...` and `audit purge` against a migrated scratch database: exit 0 when done, 1 when the
request is refused, 2 when the command cannot run, with one line on stderr and never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.accounts import AccountService
from core.cli.admin import main
from core.config import DATABASE_URL_ENV
from core.db.club_roles import trader_role
from core.db.models import Position, SystemLog, User, WaitlistEntry
from core.domain.clock import utc_now
from tests.accounts_admin.club import PASSWORD

NEW_PASSWORD = "Fresh-Passw0rd-77"


@pytest.fixture
def url(db) -> str:
    return db.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def admin_url(club) -> str:
    """The club admin's own login (a member of the admin group), as the admin would pass it."""
    club.owner.add("boss@example.com", "boss", PASSWORD, "admin")
    return club.url_as(trader_role(club.name, "boss"), PASSWORD)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_requests_approve_and_list_through_the_club_admins_login(club, admin_url, capsys):
    request_id = club.request_signup("carol", name="Carol Jones")
    code, out, _ = run(capsys, "users", "requests", "--database-url", admin_url)
    assert code == 0 and str(request_id) in out and "Carol Jones" in out and "waiting" in out

    code, out, _ = run(capsys, "users", "approve", str(request_id), "--database-url", admin_url)
    assert code == 0
    assert out.strip() == ("Approved carol (carol@example.com): a trader with a virtual balance of 100,000.00; "
                           "they log in with the password they chose.")  # fmt: skip

    code, out, _ = run(capsys, "users", "list", "--database-url", admin_url)
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:5] == ["USERNAME", "EMAIL", "ROLE", "STATE", "BALANCE"]
    assert [r.split()[:5] for r in rows] == [
        ["boss", "boss@example.com", "admin", "active", "100,000.00"],
        ["carol", "carol@example.com", "trader", "active", "100,000.00"],
    ]
    assert (
        run(capsys, "users", "requests", "--database-url", admin_url)[1].strip() == "No sign-up requests are waiting."
    )


def test_a_request_decided_twice_or_unknown_is_refused_with_exit_1(club, admin_url, capsys):
    request_id = club.request_signup("dave")
    assert run(capsys, "users", "reject", str(request_id), "--database-url", admin_url)[:2] == (
        0, "Rejected the request of dave@example.com.\n")  # fmt: skip
    code, _, err = run(capsys, "users", "approve", str(request_id), "--database-url", admin_url)
    assert code == 1
    assert one_line(err) == "stratforge-admin: The request of dave@example.com was already rejected."
    code, _, err = run(capsys, "users", "approve", "00000000-0000-0000-0000-000000000000", "--database-url", admin_url)
    assert code == 1 and "No sign-up request" in one_line(err)


def test_disable_enable_and_an_unknown_user(club, admin_url, db, capsys):
    club.owner.add("carol@example.com", "carol", PASSWORD)
    code, out, _ = run(capsys, "users", "disable", "carol", "--database-url", admin_url)
    assert code == 0 and out.startswith("Disabled carol")
    with db.session_factory() as s:
        assert s.scalar(select(User.is_active).where(User.username == "carol")) is False
    code, out, _ = run(capsys, "users", "list", "--database-url", admin_url)
    assert "disabled" in next(line for line in out.splitlines() if line.startswith("carol"))
    with db.session_factory() as s:
        carol_id = s.scalar(select(User.id).where(User.username == "carol"))
    assert run(capsys, "users", "enable", str(carol_id), "--database-url", admin_url)[:2] == (
        0, "Enabled carol: they can log in again.\n")  # fmt: skip
    code, _, err = run(capsys, "users", "disable", "nobody", "--database-url", admin_url)
    assert code == 1 and one_line(err).startswith("stratforge-admin: No user 'nobody'")


def test_reset_balance_of_a_flat_member_and_its_refusal_while_they_hold_shares(club, admin_url, db, capsys):
    carol = club.owner.add("carol@example.com", "carol", PASSWORD)
    code, out, _ = run(capsys, "users", "reset-balance", "carol", "25,000.50", "--database-url", admin_url)
    assert (code, out) == (0, "carol's virtual account starts over at 25,000.50.\n")
    with db.session_factory() as s:
        s.add(Position(user_id=carol.id, symbol="AAPL", quantity=Decimal("1"), cost_basis=Decimal("100"),
                       status="OPEN"))  # fmt: skip
        s.commit()
    code, _, err = run(capsys, "users", "reset-balance", "carol", "50000", "--database-url", admin_url)
    assert code == 1 and "holds positions" in one_line(err)
    with pytest.raises(SystemExit) as exited:
        main(["users", "reset-balance", "carol", "lots", "--database-url", admin_url])
    assert exited.value.code == 2 and "not an amount: 'lots'" in capsys.readouterr().err


def test_add_reads_the_password_from_stdin_and_the_user_logs_in(club, url, db, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_PASSWORD + "\n"))
    code, out, _ = run(capsys, "users", "add", "eve@example.com", "eve", "--role", "investor", "--password-stdin",
                       "--database-url", url)  # fmt: skip
    assert code == 0 and out.startswith("Added eve (eve@example.com) with the role investor, id ")
    assert AccountService(db.session_factory).log_in("eve", NEW_PASSWORD).user.role == "investor"


def test_add_asks_for_the_password_twice(club, url, capsys, monkeypatch):
    typed = iter([NEW_PASSWORD, NEW_PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    code, _, err = run(capsys, "users", "add", "eve@example.com", "eve", "--database-url", url)
    assert code == 2 and one_line(err) == "stratforge-admin: the two passwords differ."
    typed = iter([NEW_PASSWORD, NEW_PASSWORD])
    assert run(capsys, "users", "add", "eve@example.com", "eve", "--database-url", url)[0] == 0


def test_add_refuses_a_weak_password_and_a_taken_name(club, url, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "users", "add", "eve@example.com", "eve", "--password-stdin", "--database-url", url)
    assert code == 1 and "at least 10 characters" in one_line(err)
    club.owner.add("eve@example.com", "eve", PASSWORD)
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_PASSWORD + "\n"))
    code, _, err = run(capsys, "users", "add", "other@example.com", "EVE", "--password-stdin", "--database-url", url)
    assert code == 1 and one_line(err) == "stratforge-admin: The username 'EVE' is already taken."


def test_audit_purge(club, admin_url, db, capsys):
    with db.session_factory() as s:
        s.add(SystemLog(component="test", log_level="INFO", message="old", created_at=utc_now() - timedelta(days=90)))
        s.commit()
    code, out, _ = run(capsys, "audit", "purge", "--before", "2026-01-01", "--database-url", admin_url)
    assert code == 0 and out.startswith("Deleted ") and "before 2026-01-01T00:00:00+00:00" in out
    code, out, _ = run(capsys, "audit", "purge", "--before", (utc_now() - timedelta(days=30)).isoformat(),
                       "--database-url", admin_url)  # fmt: skip
    assert (code, out.split(" audit")[0]) == (0, "Deleted 1")
    code, _, err = run(capsys, "audit", "purge", "--before", utc_now().isoformat(), "--database-url", admin_url)
    assert code == 1 and "last hour" in one_line(err)


def test_a_traders_login_is_refused_the_admins_work(club, admin_url, capsys):
    club.owner.add("carol@example.com", "carol", PASSWORD)
    carol_url = club.url_as(trader_role(club.name, "carol"), PASSWORD)
    code, _, err = run(capsys, "users", "reset-balance", "carol", "5000", "--database-url", carol_url)
    assert code == 1 and one_line(err).startswith("stratforge-admin: This database login may not manage")


def test_the_database_url_comes_from_the_environment(club, url, capsys, monkeypatch):
    club.owner.add("carol@example.com", "carol", PASSWORD)
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    code, out, _ = run(capsys, "users", "list")
    assert code == 0 and "carol@example.com" in out


def test_without_a_database_or_with_an_unreachable_one_the_command_cannot_run(capsys, monkeypatch):
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["users", "list"])
    assert exited.value.code == 2 and "no database" in capsys.readouterr().err
    code, _, err = run(capsys, "users", "list", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 2 and one_line(err).startswith("stratforge-admin: cannot reach the database")


def test_the_console_script_runs(club, url, db):
    with db.session_factory() as s:
        s.add(WaitlistEntry(name="Old Timer", email="old@example.com"))
        s.commit()
    script = Path(sys.executable).parent / "stratforge-admin"
    env = {**os.environ, DATABASE_URL_ENV: url}
    done = subprocess.run([str(script), "users", "requests"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "old@example.com" in done.stdout
    refused = subprocess.run([str(script), "users", "enable", "nobody"], capture_output=True, text=True, env=env,
                             timeout=120)  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("stratforge-admin: No user")
    assert "Traceback" not in refused.stderr


def test_set_role_moves_the_login_in_and_out_of_the_admin_group_and_keeps_one_admin(club, admin_url, db, capsys):
    club.owner.add("carol@example.com", "carol", PASSWORD)
    role = trader_role(club.name, "carol")
    admin_group = role.rsplit("_u_", 1)[0] + "_admin"

    def is_admin_member() -> bool:
        with db.engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT pg_has_role(%s, %s, 'MEMBER')", (role, admin_group)).scalar())

    assert run(capsys, "users", "set-role", "carol", "admin", "--database-url", admin_url)[:2] == (
        0, "carol is now an admin.\n")  # fmt: skip
    assert is_admin_member()
    assert run(capsys, "users", "set-role", "carol", "trader", "--database-url", admin_url)[:2] == (
        0, "carol is now a trader.\n")  # fmt: skip
    assert not is_admin_member()
    code, _, err = run(capsys, "users", "set-role", "boss", "investor", "--database-url", admin_url)
    assert code == 1 and "only active admin" in one_line(err)
    with db.session_factory() as s:
        assert s.scalar(select(User.role).where(User.username == "boss")) == "admin"
