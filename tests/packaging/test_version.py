"""One version, pyproject.toml's, read back from the package metadata (or pyproject.toml itself)."""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import version

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    version.app_version.cache_clear()
    yield
    version.app_version.cache_clear()


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_version_is_pyprojects() -> None:
    assert version.app_version() == pyproject_version()
    assert version.version_from_pyproject(ROOT / "pyproject.toml") == pyproject_version()


def test_without_metadata_pyproject_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert version.app_version() == pyproject_version()


def test_without_either_the_version_is_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    monkeypatch.setattr(version, "PYPROJECT", tmp_path / "pyproject.toml")
    assert version.app_version() == version.UNKNOWN


def test_only_our_pyproject_counts(tmp_path: Path) -> None:
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "something-else"\nversion = "9.9"\n')
    assert version.version_from_pyproject(other) is None
    other.write_text("[project\nbroken")
    assert version.version_from_pyproject(other) is None
    other.write_text('[project]\nname = "stratforge"\nversion = "1.2.3"\n')
    assert version.version_from_pyproject(other) == "1.2.3"
