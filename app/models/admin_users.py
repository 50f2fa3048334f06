"""The Admin panel's two tables: the members (state, role, virtual balance) and the waiting sign-up requests."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime

from app.models.positions_model import Column, RecordTableModel, format_money, format_time
from core.services.admin import Member, SignUpRequest


def _utc(value: datetime | None) -> str:
    return format_time(value.astimezone(UTC) if value is not None else None)


MEMBER_COLUMNS: tuple[Column[Member], ...] = (
    Column("Username", lambda m: m.username),
    Column("Email", lambda m: m.email),
    Column("Role", lambda m: m.role),
    Column("State", lambda m: "active" if m.active else "disabled"),
    Column("Virtual balance", lambda m: m.virtual_balance, format_money),
    Column("Joined (UTC)", lambda m: m.created_at, _utc),
    Column("Last login (UTC)", lambda m: m.last_login_at, _utc),
)

REQUEST_COLUMNS: tuple[Column[SignUpRequest], ...] = (
    Column("Username", lambda r: r.username or "—"),
    Column("Name", lambda r: r.name),
    Column("Email", lambda r: r.email),
    Column("Asked (UTC)", lambda r: r.created_at, _utc),
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
