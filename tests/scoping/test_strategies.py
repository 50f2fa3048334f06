"""A saved strategy is its owner's: another trader can neither open, list the versions of, archive nor save
over it, through the library or the editor's service."""

from __future__ import annotations

import uuid

from core.services.strategy_drafts import StrategyDrafts
from core.strategy.library import (
    LibraryError,
    StrategyDraft,
    archive_strategy,
    load_strategy,
    save_strategy,
    versions,
)
from tests.backtest.test_sandboxed_backtest import CROSS
from tests.scoping.rows import saved_strategy

CHANGED = StrategyDraft("Hijacked", CROSS.replace("Cross", "Crossed"))


def test_save_strategy_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    message = refused(LibraryError, lambda: save_strategy(sessions, bob, CHANGED, strategy_id=theirs.id),
                      lambda: save_strategy(sessions, bob, CHANGED, strategy_id=uuid.uuid4()))  # fmt: skip
    assert message == "no such strategy"


def test_load_strategy_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    refused(LibraryError, lambda: load_strategy(sessions, bob, theirs.id),
            lambda: load_strategy(sessions, bob, uuid.uuid4()))  # fmt: skip


def test_versions_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    refused(LibraryError, lambda: versions(sessions, bob, theirs.id), lambda: versions(sessions, bob, uuid.uuid4()))


def test_archive_strategy_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    refused(LibraryError, lambda: archive_strategy(sessions, bob, theirs.id),
            lambda: archive_strategy(sessions, bob, uuid.uuid4()))  # fmt: skip


def test_strategy_drafts_open_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    drafts, theirs = StrategyDrafts(sessions), saved_strategy(sessions, ann)
    refused(LibraryError, lambda: drafts.open(bob, theirs.id), lambda: drafts.open(bob, uuid.uuid4()))


def test_strategy_drafts_versions_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    drafts, theirs = StrategyDrafts(sessions), saved_strategy(sessions, ann)
    refused(LibraryError, lambda: drafts.versions(bob, theirs.id), lambda: drafts.versions(bob, uuid.uuid4()))


def test_strategy_drafts_archive_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    drafts, theirs = StrategyDrafts(sessions), saved_strategy(sessions, ann)
    refused(LibraryError, lambda: drafts.archive(bob, theirs.id), lambda: drafts.archive(bob, uuid.uuid4()))


def test_strategy_drafts_save_refuses_another_traders_strategy(db, sessions, ann, bob, answered_as_missing) -> None:
    drafts, theirs = StrategyDrafts(sessions), saved_strategy(sessions, ann)
    outcome = answered_as_missing(lambda: drafts.save(bob, CHANGED, strategy_id=theirs.id).error,
                                  lambda: drafts.save(bob, CHANGED, strategy_id=uuid.uuid4()).error)  # fmt: skip
    assert outcome == "no such strategy"
