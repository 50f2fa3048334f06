"""The Journal's Entries tab: the trader's notes (daily, pre-market, lessons…) with a search, and an editor.

Search is core's (``search_entries``): every word of the text must appear, entries must carry the tag, the mood
and the date range if given. An entry may link to a fill: the one it was written about (kept when it is edited)
or, for a new one, the fill selected in the Fills tab.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from PySide6.QtCore import QDate, QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.models.journal_models import EntriesModel
from app.models.positions_model import format_money, format_qty
from app.views.journal_tab import JournalHost, JournalTab, Loader
from app.views.panel_widgets import named_button, row_table
from core.domain.display_time import NEW_YORK
from core.journal import EntryView, JournalFillRow
from core.journal.entries import ENTRY_TYPES
from core.services.journal import Journal

MOODS = ("", "calm", "confident", "focused", "anxious", "frustrated", "tired", "euphoric")
ENTRIES_SHOWN = 200


def exchange_today() -> date:
    """Today on the exchange's clock: the trading day the trader's fills (and so their notes) belong to."""
    return datetime.now(NEW_YORK).date()


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _date(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def _date_edit(name: str) -> QDateEdit:
    edit = QDateEdit(objectName=name, calendarPopup=True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setDate(_qdate(exchange_today()))
    return edit


def parse_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _fill_text(row: JournalFillRow) -> str:
    f = row.fill
    return f"{f.side} {format_qty(f.quantity)} {f.symbol} @ {format_money(f.price)} ({f.executed_at:%Y-%m-%d %H:%M})"


class EntriesTab(JournalTab):
    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("journalEntriesTab")
        self._entry: EntryView | None = None  # the one in the editor (None: a new one)
        self._selected_fill: JournalFillRow | None = None

        self.search_text = QLineEdit(objectName="entrySearchText", placeholderText="Words in the entry")
        self.search_tag = QLineEdit(objectName="entrySearchTag", placeholderText="tag")
        self.search_mood = QLineEdit(objectName="entrySearchMood", placeholderText="mood")
        self.search_dates = QCheckBox("Between", objectName="entrySearchDates")
        self.search_from = _date_edit("entrySearchFrom")
        self.search_from.setDate(_qdate(exchange_today()).addDays(-30))
        self.search_to = _date_edit("entrySearchTo")
        for edit in (self.search_from, self.search_to):
            edit.setEnabled(False)
            self.search_dates.toggled.connect(edit.setEnabled)
        self.search_button = named_button("Search", "entrySearchButton", self.search)
        for edit in (self.search_text, self.search_tag, self.search_mood):
            edit.returnPressed.connect(self.search)

        self.model = EntriesModel(self)
        self.table = row_table("entriesTable", self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.entry_date = _date_edit("entryDate")
        self.entry_type = QComboBox(objectName="entryType", editable=True)
        self.entry_type.addItems(ENTRY_TYPES)
        self.mood = QComboBox(objectName="entryMood", editable=True)
        self.mood.addItems(MOODS)
        self.tags = QLineEdit(objectName="entryTags", placeholderText="comma-separated, e.g. fomo, gap")
        self.content = QPlainTextEdit(objectName="entryContent", placeholderText="What happened, what you noticed")
        self.link_fill = QCheckBox(objectName="entryLinkFill")
        self.editor_title = QLabel("New entry", objectName="entryEditorTitle")
        self.editor_title.setStyleSheet("font-weight: bold;")
        self.new_button = named_button("New", "newEntryButton", self.new_entry)
        self.save_button = named_button("Save", "saveEntryButton", self.save_entry)
        self.delete_button = named_button("Delete", "deleteEntryButton", self.delete_selected)

        search_row = QHBoxLayout()
        for widget in (self.search_text, self.search_tag, self.search_mood, self.search_dates, self.search_from,
                       QLabel("and"), self.search_to, self.search_button):  # fmt: skip
            search_row.addWidget(widget)
        form = QFormLayout()
        form.addRow("Date", self.entry_date)
        form.addRow("Type", self.entry_type)
        form.addRow("Mood", self.mood)
        form.addRow("Tags", self.tags)
        form.addRow("Fill", self.link_fill)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        editor = QWidget()
        editor_layout = QVBoxLayout(editor)
        editor_layout.setContentsMargins(4, 0, 0, 0)
        editor_layout.addWidget(self.editor_title)
        editor_layout.addLayout(form)
        editor_layout.addWidget(self.content, 1)
        editor_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(editor)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(splitter, 1)
        self.new_entry()

    # --- loading ---
    def loader(self) -> Loader:
        filters = {
            "text": self.search_text.text().strip() or None,
            "tags": parse_tags(self.search_tag.text()) or None,
            "mood": self.search_mood.text().strip() or None,
            "date_from": _date(self.search_from.date()) if self.search_dates.isChecked() else None,
            "date_to": _date(self.search_to.date()) if self.search_dates.isChecked() else None,
        }
        return lambda journal, user_id: _search(journal, user_id, filters)

    def show_data(self, data: list[EntryView]) -> None:
        self.model.set_rows(data)
        if self._entry is not None:
            row = self.model.row_of(self._entry.id)
            if row is not None:  # selected again without reloading the editor: the trader may be typing
                selection = self.table.selectionModel()
                selection.blockSignals(True)
                self.table.selectRow(row)
                selection.blockSignals(False)
                self.table.viewport().update()

    # --- public ---
    def search(self) -> None:
        self.host.reload(self)

    def set_selected_fill(self, row: JournalFillRow | None) -> None:
        """The fill selected in the Fills tab: what a new entry links to."""
        self._selected_fill = row
        self._update_link()

    def new_entry(self) -> None:
        self._entry = None
        self.table.clearSelection()
        self.editor_title.setText("New entry")
        self.entry_date.setDate(_qdate(exchange_today()))
        self.entry_type.setCurrentText(ENTRY_TYPES[0])
        self.mood.setCurrentText("")
        self.tags.clear()
        self.content.clear()
        self.link_fill.setChecked(False)
        self.delete_button.setEnabled(False)
        self._update_link()

    def save_entry(self) -> None:
        link = self._link_target() if self.link_fill.isChecked() else None
        fields = {
            "entry_date": _date(self.entry_date.date()),
            "content": self.content.toPlainText(),
            "entry_type": self.entry_type.currentText().strip() or ENTRY_TYPES[0],
            "mood": self.mood.currentText().strip() or None,
            "tags": parse_tags(self.tags.text()),
            "fill_id": link,
        }
        if self._entry is None:
            self.host.run("save the entry", Journal.create_entry, fields.pop("entry_date"), fields.pop("content"),
                          **fields, done=self._saved)  # fmt: skip
        else:
            self.host.run("save the entry", Journal.update_entry, self._entry.id, **fields, done=self._saved)

    def delete_selected(self) -> None:
        if self._entry is None:
            return
        self.host.run("delete the entry", Journal.delete_entry, self._entry.id, done=lambda _: self._deleted())

    # --- behaviour ---
    def _saved(self, entry: EntryView) -> None:
        self._show_entry(entry)
        self.host.show_status(f"Entry of {entry.entry_date:%Y-%m-%d} saved.")
        self.host.reload(self)

    def _deleted(self) -> None:
        self.new_entry()
        self.host.show_status("Entry deleted.")
        self.host.reload(self)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self._show_entry(self.model.row_at(rows[0].row()))

    def _show_entry(self, entry: EntryView) -> None:
        self._entry = entry
        self.editor_title.setText(f"Entry of {entry.entry_date:%Y-%m-%d}")
        self.entry_date.setDate(_qdate(entry.entry_date))
        self.entry_type.setCurrentText(entry.entry_type)
        self.mood.setCurrentText(entry.mood or "")
        self.tags.setText(", ".join(entry.tags))
        self.content.setPlainText(entry.content)
        self.link_fill.setChecked(entry.fill_id is not None)
        self.delete_button.setEnabled(True)
        self._update_link()

    def _link_target(self) -> uuid.UUID | None:
        if self._entry is not None and self._entry.fill_id is not None:
            return self._entry.fill_id
        return self._selected_fill.fill.id if self._selected_fill is not None else None

    def _update_link(self) -> None:
        target = self._link_target()
        if self._entry is not None and self._entry.fill_id is not None:
            shown = self._selected_fill if self._selected_fill and self._selected_fill.fill.id == target else None
            self.link_fill.setText(f"Linked to {_fill_text(shown)}" if shown else "Linked to a fill")
        elif target is not None and self._selected_fill is not None:
            self.link_fill.setText(f"Link to the selected fill: {_fill_text(self._selected_fill)}")
        else:
            self.link_fill.setText("Link to a fill (select one in the Fills tab)")
        self.link_fill.setEnabled(target is not None)
        if target is None:
            self.link_fill.setChecked(False)


def _search(journal: Journal, user_id: uuid.UUID, filters: dict) -> list[EntryView]:
    return journal.search_entries(user_id, limit=ENTRIES_SHOWN, **filters)
