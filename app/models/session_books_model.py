"""Who holds what in the account: one row per paper session's own book, and the manual row, as the Portfolio
service split them (``core.services.portfolio_split``). The model only formats; every figure comes from core."""

from __future__ import annotations

from collections.abc import Hashable

from app.models.positions_model import Column, RecordTableModel, format_money, format_qty
from core.services.portfolio import BookRow


def _holdings(row: BookRow) -> str:
    """``ACME 102 @ 97.00, MSFT 5 @ 400.00`` (shares and own average entry); "—" when flat."""
    if not row.positions:
        return "—"
    return ", ".join(f"{p.symbol} {format_qty(p.qty)} @ {format_money(p.avg_entry_price)}" for p in row.positions)


BOOK_COLUMNS: tuple[Column[BookRow], ...] = (
    Column("Held by", lambda r: r.name),
    Column("Status", lambda r: r.status.capitalize() if r.status else "—"),
    Column("Capital", lambda r: r.capital, format_money),
    Column("Cash", lambda r: r.cash, format_money),
    Column("Positions", _holdings),
    Column("Market value", lambda r: r.positions_value, format_money),
    Column("P&L", lambda r: r.pnl, lambda v: format_money(v, signed=True), pnl=True),
)


class SessionBooksModel(RecordTableModel[BookRow]):
    """Each paper session's book (newest first), then what is held outside any session ("Manual")."""

    columns = BOOK_COLUMNS

    @staticmethod
    def key(row: BookRow) -> Hashable:
        return row.session_id
