"""The Admin panel's two tables: the members (state, role, virtual balance) and the waiting sign-up requests."""

from __future__ import annotations

from collections.abc import Hashable

from app.models.positions_model import Column, RecordTableModel, format_money, time_column
from core.services.admin import Member, SignUpRequest

MEMBER_COLUMNS: tuple[Column[Member], ...] = (
    Column("Username", lambda m: m.username),
    Column("Email", lambda m: m.email),
    Column("Role", lambda m: m.role),
    Column("State", lambda m: "active" if m.active else "disabled"),
    Column("Virtual balance", lambda m: m.virtual_balance, format_money),
    time_column("Joined", lambda m: m.created_at),
    time_column("Last login", lambda m: m.last_login_at),
)

REQUEST_COLUMNS: tuple[Column[SignUpRequest], ...] = (
    Column("Username", lambda r: r.username or "—"),
    Column("Name", lambda r: r.name),
    Column("Email", lambda r: r.email),
    Column("Signed in with", lambda r: (r.auth_provider or "password").capitalize()),
    time_column("Asked", lambda r: r.created_at),
)


class MembersModel(RecordTableModel[Member]):
    columns = MEMBER_COLUMNS

    @staticmethod
    def key(row: Member) -> Hashable:
        return row.id

    def member_at(self, row: int) -> Member:
        return self._rows[row]


class RequestsModel(RecordTableModel[SignUpRequest]):
    columns = REQUEST_COLUMNS

    @staticmethod
    def key(row: SignUpRequest) -> Hashable:
        return row.id

    def request_at(self, row: int) -> SignUpRequest:
        return self._rows[row]
