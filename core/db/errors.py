"""Database errors whose ``str()`` is a message a trader can act on."""

from __future__ import annotations


class DatabaseError(Exception):
    """The database could not be opened or used; the message says why and what to do."""


class DataFolderInUse(DatabaseError):
    """Another StratForge process owns this data folder's embedded database."""


class EmbeddedDatabaseFailed(DatabaseError):
    """The embedded PostgreSQL did not start."""


class SchemaOutOfDate(DatabaseError):
    """A shared database is not at the schema revision this build expects."""


class DatabaseUnreachable(DatabaseError):
    """The configured PostgreSQL server did not answer."""
