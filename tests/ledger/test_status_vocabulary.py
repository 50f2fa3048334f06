"""The booking function's status vocabulary is the domain's: its terminal set and its ranking agree with Python.

``sf_apply_event`` (core/ledger/sql/sf_apply_event.sql, which tests/db/test_ledger_sql_sources.py holds equal to
the database's) ranks an open order's statuses so a late report never moves an order back; the Python ledger ranks
them for cancels. Both must be the one ranking in ``core.domain.orders``.
"""

from __future__ import annotations

import re
from importlib import resources

from core.domain.orders import LEDGER_STATUS_RANK, OPEN_LEDGER_STATUSES, TERMINAL_LEDGER_STATUSES, LedgerOrderStatus

SQL = resources.files("core.ledger").joinpath("sql/sf_apply_event.sql").read_text()


def test_every_status_the_function_writes_is_a_ledger_status() -> None:
    written = set(re.findall(r"v_target := '([a-z_]+)'", SQL)) | set(re.findall(r"THEN '([a-z_]+)' ELSE status", SQL))
    assert written, "the status assignments of sf_apply_event changed shape"
    assert written <= {s.value for s in LedgerOrderStatus}


def test_the_functions_terminal_set_is_every_status_that_is_not_open() -> None:
    terminal = {s.value for s in TERMINAL_LEDGER_STATUSES}
    assert terminal == {s.value for s in LedgerOrderStatus} - {s.value for s in OPEN_LEDGER_STATUSES}
    groups = re.findall(r"NOT IN \(([^)]*)\)|v_target IN \(([^)]*)\)", SQL)
    assert len(groups) >= 3, "the terminal-status tests of sf_apply_event changed shape"
    for group in groups:
        text = next(g for g in group if g)
        assert set(re.findall(r"'([a-z_]+)'", text)) == terminal


def test_the_functions_ranking_of_open_statuses_is_the_domains() -> None:
    case = re.search(r"CASE o\.status((?:\s+WHEN '[a-z_]+' THEN \d+)+)\s+ELSE (\d+) END", SQL)
    assert case is not None, "the ranking CASE of sf_apply_event changed shape"
    ranked = {status: int(rank) for status, rank in re.findall(r"WHEN '([a-z_]+)' THEN (\d+)", case.group(1))}
    otherwise = int(case.group(2))
    for status in OPEN_LEDGER_STATUSES:
        assert ranked.get(status.value, otherwise) == LEDGER_STATUS_RANK[status], status
