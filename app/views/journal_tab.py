"""What every Journal tab shares with the panel that hosts it.

A tab never touches the database itself: it says what to load (``loader()``, read on the GUI thread, returns a
blocking function of the ``Journal`` service and the user id for a worker thread) and how to show the result
(``show_data``). The panel runs the loaders of all tabs in one worker call on ``refresh()``, or one tab's alone
when its filters change (``JournalHost.reload``), and drops a result that a newer load of the same tab has
overtaken. Actions (save, import, delete) go through ``JournalHost.run``, which shows a ``JournalError`` in red
as the trader's message and anything else as a short line with the trace behind it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtWidgets import QWidget

from core.services.journal import Journal

Loader = Callable[[Journal, uuid.UUID], Any]


class JournalHost(Protocol):
    def run(
        self,
        what: str,
        fn: Callable[..., Any],
        /,
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[Exception], None] | None = None,
        action: bool = True,
        **kwargs: Any,
    ) -> None:
        """Run ``fn(journal, user_id, *args, **kwargs)`` on a worker thread (``fn`` is usually a ``Journal``
        method, e.g. ``Journal.delete_entry``), then ``done(result)`` on the GUI thread (if the panel still
        exists). ``what`` completes "Could not …" in an unexpected error's message; ``action`` (a trader's click,
        not a load) clears the previous error first."""
        ...

    def reload(self, tab: JournalTab) -> None:
        """Load just this tab again (its filters changed)."""
        ...

    def refresh(self) -> None:
        """Reload every tab (after something that changes several: an import, a saved context)."""
        ...

    def show_status(self, text: str) -> None: ...


class JournalTab(QWidget):
    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host

    def loader(self) -> Loader:
        """Read the tab's filters now (GUI thread) and return the blocking load for a worker thread."""
        raise NotImplementedError

    def show_data(self, data: Any) -> None:
        """Show what ``loader()``'s function returned (GUI thread)."""
        raise NotImplementedError
