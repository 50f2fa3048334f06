"""A trader's risk limits as the settings dialog reads and writes them.

The limits themselves (what each bound means, how it is validated, the defaults for a balance) are
``core.accounts.risk_settings``; this service holds the database so the dialog is given a ``RiskLimitsStore``
instead of the session factory. Both methods block on PostgreSQL, so the dialog calls them on a worker thread.
A bound out of range raises ``InvalidRiskLimits`` with a sentence per field, as ``core.accounts.risk_settings``
does.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from core.accounts.risk_settings import RiskLimits, load_risk_limits, save_risk_limits


class RiskLimitsStore:
    """One database's risk limits, per trader."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load(self, user_id: uuid.UUID) -> RiskLimits:
        """The limits the ledger enforces for the trader: their saved ones, else the defaults for their balance."""
        return load_risk_limits(self._sessions, user_id)

    def save(self, user_id: uuid.UUID, limits: RiskLimits) -> RiskLimits:
        """Validate, store (switched on) and return the limits as stored."""
        return save_risk_limits(self._sessions, user_id, limits)
