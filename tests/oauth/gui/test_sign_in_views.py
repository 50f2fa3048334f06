"""The login dialog's "Sign in with Google/Discord" buttons and Settings → Sign-in, driven like a trader would,
against the local provider stand-in, a fake system browser and a real database."""

from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.async_runner import BlockingRunner
from app.views.login_dialog import SIGNUP_TAB, LoginDialog
from app.views.settings_dialog import SettingsDialog
from core.accounts import AccountService
from core.accounts.club_login import ClubAccounts
from core.accounts.oauth import DISCORD, GOOGLE, OAuthClient, OAuthConfig
from core.accounts.secrets import SecretStore
from core.db.club_roles import group_role
from core.db.models import User, WaitlistEntry
from core.services.identities import IdentityService
from core.services.risk_limits import RiskLimitsStore
from tests.accounts_admin.club import Club
from tests.gui.conftest import STRONG_PASSWORD
from tests.oauth.browser import FakeBrowser
from tests.oauth.standin import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, StandIn

GOOGLE_ONLY = OAuthConfig({GOOGLE: OAuthClient(GOOGLE, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)})


def service(db, standin: StandIn, browser: FakeBrowser, *, local: bool = True) -> IdentityService:
    return IdentityService(
        db.session_factory if local else None,
        GOOGLE_ONLY,
        open_browser=browser,
        google_discovery_url=standin.discovery_url,
        wait_s=10,
    )


def click(qtbot: QtBot, parent, name: str) -> None:
    button = parent.findChild(QPushButton, name)
    assert button is not None, name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def text_of(parent, name: str) -> str:
    label = parent.findChild(QLabel, name)
    assert label is not None, name
    return label.text()


def login_dialog(qtbot: QtBot, accounts, runner: BlockingRunner, identities: IdentityService) -> LoginDialog:
    dialog = LoginDialog(accounts, runner, identities=identities)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_sign_in_with_google_logs_in_the_linked_user(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", STRONG_PASSWORD)
    with db.session_factory() as s:
        s.get(User, ann.id).google_id = standin.person.google_sub
        s.commit()
    browser = FakeBrowser()
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, browser))
    dialog.login_remember.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        click(qtbot, dialog, "googleSignInButton")
    assert dialog.user == ann and dialog.remember
    assert dialog.login_result is not None and accounts.resume(dialog.login_result.token) == ann
    assert len(browser.opened) == 1


def test_a_new_google_identity_is_offered_an_account_with_a_proposed_username(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser()))
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: dialog.identity_panel.isVisible() and not dialog.busy, timeout=10_000)
    assert dialog.identity_username.text() == "Ann.Trader"
    assert "log in above with your password: Google is then linked" in text_of(dialog, "identityText")
    dialog.identity_username.setText("ann")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        click(qtbot, dialog, "identityCreateButton")
    assert dialog.user is not None and dialog.user.username == "ann"
    with db.session_factory() as s:
        assert s.get(User, dialog.user.id).google_id == standin.person.google_sub


def test_a_password_log_in_after_a_new_google_identity_links_it(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", STRONG_PASSWORD)
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser()))
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: dialog.identity_panel.isVisible() and not dialog.busy, timeout=10_000)
    dialog.login_name.setText("ann")
    dialog.login_password.setText(STRONG_PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        click(qtbot, dialog, "loginButton")
    assert dialog.user == ann and dialog.pending_identity is None
    with db.session_factory() as s:
        assert s.get(User, ann.id).google_id == standin.person.google_sub


def test_an_unconfigured_provider_is_disabled_and_says_how_to_configure_it(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser()))
    discord = dialog.findChild(QPushButton, f"{DISCORD}SignInButton")
    assert discord is not None and not discord.isEnabled()
    assert "STRATFORGE_DISCORD_CLIENT_ID" in discord.toolTip()
    google = dialog.findChild(QPushButton, "googleSignInButton")
    assert google is not None and google.isEnabled()


def test_cancel_stops_waiting_for_the_browser(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser(silent=True)))
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: dialog.cancel_sign_in_button.isVisible(), timeout=5_000)
    assert dialog.busy and "Waiting for Google in your browser" in dialog.status_label.text()
    click(qtbot, dialog, "cancelSignInButton")
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5_000)
    assert text_of(dialog, "errorLabel") == "Sign-in cancelled."
    assert dialog.user is None and dialog.isVisible()


def test_a_refused_sign_in_is_one_line_in_the_dialog(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    standin.knobs.audience = "another-app"
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser()))
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: not dialog.busy and text_of(dialog, "errorLabel") != "", timeout=10_000)
    assert text_of(dialog, "errorLabel") == (
        "Google's answer was issued to another app, not StratForge; nothing was changed."
    )


def test_in_a_club_google_fills_a_join_request_that_waits_for_the_admin(
    qtbot: QtBot, db, club: Club, runner: BlockingRunner, standin: StandIn
) -> None:
    club_accounts = ClubAccounts(club.url_as(group_role(club.name, "applicant")))
    dialog = LoginDialog(club_accounts, runner, identities=service(db, standin, FakeBrowser(), local=False))
    qtbot.addWidget(dialog)
    dialog.show()
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: dialog.tabs.currentIndex() == SIGNUP_TAB and not dialog.busy, timeout=10_000)
    assert dialog.signup_email.text() == "ann.trader@example.com" and dialog.signup_email.isReadOnly()
    dialog.signup_password.setText(STRONG_PASSWORD)
    dialog.signup_confirm.setText(STRONG_PASSWORD)
    click(qtbot, dialog, "signupButton")
    qtbot.waitUntil(lambda: not dialog.busy and dialog.notice_label.text() != "", timeout=10_000)
    assert "the club admin approves it" in dialog.notice_label.text(), text_of(dialog, "errorLabel")
    with db.session_factory() as s:
        entry = s.scalar(select(WaitlistEntry))
        assert (entry.status, entry.auth_provider, entry.provider_subject) == (
            "waiting", GOOGLE, standin.person.google_sub)  # fmt: skip


