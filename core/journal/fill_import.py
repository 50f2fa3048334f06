"""Importing a broker's fills export into the journal: all the file's good rows in one transaction, or none.

Imported fills are ``source = 'csv_import'`` rows of ``fills``, immutable like the ledger's, sharing one
``import_batch_id``. They never touch the virtual account: the ledger's cash, positions, day P&L, equity
curve and risk limits read only ``source = 'ledger'`` fills. The journal (campaigns, checks, statistics)
reads every fill, so the trader's campaigns are rebuilt in the same transaction.

Re-importing a file adds nothing: every row has a stable execution id (see ``csv_fills``) and
``(user_id, execution_id)`` is unique, so rows already stored are reported as duplicates. A row that cannot
be read is rejected with its row number and reason, and the others still land (fix the file and import it
again: only the fixed rows are new); with ``strict=True`` any rejected row keeps the whole file out.

Execution ids are namespaced by the broker label (``csv:...``), never a broker's raw id: the ledger books a
fill with ``ON CONFLICT DO NOTHING`` on ``(user_id, execution_id)``, so an imported row holding the raw id of
an execution the ledger has yet to book would make the ledger skip that real fill.

Rows are stamped ``created_at`` = the import's start plus their position in the file in microseconds, so
fills with equal ``executed_at`` replay in file order (the journal orders by executed_at, then created_at).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Fill, User
from core.journal._common import lock_user_journal
from core.journal.campaign_store import rebuild_in_session
from core.journal.csv_fills import ParsedFile, RejectedRow, parse_fills_csv
from core.journal.errors import FillImportError, NotFound
from core.market.file_reading import BarFileError, read_text_file

CSV_SOURCE = "csv_import"
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class FillImportReport:
    """What one import did. ``rows_read == imported + duplicates + rejected``."""

    import_batch_id: uuid.UUID | None  # None when nothing was stored
    rows_read: int
    imported_rows: tuple[int, ...]
    duplicate_rows: tuple[int, ...]  # in the journal already, or repeated inside the file
    rejected_rows: tuple[RejectedRow, ...]
    fill_ids: tuple[uuid.UUID, ...]  # of the imported rows, in file order
    refused: bool = False  # strict import with rejected rows: nothing was stored

    @property
    def imported(self) -> int:
        return len(self.imported_rows)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_rows)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    def summary(self) -> str:
        """One line for a status bar, e.g. ``12 fills imported, 3 duplicates skipped, 1 rejected``."""
        line = (
            f"{self.imported:,} fill{'s' if self.imported != 1 else ''} imported, "
            f"{self.duplicates:,} duplicate{'s' if self.duplicates != 1 else ''} skipped, "
            f"{self.rejected:,} rejected"
        )
        if self.refused:
            line += " (strict import: nothing stored because rows were rejected)"
        return line


def import_fills_csv(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    path: str | os.PathLike[str],
    *,
    broker: str = "csv",
    strict: bool = False,
    now: datetime | None = None,
) -> FillImportReport:
    """Import a CSV file of fills for ``user_id`` (blocking: a worker thread).

    ``broker`` labels the fills and namespaces their execution ids (import the same broker's files under
    the same label). Raises FillImportError (nothing stored) for an unreadable file or a missing column,
    NotFound for an unknown user."""
    path = Path(path)
    try:  # the bar imports' reader: UTF-8/UTF-16/cp1252 told apart, binary refused, gzip capped
        text = read_text_file(path, max_bytes=MAX_FILE_BYTES).text
    except BarFileError as exc:
        raise FillImportError(f"{exc}.") from None
    except OSError as exc:
        raise FillImportError(f"Cannot read {path.name}: {exc}") from exc
    return import_fills_text(session_factory, user_id, text, broker=broker, strict=strict, now=now)


def import_fills_text(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    text: str,
    *,
    broker: str = "csv",
    strict: bool = False,
    now: datetime | None = None,
) -> FillImportReport:
    """As ``import_fills_csv``, from the file's text (pasted, or read elsewhere)."""
    now = now or datetime.now(UTC)
    broker_label = broker.strip()[:100] or "csv"
    parsed = parse_fills_csv(text, broker=broker_label, now=now)
    if strict and parsed.rejected:
        return FillImportReport(None, parsed.rows_read, (), parsed.duplicate_rows, parsed.rejected, (), True)
    with session_factory() as s:
        if s.scalar(select(User.id).where(User.id == user_id)) is None:
            raise NotFound("That account no longer exists.")
        lock_user_journal(s, user_id)
        batch_id = uuid.uuid4()
        inserted = _insert(s, user_id, parsed, batch_id, broker_label, now)
        if inserted:
            rebuild_in_session(s, user_id)
        s.commit()
    imported = [f for f in parsed.fills if f.execution_id in inserted]
    stored_before = [f.row for f in parsed.fills if f.execution_id not in inserted]
    return FillImportReport(
        import_batch_id=batch_id if imported else None,
        rows_read=parsed.rows_read,
        imported_rows=tuple(f.row for f in imported),
        duplicate_rows=tuple(sorted((*parsed.duplicate_rows, *stored_before))),
        rejected_rows=parsed.rejected,
        fill_ids=tuple(inserted[f.execution_id] for f in imported),
    )


def _insert(
    session: Session, user_id: uuid.UUID, parsed: ParsedFile, batch_id: uuid.UUID, broker: str, now: datetime
) -> dict[str, uuid.UUID]:
    """Insert the rows not stored yet; returns execution id -> new fill id of those inserted."""
    if not parsed.fills:
        return {}
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "execution_id": f.execution_id,
            "broker_order_id": f.broker_order_id,
            "symbol": f.symbol,
            "side": f.side,
            "quantity": f.quantity,
            "price": f.price,
            "fees": f.fees,
            "executed_at": f.executed_at,
            "broker": broker,
            "source": CSV_SOURCE,
            "import_batch_id": batch_id,
            "raw_data": {"row": f.row, "values": f.raw},
            "created_at": now + timedelta(microseconds=i),
        }
        for i, f in enumerate(parsed.fills)
    ]
    inserted: dict[str, uuid.UUID] = {}
    for start in range(0, len(rows), 1000):
        stmt = (
            insert(Fill)
            .values(rows[start : start + 1000])
            .on_conflict_do_nothing(index_elements=[Fill.user_id, Fill.execution_id])
            .returning(Fill.execution_id, Fill.id)
        )
        inserted.update({execution_id: fill_id for execution_id, fill_id in session.execute(stmt)})
    return inserted
