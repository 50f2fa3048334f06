"""SnapTrade fixtures: one local stand-in for the module (emptied before each test), the brokerage service pointed
at it with short deadlines, and traders made through the real accounts service."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from core.accounts import AccountService
from core.accounts.credential_vault import CredentialVault, KeyringKeySource
from core.accounts.snaptrade_keys import CLIENT_ID_ENV, CONSUMER_KEY_ENV, SnapTradeKeyStore
from core.db.database import Database
from core.services.brokerage_sync import BrokerageSync
from tests.gui.conftest import gui_thread_garbage_collection, qasync_loop, runner  # noqa: F401 - for the panel's tests
from tests.snaptrade.standin import CLIENT_ID, CONSUMER_KEY, SnapTradeStandIn

PASSWORD = "Tr4ding-Pass-2026"
READ_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def running_standin() -> Iterator[SnapTradeStandIn]:
    standin = SnapTradeStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def standin(running_standin: SnapTradeStandIn) -> SnapTradeStandIn:
    running_standin.reset()
    return running_standin


def key_store(client_id: str = CLIENT_ID, consumer_key: str = CONSUMER_KEY) -> SnapTradeKeyStore:
    return SnapTradeKeyStore({CLIENT_ID_ENV: client_id, CONSUMER_KEY_ENV: consumer_key})


def make_service(db_sessions, standin: SnapTradeStandIn, *, keys: SnapTradeKeyStore | None = None,
                 read_timeout_s: float = READ_TIMEOUT_S) -> BrokerageSync:  # fmt: skip
    return BrokerageSync(
        db_sessions,
        keys=keys or key_store(),
        vault=CredentialVault(KeyringKeySource()),  # the in-memory keyring every test gets
        host=standin.host,
        connect_timeout_s=2.0,
        read_timeout_s=read_timeout_s,
    )


@pytest.fixture
def brokerage(db: Database, standin: SnapTradeStandIn) -> BrokerageSync:
    return make_service(db.session_factory, standin)


@pytest.fixture
def make_user(db: Database, accounts: AccountService) -> Callable[[str], uuid.UUID]:
    def make(name: str) -> uuid.UUID:
        return accounts.sign_up(f"{name}@example.com", name, PASSWORD).id

    return make
