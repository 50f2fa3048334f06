"""Shared fixtures: a real PostgreSQL for every database test.

By default an embedded PostgreSQL (the one the app ships) is started in a
temporary folder for the test session; set STRATFORGE_TEST_DATABASE_URL to run
against another server instead. Each test session works in its own scratch
database, created here and dropped at the end.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything can create a QApplication

# No test reaches the internet, even through an SDK that calls out on its own (smartapi-python asks api.ipify.org
# for the public IP when imported; others fetch instrument masters): every proxy-aware client (requests, urllib,
# httpx, websockets) is sent to a closed local port, so such a call fails at once instead of leaving the machine.
# Local stand-ins on the loopback addresses bypass the proxy.
os.environ.update(
    {name: "http://127.0.0.1:9" for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")}
    | {"NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
)

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from core.accounts import AccountService
from core.ai import GeminiSettings
from core.config import Settings
from core.db import migrate
from core.db.base import Base
from core.db.club_roles import role_prefix
from core.db.database import Database, open_database
from core.db.embedded import EmbeddedPostgres
from core.db.engine import make_engine
from tests.ai.gemini_standin import GeminiStandIn
from tests.alpaca_standin import AlpacaStandIn
from tests.keyrings import MemoryKeyring, use_keyring
from tests.pg import create_scratch_database, drop_database

TEST_DATABASE_URL_ENV = "STRATFORGE_TEST_DATABASE_URL"

# The property-based tests explore afresh on a developer's run; under CI they replay one fixed sequence, so a failure
# they find is reported by a developer's run (with its reproduction blob) instead of turning main red by chance.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


# The password-checking PostgreSQL for club log-ins (started once per run, by the first test that asks for it).
pytest_plugins = ["tests.accounts.conftest_scram"]


@pytest.fixture(autouse=True)
def keyring_backend() -> Iterator[MemoryKeyring]:
    """Tests never touch the developer's real OS keyring: each gets an empty in-memory one."""
    with use_keyring(MemoryKeyring()) as backend:
        yield backend


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server on which tests may create and drop databases."""
    given = os.environ.get(TEST_DATABASE_URL_ENV)
    if given:
        yield given
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg"))
    server.start()
    try:
        assert server.admin_url is not None
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database opened the way a club member's app opens the shared one."""
    url = create_scratch_database(pg_admin_url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    migrate.upgrade(engine)
    engine.dispose()
    db = open_database(Settings(data_dir=Path(tmp_path_factory.mktemp("data")), database_url=url))
    try:
        yield db
    finally:
        db.close()
        drop_database(pg_admin_url, url)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The session database, emptied after the test so tests never see each other's rows."""
    yield database
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    for attempt in range(5):
        try:
            with database.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} CASCADE"))
                _drop_member_roles(conn)
            return
        except DBAPIError as exc:
            # A panel's background thread may still be reading when the test ends; PostgreSQL then picks one side
            # of the lock cycle to fail. The reader finishes, so the truncate succeeds when tried again.
            if not isinstance(exc.orig, psycopg.errors.DeadlockDetected) or attempt == 4:
                raise
            time.sleep(0.2)


def _drop_member_roles(conn: Connection) -> None:
    """Members' login roles belong to the server, not to the tables just emptied: drop them too, so a later test may
    approve a member of the same name."""
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    prefix = role_prefix(database) + "_u_"
    for (name,) in conn.execute(text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"), {"p": prefix}):
        conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


@pytest.fixture
def accounts(db: Database) -> AccountService:
    return AccountService(db.session_factory)


@pytest.fixture
def scratch_url(pg_admin_url: str) -> Iterator[str]:
    """An empty database of its own, for tests that migrate up and down."""
    url = create_scratch_database(pg_admin_url, prefix="sf_scratch")
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def alpaca(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlpacaStandIn]:
    """A fresh local Alpaca stand-in; loopback traffic must bypass any proxy the machine sets."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with AlpacaStandIn() as server:
        yield server


# --- the Gemini stand-in (tests/strategy/ai, tests/gui/test_ai_assistant.py) ---------------------------------
# Environment variables that could send google-genai elsewhere (a proxy, Vertex AI, another API version) or hand
# it a developer's own key: removed wherever the stand-in is used, so no test reaches the internet.
GEMINI_REDIRECTING_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_HTTP_CLIENT", "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION", "GOOGLE_API_USE_MTLS_ENDPOINT",
)  # fmt: skip


@pytest.fixture
def no_gemini_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GEMINI_REDIRECTING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def gemini(no_gemini_redirects: None) -> Iterator[GeminiStandIn]:
    """A scripted Gemini API on loopback (the real google-genai client talks to it)."""
    with GeminiStandIn() as standin:
        yield standin


@pytest.fixture
def gemini_settings(gemini: GeminiStandIn) -> GeminiSettings:
    """Short timeouts and a short smoke series, so that a test takes a second or two, not a minute."""
    return GeminiSettings(base_url=gemini.base_url, timeout_s=10.0, smoke_bars=1_000, smoke_cpu_s=10.0)
