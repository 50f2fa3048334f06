"""The services run against the same PostgreSQL, users and ManualBroker-backed ledger as the journal's tests."""

from tests.journal.conftest import broker, ledger, make_user, prices, sessions, trade  # noqa: F401
