"""The Admin panel driven as the club admin would: members and waiting sign-up requests read through the admin's
own login role on the test database, actions on worker threads, refusals shown in the panel. And the main window
gives the panel to an admin only. Every wait has a timeout; nothing asserts how long something took."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QInputDialog
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.admin_panel import SOLO_NOTE, AdminPanel
from app.views.main_window import MainWindow
from core.accounts import AccountService
from core.db.club_roles import trader_role
from core.db.database import Database
from core.db.models import Position
from core.services.admin import MemberAdmin
from tests.accounts_admin.club import PASSWORD, Club

WAIT_MS = 10_000


@pytest.fixture
def a_club(db: Database) -> Iterator[Club]:
    club = Club(db)
    try:
        yield club
    finally:
        club.close()


def make_panel(qtbot: QtBot, admin: MemberAdmin, user_id, runner: BlockingRunner, **options) -> AdminPanel:
    panel = AdminPanel(admin, user_id, runner, poll_interval_ms=0, **options)
    qtbot.addWidget(panel)
    panel.show()
    settle(qtbot, panel)
    return panel


def settle(qtbot: QtBot, panel: AdminPanel) -> None:
    qtbot.waitUntil(lambda: panel.overview is not None and not panel.busy, timeout=WAIT_MS)


def act(qtbot: QtBot, panel: AdminPanel, button) -> str:
    """Click an action button; the message of the action once the panel has read everything again."""
    with qtbot.waitSignal(panel.acted, timeout=WAIT_MS) as done:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle(qtbot, panel)
    return done.args[0]


def usernames(panel: AdminPanel) -> list[str]:
    return [m.username for m in panel.members_model.rows()]


@pytest.fixture
def club_panel(qtbot: QtBot, a_club: Club, runner: BlockingRunner) -> AdminPanel:
    """The panel of the club's admin "boss", reading through boss's own login role; carol is a member and dave
    waits for approval."""
    boss = a_club.owner.add("boss@example.com", "boss", PASSWORD, "admin")
    a_club.owner.add("carol@example.com", "carol", PASSWORD)
    a_club.request_signup("dave", name="Dave Smith")
    admin = MemberAdmin(a_club.sessions_as(trader_role(a_club.name, "boss")))
    return make_panel(qtbot, admin, boss.id, runner)


def test_the_admin_sees_the_members_and_approves_a_waiting_request(qtbot: QtBot, club_panel: AdminPanel) -> None:
    panel = club_panel
    assert usernames(panel) == ["boss", "carol"]
    assert [(r.username, r.name) for r in panel.requests_model.rows()] == [("dave", "Dave Smith")]
    assert panel.requests_box.title() == "Waiting sign-up requests (1)"
    assert not panel.approve_button.isEnabled()  # nothing selected yet

    panel.requests_table.selectRow(0)
    assert panel.approve_button.isEnabled() and panel.reject_button.isEnabled()
    message = act(qtbot, panel, panel.approve_button)

    assert message == "Approved dave: they can log in with the password they chose."
    assert panel.status_label.text() == message
    assert usernames(panel) == ["boss", "carol", "dave"]
    assert panel.requests_model.rows() == [] and panel.requests_box.title() == "Waiting sign-up requests (none)"


def test_the_admin_rejects_a_request(qtbot: QtBot, club_panel: AdminPanel) -> None:
    panel = club_panel
    panel.requests_table.selectRow(0)
    assert act(qtbot, panel, panel.reject_button) == "Rejected the request of dave@example.com."
    assert panel.requests_model.rows() == [] and usernames(panel) == ["boss", "carol"]


def test_disable_and_enable_a_member_but_never_oneself(qtbot: QtBot, club_panel: AdminPanel) -> None:
    panel = club_panel
    panel.select_member("boss")
    assert not panel.disable_button.isEnabled() and "your own account" in panel.disable_button.toolTip()

    panel.select_member("carol")
    assert panel.disable_button.isEnabled() and not panel.enable_button.isEnabled()
    assert act(qtbot, panel, panel.disable_button) == "Disabled carol: their logins are refused."
    carol = panel.selected_member()
    assert carol is not None and carol.username == "carol" and not carol.active  # the selection survived
    assert panel.members_model.data(panel.members_model.index(1, 3)) == "disabled"
    assert panel.enable_button.isEnabled() and not panel.disable_button.isEnabled()

    assert act(qtbot, panel, panel.enable_button) == "Enabled carol."
    assert panel.members_model.data(panel.members_model.index(1, 3)) == "active"


def reset_to(qtbot: QtBot, panel: AdminPanel, amount: str) -> None:
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.reset_dialog is not None and panel.reset_dialog.isVisible(), timeout=WAIT_MS)
    dialog = panel.reset_dialog
    assert isinstance(dialog, QInputDialog)
    assert "carol" in dialog.labelText() and dialog.textValue() == "100000.000000"
    dialog.setTextValue(amount)
    dialog.accept()


def test_reset_a_members_balance_through_the_dialog(qtbot: QtBot, club_panel: AdminPanel) -> None:
    panel = club_panel
    panel.select_member("carol")
    with qtbot.waitSignal(panel.acted, timeout=WAIT_MS) as done:
        reset_to(qtbot, panel, "25,000")
    settle(qtbot, panel)
    assert done.args[0] == "carol's virtual account starts over at $25,000.00."
    assert panel.members_model.data(panel.members_model.index(1, 4)) == "25,000.00"


def test_a_refused_reset_is_shown_in_the_panel(qtbot: QtBot, club_panel: AdminPanel, db: Database) -> None:
    panel = club_panel
    carol = next(m for m in panel.members_model.rows() if m.username == "carol")
    with db.session_factory() as s:
        s.add(Position(user_id=carol.id, symbol="AAPL", quantity=Decimal("3"), cost_basis=Decimal("300"),
                       status="OPEN"))  # fmt: skip
        s.commit()
    panel.select_member("carol")
    reset_to(qtbot, panel, "5000")
    qtbot.waitUntil(lambda: panel.error_label.isVisible(), timeout=WAIT_MS)
    assert "holds positions" in panel.error_label.text()
    settle(qtbot, panel)
    assert panel.members_model.data(panel.members_model.index(1, 4)) == "100,000.00"

    panel.select_member("carol")
    reset_to(qtbot, panel, "plenty")
    qtbot.waitUntil(lambda: panel.error_label.text() == "Not an amount: 'plenty'.", timeout=WAIT_MS)


def test_a_solo_database_has_no_requests_to_approve(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner
) -> None:
    me = accounts.sign_up("solo@example.com", "solo", PASSWORD)
    assert me.role == "admin"  # the first user of a solo database
    accounts.sign_up("friend@example.com", "friend", PASSWORD)
    panel = make_panel(qtbot, MemberAdmin(db.session_factory), me.id, runner, sign_ups=False)
    assert usernames(panel) == ["solo", "friend"]
    assert panel.requests_table.isHidden() and panel.approve_button.isHidden()
    assert SOLO_NOTE in [label.text() for label in panel.requests_box.findChildren(type(panel.status_label))]


# --- the main window ---
def open_window(qtbot: QtBot, user, db: Database, runner: BlockingRunner, workstation) -> MainWindow:
    window = MainWindow(user, db, runner, workstation)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_the_main_window_gives_the_admin_an_admin_dock_behind_the_portfolio(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation
) -> None:
    admin = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    window = open_window(qtbot, admin, db, runner, workstation)
    dock = window.findChild(QDockWidget, "adminDock")
    assert dock is not None and window.panel_of(dock) is window.admin
    assert window.tabifiedDockWidgets(dock) == [window.findChild(QDockWidget, "portfolioDock")]
    assert "Admin" in [a.text() for a in window.view_menu.actions()]
    assert window.admin is not None
    settle(qtbot, window.admin)
    assert usernames(window.admin) == ["ada"]
    window.close()


def test_a_trader_gets_no_admin_dock(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation
) -> None:
    accounts.sign_up("ada@example.com", "ada", PASSWORD)
    trader = accounts.sign_up("bob@example.com", "bob", PASSWORD)
    window = open_window(qtbot, trader, db, runner, workstation)
    assert window.findChild(QDockWidget, "adminDock") is None and window.admin is None
    assert "Admin" not in [a.text() for a in window.view_menu.actions()]
    window.close()
