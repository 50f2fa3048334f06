"""Stored strategies keep their meaning when ``percent=`` becomes ``fraction=``: only sizing calls' keywords change,
found by tokens, and migration 0013 rewrites every stored source (and back)."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import migrate
from core.db.engine import make_engine
from core.strategy.api_upgrade import downgrade_sizes, upgrade_sizes

OLD = '''\
class S(Strategy):
    """Buys percent=1.0 of cash: self.buy(percent=1.0) in a docstring stays."""

    def next(self, data):
        note = "self.buy(percent=1.0)"  # self.sell(percent=0.5) in a comment stays
        width = ta.bands(percent=3)  # another function's keyword stays
        self.buy(percent=0.5, limit=f(percent=2))  # the nested call's keyword stays
        self.order_target(
            percent=self.size,  # all
        )
        self.sell(shares=None, percent=\\
                  0.25)
        self.buy (percent = 0.1)
        self.other(percent=1)
        buy(percent=1)
        self.order_target(percent=g(1, 2)[0] if a else 0.3)
        text = f"{self.buy(percent=0.2)} percent={x}"
'''

NEW = '''\
class S(Strategy):
    """Buys percent=1.0 of cash: self.buy(percent=1.0) in a docstring stays."""

    def next(self, data):
        note = "self.buy(percent=1.0)"  # self.sell(percent=0.5) in a comment stays
        width = ta.bands(percent=3)  # another function's keyword stays
        self.buy(fraction=0.5, limit=f(percent=2))  # the nested call's keyword stays
        self.order_target(
            fraction=self.size,  # all
        )
        self.sell(shares=None, fraction=\\
                  0.25)
        self.buy (fraction = 0.1)
        self.other(percent=1)
        buy(percent=1)
        self.order_target(fraction=g(1, 2)[0] if a else 0.3)
        text = f"{self.buy(fraction=0.2)} percent={x}"
'''


def test_only_the_sizing_calls_keywords_are_renamed_and_nothing_else_changes():
    assert upgrade_sizes(OLD) == NEW


def test_the_downgrade_gives_the_original_back():
    assert downgrade_sizes(NEW) == OLD


def test_a_new_percent_is_kept_as_a_percent_by_the_downgrade():
    assert downgrade_sizes("self.buy(percent=10)\n") == "self.buy(percent=(10) / 100)\n"
    assert downgrade_sizes("self.buy(percent=10, limit=5)  # ten\n") == "self.buy(percent=(10) / 100, limit=5)  # ten\n"
    spread = "self.sell(\n    percent=p + 1  # some\n    ,\n)\n"
    assert downgrade_sizes(spread) == "self.sell(\n    percent=(p + 1) / 100  # some\n    ,\n)\n"
    ast.parse(downgrade_sizes(spread))


@pytest.mark.parametrize(
    "source",
    [
        "def broken(:\n    self.buy(percent=1.0)\n",  # an unclosed bracket: does not tokenize
        'self.buy(percent=1.0, tag="unterminated)\n',
        "",
        "x = 1\n",
    ],
)
def test_source_that_does_not_tokenize_or_has_nothing_to_do_is_left_as_it_is(source):
    assert upgrade_sizes(source) == source
    assert downgrade_sizes(source) == source


def test_the_rewritten_source_still_parses_and_keeps_its_line_endings():
    crlf = "class S(Strategy):\r\n    def next(self, d):\r\n        self.buy(percent=0.5)\r\n"
    assert upgrade_sizes(crlf) == crlf.replace("percent", "fraction")
    ast.parse(upgrade_sizes(OLD))


def test_the_migration_carries_the_same_rewrite_as_the_module():
    path = Path(migrate.__file__).resolve().parents[2] / "migrations" / "versions" / "0013_strategy_fraction.py"
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.upgrade_sizes(OLD) == NEW and module.downgrade_sizes(NEW) == OLD
    assert (module.revision, module.down_revision) == ("0013", "0012")


USER = "INSERT INTO users (email, username, password_hash) VALUES ('a@example.com', 'a', 'x') RETURNING id"


@pytest.fixture
def engine(scratch_url):
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def test_migration_0013_rewrites_stored_sources_and_its_downgrade_restores_them(engine):
    migrate.upgrade(engine, "0012")
    old = "class S(Strategy):\n    def next(self, d):\n        self.order_target(percent=1.0)  # percent= stays\n"
    new = old.replace("(percent=", "(fraction=")
    with engine.begin() as conn:
        user = conn.execute(text(USER)).scalar()
        strategy = conn.execute(
            text("INSERT INTO strategies (user_id, name, python_code) VALUES (:u, 'S', :c) RETURNING id"),
            {"u": user, "c": old},
        ).scalar()
        conn.execute(
            text("INSERT INTO strategy_versions (strategy_id, version, python_code) VALUES (:s, 1, :c)"),
            {"s": strategy, "c": old},
        )
        conn.execute(
            text(
                "INSERT INTO batch_jobs (user_id, name, status, total, strategy_snapshot, timeframe, start_at, "
                "end_at) VALUES (:u, 'b', 'queued', 1, CAST(:snap AS jsonb), '1Day', now(), now())"
            ),
            {"u": user, "snap": json.dumps({"class_name": "S", "source": old, "module": None})},
        )

    def stored() -> list[str]:
        with engine.connect() as conn:
            return [
                conn.execute(text("SELECT python_code FROM strategies")).scalar_one(),
                conn.execute(text("SELECT python_code FROM strategy_versions")).scalar_one(),
                conn.execute(text("SELECT strategy_snapshot->>'source' FROM batch_jobs")).scalar_one(),
            ]

    migrate.upgrade(engine, "0013")
    assert stored() == [new, new, new]
    migrate.downgrade(engine, "0012")
    assert stored() == [old, old, old]
