"""The embedded PostgreSQL: starts in the data folder, keeps data across restarts, has one owner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.accounts import AccountService
from core.config import Settings
from core.db import migrate
from core.db.database import open_database
from core.db.embedded import EmbeddedPostgres
from core.db.errors import DataFolderInUse

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Tr4ding-Pass-2026"


def test_embedded_database_starts_migrates_and_survives_a_restart(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=None)
    first = open_database(settings)
    try:
        assert first.mode == "embedded"
        assert first.cold_start is True
        assert first.ping()
        assert migrate.current_revision(first.engine) == migrate.head_revision()
        AccountService(first.session_factory).sign_up("solo@example.com", "solo", PASSWORD)
    finally:
        first.close()
    assert not first.ping()  # closed means stopped, not merely disconnected
    assert not (tmp_path / "db" / "postgres" / "postmaster.pid").exists()

    second = open_database(settings)
    try:
        assert second.cold_start is False
        assert AccountService(second.session_factory).log_in("solo", PASSWORD).user.email == "solo@example.com"
    finally:
        second.close()


def test_a_second_owner_is_refused_cleanly_in_process(tmp_path):
    owner = EmbeddedPostgres(tmp_path)
    owner.start()
    try:
        with pytest.raises(DataFolderInUse, match="already running"):
            EmbeddedPostgres(tmp_path).start()
        intruder = EmbeddedPostgres(tmp_path)
        with pytest.raises(DataFolderInUse):
            intruder.start()
        intruder.stop()  # stopping a refused instance must not touch the owner's server
        assert (tmp_path / "postgres" / "postmaster.pid").exists()
    finally:
        owner.stop()


def test_a_second_app_process_is_refused_and_the_first_keeps_working(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=None)
    db = open_database(settings)
    try:
        script = textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from core.config import Settings
            from core.db.database import open_database
            from core.db.errors import DataFolderInUse
            try:
                open_database(Settings(data_dir=Path({str(tmp_path)!r}), database_url=None))
            except DataFolderInUse as exc:
                print(exc)
                sys.exit(3)
            sys.exit(0)
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 3, proc.stderr
        assert "Another StratForge is already running" in proc.stdout
        assert db.ping()
        AccountService(db.session_factory).sign_up("still@example.com", "still", PASSWORD)
    finally:
        db.close()


def test_a_crashed_owner_leaves_a_folder_the_next_start_can_take_over(tmp_path):
    """A process killed without cleanup leaves its server running and its pid listed; the next owner copes."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from core.db.embedded import EmbeddedPostgres
        EmbeddedPostgres(Path({str(tmp_path)!r})).start()
        os._exit(0)  # no atexit, no stop: like a crash
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=120, check=True)
    assert (tmp_path / "postgres" / "postmaster.pid").exists()  # the orphaned server still runs
    server = EmbeddedPostgres(tmp_path)
    info = server.start()
    assert info.initialized is False
    server.stop()
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
