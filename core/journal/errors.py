"""Journal errors; ``str(error)`` is the message shown to the trader as is."""

from __future__ import annotations


class JournalError(Exception):
    """Base class: the journal could not do what was asked."""


class NotFound(JournalError):
    """No such fill, decision context, entry, order or strategy *of this user*.

    Another user's row is reported exactly like a missing one, so a trader cannot learn that it exists.
    """


class AlreadyAttached(JournalError):
    """The fill already has its decision context (one per fill); edit that one instead."""


class InvalidJournalInput(JournalError, ValueError):
    """A field is empty, too long, of the wrong kind or outside its allowed values."""


class FillImportError(JournalError):
    """The whole file was refused (unreadable, no header, a required column missing); nothing was stored."""
