"""Advisory-lock keys shared by every client of one database.

Club members' apps coordinate through PostgreSQL advisory locks (the one stream
holder, the shared request budget, one writer per bar series). The key must be
the same on every machine and every Python run, so it is derived from a name
with SHA-256 rather than Python's per-process ``hash``.
"""

from __future__ import annotations

import hashlib


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
