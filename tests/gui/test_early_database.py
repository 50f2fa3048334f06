"""The embedded database opened on a thread while the app imports: taken by the session, or closed if it is not."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app import early_database
from core.config import DATABASE_URL_ENV, Settings


class FakeDatabase:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.closed = False
        self.opened_on = threading.current_thread().name

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def nothing_pending(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    early_database.discard()
    yield
    early_database.discard()


def opener(log: list[FakeDatabase]):
    def open_db(settings: Settings) -> FakeDatabase:
        database = FakeDatabase(settings)
        log.append(database)
        return database

    return open_db


def test_the_session_gets_the_database_opened_early_on_another_thread(tmp_path: Path) -> None:
    opened: list[FakeDatabase] = []
    early_database.begin(["--data-dir", str(tmp_path)], open_db=opener(opened))
    take = early_database.take(Settings(data_dir=tmp_path, database_url=None))
    assert take is not None
    database = take(Settings(data_dir=tmp_path, database_url=None))
    assert database is opened[0] and database.opened_on == "stratforge-early-database"
    early_database.discard()
    assert not database.closed  # the session's to close now
    assert len(opened) == 1


def test_an_early_database_nobody_took_is_closed(tmp_path: Path) -> None:
    opened: list[FakeDatabase] = []
    early_database.begin(["--data-dir", str(tmp_path)], open_db=opener(opened))
    early_database.discard()  # the app stopped before its session opened a database
    assert len(opened) == 1 and opened[0].closed


def test_other_settings_get_no_early_database_and_it_is_closed(tmp_path: Path) -> None:
    opened: list[FakeDatabase] = []
    early_database.begin(["--data-dir", str(tmp_path / "a")], open_db=opener(opened))
    assert early_database.take(Settings(data_dir=tmp_path / "b", database_url=None)) is None
    assert opened and opened[0].closed


def test_a_shared_database_is_never_opened_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[FakeDatabase] = []
    early_database.begin(["--database-url", "postgresql://club/db"], open_db=opener(opened))
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://club/db")
    early_database.begin(["--data-dir", str(tmp_path)], open_db=opener(opened))
    assert early_database.take(Settings(data_dir=tmp_path, database_url=None)) is None
    assert opened == []


def test_a_failed_early_open_reaches_the_session_as_the_open_error(tmp_path: Path) -> None:
    def failing(settings: Settings) -> FakeDatabase:
        raise RuntimeError("the data folder is in use")

    early_database.begin(["--data-dir", str(tmp_path)], open_db=failing)
    take = early_database.take(Settings(data_dir=tmp_path, database_url=None))
    assert take is not None
    with pytest.raises(RuntimeError, match="in use"):
        take(Settings(data_dir=tmp_path, database_url=None))
