"""The world the escape techniques are let loose in: one per session (files, canary process, listeners)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.strategy.escape._world import SECRET_ENV, World


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("escape"))
    os.environ[SECRET_ENV] = made.env_secret  # pytest (the application here) holds a secret in its environment
    try:
        yield made
    finally:
        os.environ.pop(SECRET_ENV, None)
        made.close()
