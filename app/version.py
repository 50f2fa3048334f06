"""StratForge's version: the one in pyproject.toml, read from the installed package's metadata.

pyproject's ``[project] version`` is the only place it is written. An installed StratForge (pip, an editable
install, the frozen bundle, which carries the distribution's metadata) reads it back through
``importlib.metadata``; a source tree that was never installed reads pyproject.toml itself. Neither imports Qt.
"""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from pathlib import Path

DISTRIBUTION = "stratforge"
UNKNOWN = "0+unknown"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@functools.cache
def app_version() -> str:
    """``0.1.0``, say; ``0+unknown`` only when neither the metadata nor pyproject.toml can be read."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return version_from_pyproject(PYPROJECT) or UNKNOWN


def version_from_pyproject(path: Path) -> str | None:
    """The ``[project] version`` of a pyproject.toml naming this distribution, or None."""
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION or not isinstance(project.get("version"), str):
        return None
    return project["version"]