# --- Settings → Sign-in -----------------------------------------------------------------------------------------


def settings(qtbot: QtBot, db, runner: BlockingRunner, user_id: uuid.UUID, identities: IdentityService):
    dialog = SettingsDialog(
        RiskLimitsStore(db.session_factory), user_id, runner, SecretStore(environ={}), None, "dark",
        identities=identities,
    )  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    section = dialog.sign_in
    assert section is not None
    dialog.tabs.setCurrentWidget(section)  # the trader opens the Sign-in tab
    qtbot.waitUntil(lambda: section.linked is not None and not section.busy, timeout=10_000)
    return dialog, section


def test_settings_links_and_unlinks_google(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", STRONG_PASSWORD)
    dialog, section = settings(qtbot, db, runner, ann.id, service(db, standin, FakeBrowser()))
    assert text_of(section, "googleLinkStatus") == "Not linked"
    assert not section.findChild(QPushButton, "discordLinkButton").isEnabled()  # not configured
    click(qtbot, section, "googleLinkButton")
    qtbot.waitUntil(lambda: not section.busy and text_of(section, "googleLinkStatus") == "Linked", timeout=10_000)
    assert dialog.ok_button.isEnabled()
    with db.session_factory() as s:
        assert s.get(User, ann.id).google_id == standin.person.google_sub
    click(qtbot, section, "googleUnlinkButton")
    qtbot.waitUntil(lambda: not section.busy and text_of(section, "googleLinkStatus") == "Not linked", timeout=10_000)


def test_settings_refuses_to_unlink_the_last_way_to_log_in_and_offers_a_password(
    qtbot: QtBot, db, runner: BlockingRunner, standin: StandIn
) -> None:
    identities = service(db, standin, FakeBrowser())
    created = identities.sign_up(identities.sign_in(GOOGLE), "ann").user
    _, section = settings(qtbot, db, runner, created.id, identities)
    assert section.password_row.isVisible()
    click(qtbot, section, "googleUnlinkButton")
    qtbot.waitUntil(lambda: not section.busy and text_of(section, "signInError") != "", timeout=10_000)
    assert text_of(section, "signInError").startswith("Google is your only way to log in: set a password first")
    section.password.setText(STRONG_PASSWORD)
    click(qtbot, section, "setPasswordButton")
    qtbot.waitUntil(lambda: not section.busy and not section.password_row.isVisible(), timeout=10_000)
    click(qtbot, section, "googleUnlinkButton")
    qtbot.waitUntil(lambda: not section.busy and text_of(section, "googleLinkStatus") == "Not linked", timeout=10_000)


@pytest.mark.parametrize("local", [False])
def test_a_clubs_settings_have_no_sign_in_tab(
    qtbot: QtBot, db, runner: BlockingRunner, standin: StandIn, local: bool
) -> None:
    dialog = SettingsDialog(
        RiskLimitsStore(db.session_factory), uuid.uuid4(), runner, SecretStore(environ={}), None, "dark",
        identities=service(db, standin, FakeBrowser(), local=local),
    )  # fmt: skip
    qtbot.addWidget(dialog)
    assert dialog.sign_in is None
    assert "Sign-in" not in [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]


def test_closing_the_login_dialog_while_the_browser_is_out_cancels_the_sign_in(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    dialog = login_dialog(qtbot, accounts, runner, service(db, standin, FakeBrowser(silent=True)))
    click(qtbot, dialog, "googleSignInButton")
    qtbot.waitUntil(lambda: dialog.cancel_sign_in_button.isVisible(), timeout=5_000)
    dialog.reject()  # Esc: stops the wait; the dialog stays until the worker has returned
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5_000)
    assert text_of(dialog, "errorLabel") == "Sign-in cancelled."
    dialog.reject()
    assert not dialog.isVisible()


def test_settings_cancel_stops_a_link_and_links_nothing(
    qtbot: QtBot, db, accounts: AccountService, runner: BlockingRunner, standin: StandIn
) -> None:
    ann = accounts.sign_up("ann@example.com", "ann", STRONG_PASSWORD)
    dialog, section = settings(qtbot, db, runner, ann.id, service(db, standin, FakeBrowser(silent=True)))
    click(qtbot, section, "googleLinkButton")
    qtbot.waitUntil(lambda: section.cancel_button.isVisible(), timeout=5_000)
    assert not dialog.ok_button.isEnabled()  # OK waits for the browser: a result must not reach a closed dialog
    click(qtbot, section, "settingsCancelSignIn")
    qtbot.waitUntil(lambda: not section.busy, timeout=5_000)
    assert text_of(section, "signInError") == "Sign-in cancelled."
    assert text_of(section, "googleLinkStatus") == "Not linked" and dialog.ok_button.isEnabled()
