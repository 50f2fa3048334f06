"""The club admin's member management as the app's Admin panel uses it.

The work itself (approving a sign-up request, disabling a member, resetting a balance) is
``core.accounts.admin.ClubAdmin``, which the command line calls too; this service holds the database so the panel is
given a ``MemberAdmin`` instead of a session factory (the app never imports SQLAlchemy), and reads the members and
the waiting requests in one call per refresh. Every method blocks on PostgreSQL: the panel calls them on worker
threads. A refusal raises ``AdminError`` (or another ``AccountError``) whose text is shown as is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from core.accounts.admin import AdminError, ClubAdmin, Member, SignUpRequest

__all__ = ["AdminError", "AdminOverview", "Member", "MemberAdmin", "SignUpRequest"]


@dataclass(frozen=True)
class AdminOverview:
    """What the Admin panel shows: every member, and the sign-up requests waiting for a decision."""

    members: tuple[Member, ...]
    requests: tuple[SignUpRequest, ...]


class MemberAdmin:
    """One database's members, managed by its admin (a club's admin role, or a solo database's owner)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._admin = ClubAdmin(sessions)

    def overview(self) -> AdminOverview:
        return AdminOverview(tuple(self._admin.list_users()), tuple(self._admin.list_requests()))

    def approve(self, request_id: uuid.UUID) -> Member:
        return self._admin.approve(request_id)

    def reject(self, request_id: uuid.UUID) -> SignUpRequest:
        return self._admin.reject(request_id)

    def disable(self, user_id: uuid.UUID) -> Member:
        return self._admin.disable(user_id)

    def enable(self, user_id: uuid.UUID) -> Member:
        return self._admin.enable(user_id)

    def reset_balance(self, user_id: uuid.UUID, amount: Decimal) -> Member:
        return self._admin.reset_balance(user_id, amount)
