"""StratForge's client order id carried in Kite's order ``tag``.

Kite's tag is at most 20 alphanumeric characters; our client order ids are longer (``sf-`` + 32 hex digits). The
tag is therefore derived, not stored: ``sf`` + the first 18 hex digits of the id's SHA-256 (72 bits, so two of a
trader's orders sharing one is out of reach), which lets ``get_order_by_client_id`` find an order from the id alone,
even after a restart. The reverse direction (a tag seen in the order book back to our id) needs the mapping kept
here, learned when we place or look up an order, or handed in with ``remember``.
"""

from __future__ import annotations

import hashlib
import threading

TAG_PREFIX = "sf"
TAG_LENGTH = 20  # Kite's limit


def tag_for(client_order_id: str) -> str:
    digest = hashlib.sha256(client_order_id.encode("utf-8")).hexdigest()
    return TAG_PREFIX + digest[: TAG_LENGTH - len(TAG_PREFIX)]


class TagBook:
    """tag -> client order id, for the ids this process placed or was told about. Thread-safe."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember(self, client_order_id: str) -> str:
        tag = tag_for(client_order_id)
        with self._lock:
            self._ids[tag] = client_order_id
        return tag

    def client_order_id(self, tag: str | None) -> str:
        """Our id for ``tag``; an order we did not place (or whose id we were not told) keeps its tag, or ''."""
        if not tag:
            return ""
        with self._lock:
            return self._ids.get(tag, tag)
