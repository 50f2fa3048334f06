"""Who runs a command-line tool that acts for a trader (`stratforge backtest|batch|probes`, `stratforge brokerage`).

The trader signs in as the app would: on a solo or plain shared database with their StratForge password (a login
session, logged out when the command ends); in a club as their own PostgreSQL role, so the run goes on a database
opened as that role and row-level security keeps it to their rows. The password comes from ``STRATFORGE_PASSWORD``
or a terminal prompt, never from the command line (where other users could read it in the process list).
"""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.accounts.club_login import is_club_url
from core.accounts.club_login import log_in as club_log_in
from core.accounts.errors import AccountError
from core.accounts.service import AccountService
from core.config import DATABASE_URL_ENV, Settings
from core.db.database import Database, open_database
from core.db.errors import DatabaseError

USER_ENV = "STRATFORGE_USER"
PASSWORD_ENV = "STRATFORGE_PASSWORD"


class CliError(Exception):
    """Stop with exit status 2 and this message."""


@dataclass(frozen=True)
class SignedIn:
    database: Database  # the run's database: the member's own role in a club
    user_id: uuid.UUID


@contextmanager
def signed_in(database: Database, database_url: str | None, login: str | None) -> Iterator[SignedIn]:
    """The trader ``login`` signed in on ``database`` for the length of the block; afterwards the login session is
    logged out and the run's database closed (``database`` too: a club's applicant connection is closed once the
    member's role is open). CliError when the trader cannot sign in."""
    current, accounts, token = database, None, None
    try:
        if is_club_url(database_url or os.environ.get(DATABASE_URL_ENV)):
            current, user_id = _sign_in_to_club(database, login)
        else:
            accounts, user_id, token = _sign_in(database, login)
        yield SignedIn(current, user_id)
    finally:
        if accounts is not None and token is not None:
            accounts.log_out(token)
        current.close()


def _sign_in(database: Database, login: str | None) -> tuple[AccountService, uuid.UUID, str]:
    if not login:
        raise CliError(f"who is running this? pass --user or set {USER_ENV}")
    password = _password(login)
    service = AccountService(database.session_factory)
    try:
        result = service.log_in(login, password)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    return service, result.user.id, result.token


def _sign_in_to_club(applicant: Database, login: str | None) -> tuple[Database, uuid.UUID]:
    if not login:
        raise CliError(f"who is running this? pass --user or set {USER_ENV}")
    password = _password(login)
    url = applicant.engine.url.render_as_string(hide_password=False)
    try:
        member = club_log_in(url, login, password)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    applicant.close()
    try:
        return open_database(Settings.from_env(database_url=member.url)), member.user.id
    except DatabaseError as exc:
        raise CliError(str(exc)) from None


def _password(login: str) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise CliError(f"no password: set {PASSWORD_ENV} or run in a terminal")
        password = getpass.getpass(f"password for {login}: ")
    return password
