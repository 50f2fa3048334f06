"""Settings dialog: Alpaca and Gemini keys (OS keyring), database URL, risk limits, theme, the zone times are read in.

Keyring calls can block (a D-Bus round trip, a Keychain prompt) and risk limits live in PostgreSQL,
so both are read on the runner's worker threads when the dialog opens and written there on OK; the
dialog stays responsive and disables its buttons meanwhile.

OK first checks everything it can without I/O (key formats, the database URL, every risk bound)
and shows each problem under its own tab, staying open; only a clean form is saved. The URL and key checks
(and reading the stored keys) are ``core.services.connection_checks``; this dialog shows their sentences. A save that
fails on the worker (the keyring vanished, the database refused) is shown the same way.

What this dialog does not do: apply the database URL, the theme or the time zone. It returns them (`database_url`,
`theme`, `time_zone`) and the caller stores and applies them: the theme and the zone at once (the zone through
app.display_time), the URL at the next start, since every open connection and service was built from the current
one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.views.broker_accounts_tab import BrokerAccountsTab
from app.views.sign_in_settings import SignInSettings
from core.accounts.risk_settings import LABELS, InvalidRiskLimits, RiskLimits, validate_risk_limits
from core.accounts.secrets import GEMINI_KEY_ENV, SecretStore, SecretsUnavailable
from core.config import ALPACA_KEY_ENV, ALPACA_SECRET_ENV
from core.db.trouble import trader_message
from core.domain.display_time import DEFAULT_ZONE, DisplayZone
from core.services.broker_accounts import BrokerAccounts
from core.services.connection_checks import StoredKeys, alpaca_change, check_database_url, gemini_change, read_keys
from core.services.identities import IdentityService
from core.services.risk_limits import RiskLimitsStore

__all__ = ["DATABASE_TAB", "RISK_TAB", "SettingsDialog", "check_database_url"]

log = logging.getLogger(__name__)

BROKER_TAB, AI_TAB, DATABASE_TAB, RISK_TAB, APPEARANCE_TAB = range(5)
THEMES = (("dark", "Dark"), ("light", "Light"))
DEFAULT_THEME = "dark"
ERROR_STYLE = "color: #d32f2f;"
INVALID_FIELD_STYLE = "border: 1px solid #d32f2f;"

MAX_MONEY_INPUT = 1e12  # a double still holds cents exactly up to here
MONEY_FIELDS = ("daily_loss_limit", "max_position_size", "max_order_value")
PERCENT_FIELDS = ("max_drawdown_percent", "max_risk_per_trade")


@dataclass
class _Plan:
    """What OK will write; None means leave alone."""

    alpaca: tuple[str, str] | None = None
    clear_alpaca: bool = False
    gemini: str | None = None
    clear_gemini: bool = False
    risk: RiskLimits | None = None


class SettingsDialog(QDialog):
    """Accepts once everything changed has been saved; then `database_url` and `theme` are the choices.

    `saved` is emitted just before the dialog accepts."""

    saved = Signal()

    def __init__(
        self,
        risk_limits: RiskLimitsStore,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        secrets: SecretStore,
        current_database_url: str | None,
        theme: str,
        parent: QWidget | None = None,
        time_zone: DisplayZone = DEFAULT_ZONE,
        identities: IdentityService | None = None,
        broker_accounts: BrokerAccounts | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("StratForge — settings")
        self.setMinimumWidth(480)
        self._risk_store = risk_limits
        self._user_id = user_id
        self._runner = runner
        self._secrets = secrets
        self._database_url = current_database_url or None
        self._theme = theme if theme in dict(THEMES) else DEFAULT_THEME
        self._time_zone = time_zone
        self._busy = False
        self._pending_loads = 2
        self._keyring_available = False
        self._stored_alpaca: tuple[str, str] | None = None  # as in the keyring, to write only on change
        self._stored_gemini: str | None = None
        self._alpaca_editable = False
        self._gemini_editable = False
        self._loaded_risk: RiskLimits | None = None
        self.risk_limits: RiskLimits | None = None  # as stored, once loaded or saved

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("settingsTabs")
        self.tabs.addTab(self._build_broker_tab(), "Broker")
        self.tabs.addTab(self._build_ai_tab(), "AI")
        self.tabs.addTab(self._build_database_tab(), "Database")
        self.tabs.addTab(self._build_risk_tab(), "Risk")
        self.tabs.addTab(self._build_appearance_tab(), "Appearance")
        # Sign-in (Google, Discord): links change at once, not on OK; only where identities can be linked (not in
        # a club, whose members' rows are the admin's).
        self.sign_in: SignInSettings | None = None
        if identities is not None and identities.local:
            self.sign_in = SignInSettings(identities, user_id, runner)
            self.tabs.addTab(self.sign_in, "Sign-in")
            self.sign_in.busy_changed.connect(lambda _busy: self._update_buttons())
        # Broker accounts (Zerodha, Angel One, ICICI Direct): linked, logged in and removed at once, not on OK.
        self.broker_accounts = BrokerAccountsTab(broker_accounts, user_id, runner) if broker_accounts else None
        if self.broker_accounts is not None:
            self.tabs.addTab(self.broker_accounts, "Broker accounts")
            self.broker_accounts.load()

        self.error_label = _error_label("errorLabel")
        self.status_label = QLabel(self)
        self.status_label.setObjectName("statusLabel")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("okButton")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("cancelButton")
        self.buttons.accepted.connect(self._ok_clicked)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)

        self._set_secret_fields_enabled(False)
        self._set_risk_enabled(False)
        self._update_buttons()
        self.status_label.setText("Loading your settings…")
        self._load_tasks = [
            runner.spawn(self._load_secrets(), name="settings-load-secrets"),
            runner.spawn(self._load_risk(), name="settings-load-risk"),
        ]

    # --- construction ---
    def _build_broker_tab(self) -> QWidget:
        page = QWidget()
        self.broker_note = _note("brokerNote")
        self.alpaca_key_id = _line_edit("alpacaKeyId", "e.g. PK… (20 characters)")
        self.alpaca_secret = _line_edit("alpacaSecret", "secret key (40 characters)", password=True)
        self.alpaca_clear = QPushButton("Clear")
        self.alpaca_clear.setObjectName("alpacaClear")
        self.alpaca_clear.setToolTip("Empty both fields; OK then removes the keys from the keyring.")
        self.alpaca_clear.clicked.connect(self._clear_alpaca_fields)
        self.broker_error = _error_label("brokerError")
        form = QFormLayout(page)
        form.addRow(self.broker_note)
        form.addRow("Alpaca key ID", self.alpaca_key_id)
        form.addRow("Alpaca secret key", self.alpaca_secret)
        form.addRow("", self.alpaca_clear)
        form.addRow(self.broker_error)
        return page

    def _build_ai_tab(self) -> QWidget:
        page = QWidget()
        self.ai_note = _note("aiNote")
        self.gemini_key = _line_edit("geminiKey", "Gemini API key (AIza…)", password=True)
        self.gemini_clear = QPushButton("Clear")
        self.gemini_clear.setObjectName("geminiClear")
        self.gemini_clear.setToolTip("Empty the field; OK then removes the key from the keyring.")
        self.gemini_clear.clicked.connect(self.gemini_key.clear)
        self.ai_error = _error_label("aiError")
        form = QFormLayout(page)
        form.addRow(self.ai_note)
        form.addRow("Gemini API key", self.gemini_key)
        form.addRow("", self.gemini_clear)
        form.addRow(self.ai_error)
        return page

    def _build_database_tab(self) -> QWidget:
        page = QWidget()
        self.database_url_edit = _line_edit("databaseUrl", "empty: the embedded database in your data folder")
        self.database_url_edit.setText(self._database_url or "")
        note = _note("databaseNote")
        note.setText(
            "Leave empty to use the embedded database kept in your data folder, or enter a shared "
            "PostgreSQL URL (postgresql://user:password@host:5432/stratforge) to join a club database. "
            "A change applies the next time StratForge starts."
        )
        self.database_error = _error_label("databaseError")
        form = QFormLayout(page)
        form.addRow("Database URL", self.database_url_edit)
        form.addRow(note)
        form.addRow(self.database_error)
        return page

    def _build_risk_tab(self) -> QWidget:
        page = QWidget()
        self.risk_fields: dict[str, QAbstractSpinBox] = {}
        form = QFormLayout(page)
        self.risk_status = QLabel("Loading your risk limits…")
        self.risk_status.setObjectName("riskStatus")
        form.addRow(self.risk_status)
        for name in MONEY_FIELDS:
            spin = QDoubleSpinBox()
            spin.setDecimals(2)
            spin.setRange(0, MAX_MONEY_INPUT)
            spin.setPrefix("$ ")
            spin.setGroupSeparatorShown(True)
            spin.setSingleStep(100)
            self._add_risk_field(form, name, spin)
        for name in PERCENT_FIELDS:
            spin = QDoubleSpinBox()
            spin.setDecimals(2)
            spin.setRange(0, 100)
            spin.setSuffix(" %")
            spin.setSingleStep(0.5)
            self._add_risk_field(form, name, spin)
        orders = QSpinBox()
        orders.setRange(0, 100_000)
        self._add_risk_field(form, "max_open_orders", orders)
        window = QSpinBox()
        window.setRange(0, 86_400)
        window.setSuffix(" s")
        self._add_risk_field(form, "duplicate_window_seconds", window)
        self.allow_fractional = QCheckBox(LABELS["allow_fractional"])
        self.allow_fractional.setObjectName("allow_fractional")
        form.addRow("", self.allow_fractional)
        self.risk_error = _error_label("riskError")
        form.addRow(self.risk_error)
        return page

    def _add_risk_field(self, form: QFormLayout, name: str, spin: QAbstractSpinBox) -> None:
        spin.setObjectName(name)
        spin.setKeyboardTracking(False)
        self.risk_fields[name] = spin
        form.addRow(LABELS[name], spin)

    def _build_appearance_tab(self) -> QWidget:
        page = QWidget()
        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("themeCombo")
        for value, label in THEMES:
            self.theme_combo.addItem(label, value)
        self.theme_combo.setCurrentIndex(self.theme_combo.findData(self._theme))
        self.time_zone_combo = QComboBox()
        self.time_zone_combo.setObjectName("timeZoneCombo")
        for zone in DisplayZone:
            self.time_zone_combo.addItem(zone.choice_text, zone.value)
        self.time_zone_combo.setCurrentIndex(self.time_zone_combo.findData(self._time_zone.value))
        self.time_zone_combo.setToolTip(
            "The zone every time is shown in: the chart, the tables, the journal. Stored times stay UTC."
        )
        form = QFormLayout(page)
        form.addRow("Theme", self.theme_combo)
        form.addRow("Show times in", self.time_zone_combo)
        return page

    # --- results ---
    @property
    def database_url(self) -> str | None:
        """The chosen shared database URL, or None for the embedded database."""
        return self._database_url

    @property
    def theme(self) -> str:
        """Either "light" or "dark"."""
        return self._theme

    @property
    def time_zone(self) -> DisplayZone:
        """The zone times are shown in."""
        return self._time_zone

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def loading(self) -> bool:
        return self._pending_loads > 0

    @property
    def keyring_available(self) -> bool:
        return self._keyring_available

    # --- loading ---
    async def _load_secrets(self) -> None:
        try:
            view = await self._runner.call(read_keys, self._secrets)
        except Exception as exc:
            log.exception("reading the keyring failed")
            view = StoredKeys(False, None, None, f"The keyring could not be read: {type(exc).__name__}.")
        self._keyring_available = view.keyring_available
        unavailable = view.problem or self._secrets.unavailable_message
        self._show_alpaca(view, unavailable)
        self._show_gemini(view, unavailable)
        self._load_finished()

    def _show_alpaca(self, view: StoredKeys, unavailable: str) -> None:
        keys = view.alpaca
        if keys is not None and keys.source == "environment":
            self._alpaca_editable = False
            self.broker_note.setText(
                f"Your Alpaca keys come from the environment ({ALPACA_KEY_ENV}, {ALPACA_SECRET_ENV}) and "
                "override anything stored here; change them where they are set."
            )
            self.alpaca_key_id.setText(f"from environment (key ID ending {keys.key_id[-4:]})")
            self.alpaca_secret.setPlaceholderText("from environment")
            for widget in (self.alpaca_key_id, self.alpaca_secret):
                widget.setReadOnly(True)
            self.alpaca_clear.setEnabled(False)
        elif not view.keyring_available:
            self._alpaca_editable = False
            self.broker_note.setText(unavailable)
        else:
            self._alpaca_editable = True
            self.broker_note.setText(
                "Keys from your Alpaca paper-trading dashboard. They are kept in your system's password keyring."
            )
            if keys is not None:
                self._stored_alpaca = (keys.key_id, keys.secret)
                self.alpaca_key_id.setText(keys.key_id)
                self.alpaca_secret.setText(keys.secret)
        enabled = self._alpaca_editable or (keys is not None and keys.source == "environment")
        self.alpaca_key_id.setEnabled(enabled)
        self.alpaca_secret.setEnabled(enabled)
        self.alpaca_clear.setEnabled(self._alpaca_editable)

    def _show_gemini(self, view: StoredKeys, unavailable: str) -> None:
        key = view.gemini
        if key is not None and key.source == "environment":
            self._gemini_editable = False
            self.ai_note.setText(
                f"Your Gemini key comes from the environment ({GEMINI_KEY_ENV}) and overrides anything stored "
                "here; change it where it is set."
            )
            self.gemini_key.setEchoMode(QLineEdit.EchoMode.Normal)
            self.gemini_key.setText(f"from environment (ending {key.key[-4:]})")
            self.gemini_key.setReadOnly(True)
            self.gemini_key.setEnabled(True)
        elif not view.keyring_available:
            self._gemini_editable = False
            self.ai_note.setText(unavailable)
            self.gemini_key.setEnabled(False)
        else:
            self._gemini_editable = True
            self.ai_note.setText("Your Google Gemini API key, kept in your system's password keyring.")
            if key is not None:
                self._stored_gemini = key.key
                self.gemini_key.setText(key.key)
            self.gemini_key.setEnabled(True)
        self.gemini_clear.setEnabled(self._gemini_editable)

    async def _load_risk(self) -> None:
        try:
            limits = await self._runner.call(self._risk_store.load, self._user_id)
        except Exception as exc:
            log.exception("loading risk limits failed")
            self.risk_status.setText("")
            self.risk_error.setText(f"Your risk limits could not be loaded ({trader_message(exc)})")
        else:
            self._loaded_risk = self.risk_limits = limits
            self._show_risk(limits)
            self.risk_status.setText("Checked before every order you or your strategies place.")
            self._set_risk_enabled(True)
        self._load_finished()

    def _show_risk(self, limits: RiskLimits) -> None:
        for name, spin in self.risk_fields.items():
            value = getattr(limits, name)
            if isinstance(spin, QDoubleSpinBox):
                spin.setValue(float(value))
            elif isinstance(spin, QSpinBox):
                spin.setValue(int(value))
        self.allow_fractional.setChecked(bool(limits.allow_fractional))

    def _load_finished(self) -> None:
        self._pending_loads -= 1
        if self._pending_loads == 0:
            self.status_label.setText("")
        self._update_buttons()

    # --- OK ---
    def _form_risk_limits(self) -> RiskLimits:
        values: dict[str, Any] = {}
        for name, spin in self.risk_fields.items():
            if isinstance(spin, QDoubleSpinBox):
                values[name] = Decimal(f"{spin.value():.{spin.decimals()}f}")
            elif isinstance(spin, QSpinBox):
                values[name] = spin.value()
        values["allow_fractional"] = self.allow_fractional.isChecked()
        return RiskLimits(**values)

    def _ok_clicked(self) -> None:
        if self._busy or self.loading:
            return
        self._clear_errors()
        plan = _Plan()
        failed: list[int] = []

        try:
            database_url = check_database_url(self.database_url_edit.text())
        except ValueError as exc:
            self.database_error.setText(str(exc))
            failed.append(DATABASE_TAB)
            database_url = self._database_url

        if self._alpaca_editable:
            try:
                self._plan_alpaca(plan)
            except ValueError as exc:
                self.broker_error.setText(str(exc))
                failed.append(BROKER_TAB)

        if self._gemini_editable:
            try:
                self._plan_gemini(plan)
            except ValueError as exc:
                self.ai_error.setText(str(exc))
                failed.append(AI_TAB)

        if self._loaded_risk is not None:
            try:
                limits = validate_risk_limits(self._form_risk_limits())
            except InvalidRiskLimits as exc:
                self._show_risk_problems(exc)
                failed.append(RISK_TAB)
            else:
                if limits != self._loaded_risk:
                    plan.risk = limits

        if failed:
            self.tabs.setCurrentIndex(min(failed))
            return
        theme = self.theme_combo.currentData() or DEFAULT_THEME
        time_zone = DisplayZone(self.time_zone_combo.currentData() or DEFAULT_ZONE.value)
        self._set_busy(True, "Saving…")
        self._runner.spawn(self._save(plan, database_url, theme, time_zone), name="settings-save")

    def _plan_alpaca(self, plan: _Plan) -> None:
        change = alpaca_change(self.alpaca_key_id.text(), self.alpaca_secret.text(), self._stored_alpaca)
        plan.clear_alpaca = change.clear
        if change.store is not None:
            key_id, secret = change.store
            plan.alpaca = (key_id, secret)

    def _plan_gemini(self, plan: _Plan) -> None:
        change = gemini_change(self.gemini_key.text(), self._stored_gemini)
        plan.clear_gemini = change.clear
        if change.store is not None:
            plan.gemini = change.store[0]

    async def _save(self, plan: _Plan, database_url: str | None, theme: str, time_zone: DisplayZone) -> None:
        """Each step records its success at once, so a retry after a partial failure redoes only the rest."""
        failed: list[int] = []
        try:
            if plan.alpaca is not None or plan.clear_alpaca:
                failed += await self._step(self._save_alpaca, plan, self.broker_error, BROKER_TAB)
            if plan.gemini is not None or plan.clear_gemini:
                failed += await self._step(self._save_gemini, plan, self.ai_error, AI_TAB)
            if plan.risk is not None:
                failed += await self._step(self._save_risk, plan, self.risk_error, RISK_TAB)
        finally:
            self._set_busy(False, "")
        if failed:
            self.tabs.setCurrentIndex(failed[0])
            return
        self._database_url, self._theme, self._time_zone = database_url, theme, time_zone
        self.saved.emit()
        self.accept()

    async def _step(self, fn: Callable[[_Plan], Awaitable[None]], plan: _Plan, label: QLabel, tab: int) -> list[int]:
        """Run one save; on failure show why on its tab and return [tab], else []."""
        try:
            await fn(plan)
        except InvalidRiskLimits as exc:
            self._show_risk_problems(exc)
        except (SecretsUnavailable, ValueError) as exc:
            label.setText(str(exc))
        except Exception as exc:
            log.exception("saving settings failed")
            label.setText(f"Could not save: {trader_message(exc)}")
        else:
            return []
        return [tab]

    async def _save_alpaca(self, plan: _Plan) -> None:
        if plan.alpaca is not None:
            keys = await self._runner.call(self._secrets.set_alpaca_keys, *plan.alpaca)
            self._stored_alpaca = (keys.key_id, keys.secret)
        else:
            await self._runner.call(self._secrets.clear_alpaca_keys)
            self._stored_alpaca = None

    async def _save_gemini(self, plan: _Plan) -> None:
        if plan.gemini is not None:
            key = await self._runner.call(self._secrets.set_gemini_key, plan.gemini)
            self._stored_gemini = key.key
        else:
            await self._runner.call(self._secrets.clear_gemini_key)
            self._stored_gemini = None

    async def _save_risk(self, plan: _Plan) -> None:
        assert plan.risk is not None
        stored = await self._runner.call(self._risk_store.save, self._user_id, plan.risk)
        self._loaded_risk = self.risk_limits = stored

    # --- helpers ---
    def _clear_alpaca_fields(self) -> None:
        self.alpaca_key_id.clear()
        self.alpaca_secret.clear()

    def _show_risk_problems(self, exc: InvalidRiskLimits) -> None:
        self.risk_error.setText(str(exc))
        for name, message in exc.problems.items():
            widget = self.risk_fields.get(name)
            if widget is not None:
                widget.setStyleSheet(INVALID_FIELD_STYLE)
                widget.setToolTip(message)

    def _clear_errors(self) -> None:
        for label in (self.error_label, self.broker_error, self.ai_error, self.database_error, self.risk_error):
            label.setText("")
        for widget in self.risk_fields.values():
            widget.setStyleSheet("")
            widget.setToolTip("")

    def _set_secret_fields_enabled(self, enabled: bool) -> None:
        for widget in (self.alpaca_key_id, self.alpaca_secret, self.alpaca_clear, self.gemini_key, self.gemini_clear):
            widget.setEnabled(enabled)

    def _set_risk_enabled(self, enabled: bool) -> None:
        for widget in (*self.risk_fields.values(), self.allow_fractional):
            widget.setEnabled(enabled)

    def _set_busy(self, busy: bool, status: str) -> None:
        self._busy = busy
        self.status_label.setText(status)
        self.tabs.setEnabled(not busy)
        self._update_buttons()

    def _update_buttons(self) -> None:
        linking = self.sign_in is not None and self.sign_in.busy
        self.ok_button.setEnabled(not self._busy and not self.loading and not linking)
        self.cancel_button.setEnabled(not self._busy)

    def reject(self) -> None:
        if self.sign_in is not None and self.sign_in.busy:  # a browser sign-in is out: stop it; close once it ends
            self.sign_in.cancel_sign_in()
            return
        if not self._busy:  # closing mid-save would leave results arriving for a dead dialog
            super().reject()

    def done(self, result: int) -> None:
        for task in self._load_tasks:
            task.cancel()  # a load still running must not fill in a closed dialog
        super().done(result)


def _line_edit(name: str, placeholder: str, password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def _note(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def _error_label(name: str) -> QLabel:
    label = _note(name)
    label.setStyleSheet(ERROR_STYLE)
    return label
