"""Runtime settings read from the environment.

One place decides where the data folder is and which database to use, so the
app, the CLI, the tests and the benchmarks all agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "StratForge"
DATABASE_URL_ENV = "STRATFORGE_DATABASE_URL"
DATA_DIR_ENV = "STRATFORGE_DATA_DIR"
# Alpaca keys for command-line tools, under alpaca-py's own variable names.
ALPACA_KEY_ENV, ALPACA_SECRET_ENV = "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"


def default_data_dir() -> Path:
    """The per-user data folder (platformdirs), overridable by STRATFORGE_DATA_DIR."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Where StratForge keeps its data and which PostgreSQL it talks to.

    ``database_url`` None means: run the embedded PostgreSQL inside ``data_dir``.
    """

    data_dir: Path
    database_url: str | None

    @classmethod
    def from_env(cls, data_dir: Path | None = None, database_url: str | None = None) -> Settings:
        url = database_url if database_url is not None else os.environ.get(DATABASE_URL_ENV) or None
        return cls(data_dir=Path(data_dir) if data_dir is not None else default_data_dir(), database_url=url)
