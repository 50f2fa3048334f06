"""`stratforge-db roles` and `stratforge-db password`: the admin sees the club's roles and gives the club service's
and the applicants' roles their passwords; only PostgreSQL's SCRAM verifier reaches the server."""

from __future__ import annotations

import io

import psycopg
import pytest

from core.cli.db import main
from core.db.club_roles import group_role
from tests.pg import libpq_url


def _upgraded(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--url", url, "upgrade"]) == 0
    capsys.readouterr()
    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
        return conn.info.dbname


def test_roles_lists_the_four_groups_and_the_members(scratch_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    database = _upgraded(scratch_url, capsys)
    assert main(["--url", scratch_url, "roles"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{group_role(database, 'trader')}: group",
        f"{group_role(database, 'club')}: login, no password yet",
        f"{group_role(database, 'admin')}: group",
        f"{group_role(database, 'applicant')}: login, no password yet",
        "member login roles: 0",
    ]


@pytest.mark.parametrize("kind", ["club", "applicant"])
def test_password_sets_a_scram_verifier_never_the_password(
    scratch_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    database = _upgraded(scratch_url, capsys)
    secret = "Club-Service-Pass-2026"
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert main(["--url", scratch_url, "password", kind, "--password-stdin"]) == 0
    role = group_role(database, kind)  # type: ignore[arg-type]
    assert f"password set for {role}" in capsys.readouterr().out
    with psycopg.connect(libpq_url(scratch_url), connect_timeout=10) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
    assert row is not None and row[0].startswith("SCRAM-SHA-256$4096:") and secret not in row[0]
    assert main(["--url", scratch_url, "roles"]) == 0
    assert f"{role}: login, password set" in capsys.readouterr().out


def test_an_empty_password_is_refused(
    scratch_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _upgraded(scratch_url, capsys)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["--url", scratch_url, "password", "club", "--password-stdin"]) == 1
    assert "no password given" in capsys.readouterr().err
