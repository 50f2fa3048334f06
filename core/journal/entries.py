"""Journal entries: the trader's daily notes, with a type, a mood, tags and optionally the fill they are about.

Search is by text (every word given must appear in the content, case-insensitively: ILIKE, so partial
words and tickers match and nothing depends on a text-search dictionary), by tags (entries having all
the given tags), mood, type and date range (inclusive). Tags are stored trimmed, lower-case and without
repeats, so "FOMO" and "fomo " are one tag.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import cast

from core.db.models import Fill, JournalEntry, User
from core.journal._common import UNSET, bounded_text, utc
from core.journal.errors import InvalidJournalInput, NotFound

ENTRY_TYPES = ("daily", "pre_market", "post_market", "trade", "lesson", "weekly")  # suggestions, not a limit
MAX_TAG = 50
MAX_TAGS = 30


@dataclass(frozen=True)
class EntryView:
    id: uuid.UUID
    entry_date: date
    entry_type: str
    content: str
    mood: str | None
    tags: tuple[str, ...]
    fill_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


def _view(row: JournalEntry) -> EntryView:
    return EntryView(row.id, row.entry_date, row.entry_type, row.content, row.mood, tuple(row.tags or ()),
                     row.fill_id, utc(row.created_at), utc(row.updated_at))  # fmt: skip


def normalize_tags(tags: Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        raise InvalidJournalInput("Tags must be a list of words.")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidJournalInput("Each tag must be text.")
        clean = " ".join(tag.split()).lower()
        if not clean:
            continue
        if len(clean) > MAX_TAG:
            raise InvalidJournalInput(f"The tag {clean[:20]!r}... is longer than {MAX_TAG} characters.")
        if clean not in out:
            out.append(clean)
    if len(out) > MAX_TAGS:
        raise InvalidJournalInput(f"An entry can have at most {MAX_TAGS} tags.")
    return out


def _date(value: date) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidJournalInput("The entry date must be a date.")
    return value


def _own_fill(session: Session, user_id: uuid.UUID, fill_id: uuid.UUID | None) -> uuid.UUID | None:
    if fill_id is None:
        return None
    if session.scalar(select(Fill.id).where(Fill.id == fill_id, Fill.user_id == user_id)) is None:
        raise NotFound("No such fill.")
    return fill_id


def create_entry(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    entry_date: date,
    content: str,
    *,
    entry_type: str = "daily",
    mood: str | None = None,
    tags: Iterable[str] | None = None,
    fill_id: uuid.UUID | None = None,
) -> EntryView:
    """Write an entry. Raises InvalidJournalInput, NotFound (a fill that is not this user's, no such user)."""
    row = JournalEntry(
        id=uuid.uuid4(),
        user_id=user_id,
        entry_date=_date(entry_date),
        entry_type=bounded_text(entry_type, "The entry type", 30, required=True),
        content=bounded_text(content, "The entry", required=True),
        mood=bounded_text(mood, "The mood", 20),
        tags=normalize_tags(tags),
    )
    with session_factory() as s:
        if s.get(User, user_id) is None:
            raise NotFound("That account no longer exists.")
        row.fill_id = _own_fill(s, user_id, fill_id)
        s.add(row)
        s.commit()
        s.refresh(row)
        return _view(row)


def _own_entry(session: Session, user_id: uuid.UUID, entry_id: uuid.UUID) -> JournalEntry:
    row = session.scalar(
        select(JournalEntry).where(JournalEntry.id == entry_id, JournalEntry.user_id == user_id).with_for_update()
    )
    if row is None:
        raise NotFound("No such journal entry.")
    return row


def update_entry(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    entry_id: uuid.UUID,
    *,
    entry_date: date = UNSET,
    content: str = UNSET,
    entry_type: str = UNSET,
    mood: str | None = UNSET,
    tags: Iterable[str] | None = UNSET,
    fill_id: uuid.UUID | None = UNSET,
) -> EntryView:
    """Change the given fields of the user's entry (None clears mood or fill). Raises NotFound, InvalidJournalInput."""
    with session_factory() as s:
        row = _own_entry(s, user_id, entry_id)
        if entry_date is not UNSET:
            row.entry_date = _date(entry_date)
        if content is not UNSET:
            row.content = bounded_text(content, "The entry", required=True)  # type: ignore[assignment]
        if entry_type is not UNSET:
            row.entry_type = bounded_text(entry_type, "The entry type", 30, required=True)  # type: ignore[assignment]
        if mood is not UNSET:
            row.mood = bounded_text(mood, "The mood", 20)
        if tags is not UNSET:
            row.tags = normalize_tags(tags)
        if fill_id is not UNSET:
            row.fill_id = _own_fill(s, user_id, fill_id)
        s.commit()
        s.refresh(row)
        return _view(row)


def delete_entry(session_factory: sessionmaker[Session], user_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    """Delete the user's entry. Raises NotFound (also for another user's entry)."""
    with session_factory() as s:
        s.delete(_own_entry(s, user_id, entry_id))
        s.commit()


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_entries(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    text: str | None = None,
    tags: Iterable[str] | None = None,
    mood: str | None = None,
    entry_type: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    fill_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[EntryView]:
    """The user's entries matching every given filter, newest date first (one query)."""
    query = select(JournalEntry).where(JournalEntry.user_id == user_id)
    for word in (text or "").split():
        query = query.where(JournalEntry.content.ilike(_like(word), escape="\\"))
    wanted = normalize_tags(tags)
    if wanted:
        query = query.where(JournalEntry.tags.contains(cast(wanted, JSONB)))
    if mood is not None:
        query = query.where(func.lower(JournalEntry.mood) == mood.strip().lower())
    if entry_type is not None:
        query = query.where(JournalEntry.entry_type == entry_type.strip())
    if date_from is not None:
        query = query.where(JournalEntry.entry_date >= date_from)
    if date_to is not None:
        query = query.where(JournalEntry.entry_date <= date_to)
    if fill_id is not None:
        query = query.where(JournalEntry.fill_id == fill_id)
    query = query.order_by(JournalEntry.entry_date.desc(), JournalEntry.created_at.desc(), JournalEntry.id).limit(limit)
    with session_factory() as s:
        return [_view(r) for r in s.scalars(query)]


def get_entry(session_factory: sessionmaker[Session], user_id: uuid.UUID, entry_id: uuid.UUID) -> EntryView:
    with session_factory() as s:
        row = s.scalar(select(JournalEntry).where(JournalEntry.id == entry_id, JournalEntry.user_id == user_id))
        if row is None:
            raise NotFound("No such journal entry.")
        return _view(row)
