"""A trader links a brokerage through SnapTrade and its trades land in the journal once, against the local stand-in
(which checks every request's signature, client id, timestamp and user secret as SnapTrade does)."""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.accounts.credential_vault import CredentialSlot, CredentialVault, KeyringKeySource, StaticKeySource
from core.accounts.snaptrade_keys import HOW_TO_CONFIGURE, SnapTradeKeyStore
from core.db.database import Database
from core.db.models import BrokerConnection, CampaignFill, Fill, Position, User
from core.services.brokerage_sync import BrokerageError, BrokerageSync
from tests.snaptrade.conftest import key_store, make_service
from tests.snaptrade.helpers import link, linked_with_trades
from tests.snaptrade.standin import DISABLED, SERVER_ERROR, activity

D = Decimal


def fills_of(db: Database, user_id: uuid.UUID) -> list[Fill]:
    with db.session_factory() as s:
        return list(s.scalars(select(Fill).where(Fill.user_id == user_id).order_by(Fill.executed_at)))


def row_of(db: Database, user_id: uuid.UUID) -> BrokerConnection:
    with db.session_factory() as s:
        return s.scalars(select(BrokerConnection).where(BrokerConnection.user_id == user_id)).one()


def test_linking_registers_the_trader_once_and_keeps_the_user_secret_sealed(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = link(brokerage, standin, ann)
    brokerage.link(ann)  # linking again asks SnapTrade nothing

    assert len(list(standin.requests_to("/snapTrade/registerUser"))) == 1
    row = row_of(db, ann)
    assert (row.broker, row.external_user_id, row.is_paper) == ("snaptrade", snap.user_id, False)
    assert snap.user_id.startswith("stratforge-") and str(ann) not in snap.user_id  # not the StratForge id
    assert row.credentials_encrypted is not None
    assert snap.secret.encode() not in row.credentials_encrypted
    with db.engine.connect() as conn:  # nowhere in the row's text either
        text = conn.exec_driver_sql("SELECT t::text FROM broker_connections t").scalar_one()
    assert snap.secret not in text
    opened = CredentialVault(KeyringKeySource()).open(CredentialSlot(ann, "snaptrade", "SnapTrade"),
                                                      row.credentials_encrypted)  # fmt: skip
    assert opened == {"user_secret": snap.secret}


def test_the_portal_link_is_asked_for_this_trader_with_read_only_access(brokerage, standin, make_user):
    ann = make_user("ann")
    url = brokerage.portal_url(ann)  # links first

    assert url.startswith("https://app.snaptrade.com/")
    (login,) = standin.requests_to("/snapTrade/login")
    (snap,) = standin.users.values()
    assert login.query["userId"] == [snap.user_id] and login.query["userSecret"] == [snap.secret]
    assert login.body == {"connectionType": "read"}


def test_connections_and_accounts_are_listed_as_snaptrade_has_them(brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    standin.connect_brokerage(snap.user_id, "Wealthsimple", "WEALTHSIMPLETRADE").disabled = True

    connections = brokerage.accounts(ann)

    assert [(c.brokerage, c.disabled, len(c.accounts)) for c in connections] == [
        ("Questrade", False, 1), ("Wealthsimple", True, 1)]  # fmt: skip
    account = connections[0].accounts[0]
    assert (account.institution, account.total, account.currency) == ("Questrade", D("15363.23"), "USD")
    assert account.positions == ()  # positions come with a sync


def test_a_sync_books_the_trades_once_and_counts_what_is_not_a_trade(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    (account_id,) = standin.user(snap.user_id).accounts
    with db.session_factory() as s:
        balance_before = s.scalar(select(User.virtual_balance).where(User.id == ann))

    result = brokerage.sync(ann)

    assert (result.new, result.already_synced, result.not_trades, result.unusable) == (2, 0, 3, 1)
    assert result.unusable_reasons == (("option trades are not journaled yet", 1),)
    buy, sell = fills_of(db, ann)
    row = row_of(db, ann)
    assert (buy.side, buy.symbol, buy.quantity, buy.price, buy.fees) == ("buy", "AAPL", D(10), D("187.5"), D(1))
    assert (sell.side, sell.quantity, sell.price, sell.fees) == ("sell", D(10), D("190.25"), D("1.5"))
    assert buy.executed_at == datetime(2026, 3, 2, 15, tzinfo=UTC)
    for fill, trade_id in ((buy, "t-1"), (sell, "t-2")):
        assert fill.source == "broker_synced" and fill.broker == "snaptrade" and fill.venue == "Questrade"
        assert fill.broker_connection_id == row.id and fill.order_id is None
        assert fill.execution_id == f"snaptrade:{account_id}:{trade_id}"
        assert fill.raw_data is not None and fill.raw_data["activity"]["id"] == trade_id
    assert sell.raw_data is not None and sell.raw_data["activity"]["units"] == -10  # SnapTrade's answer, as it was
    with db.session_factory() as s:  # the journal follows; the virtual account does not
        assert s.scalar(select(func.count()).select_from(CampaignFill).where(CampaignFill.user_id == ann)) == 2
        assert s.scalar(select(User.virtual_balance).where(User.id == ann)) == balance_before
        assert s.scalar(select(func.count()).select_from(Position).where(Position.user_id == ann)) == 0

    again = brokerage.sync(ann)

    assert (again.new, again.already_synced, again.not_trades) == (0, 2, 3)
    assert len(fills_of(db, ann)) == 2
    assert again.summary().startswith("0 new fills, 2 already synced; 3 non-trade activities skipped")


def test_a_later_sync_asks_from_a_week_before_the_newest_trade_and_adds_only_the_new_one(db, brokerage, standin,
                                                                                      make_user):  # fmt: skip
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    (account,) = standin.user(snap.user_id).accounts.values()
    brokerage.sync(ann)
    account.activities.insert(0, activity("BUY", symbol="MSFT", units=2.5, price=401.125,
                                          when="2026-03-04T14:31:07.250Z", activity_id="t-3"))  # fmt: skip

    result = brokerage.sync(ann)

    first, second = [r.query.get("startDate") for r in standin.requests_to(f"/accounts/{account.id}/activities")]
    assert first is None and second == ["2026-02-23"]  # 2026-03-02 - 7 days
    assert (result.new, result.already_synced) == (1, 2)
    newest = fills_of(db, ann)[-1]
    assert (newest.symbol, newest.quantity, newest.price) == ("MSFT", D("2.5"), D("401.125"))


def test_a_days_trades_without_times_are_booked_in_the_order_they_happened(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = link(brokerage, standin, ann)
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    day = "2026-03-02T00:00:00Z"  # a brokerage that reports dates only
    account.activities = [activity("SELL", units=-10, when=day, activity_id="second"),
                          activity("BUY", units=10, when=day, activity_id="first")]  # fmt: skip

    brokerage.sync(ann)

    with db.session_factory() as s:
        booked = s.scalars(select(Fill.side).where(Fill.user_id == ann).order_by(Fill.executed_at, Fill.created_at))
        assert list(booked) == ["buy", "sell"]


def test_the_positions_snapshot_is_kept_with_its_sync_time(brokerage, standin, make_user):
    ann = make_user("ann")
    linked_with_trades(brokerage, standin, ann)
    assert brokerage.overview(ann).synced_at is None

    result = brokerage.sync(ann)
    overview = brokerage.overview(ann)

    assert overview.configured and overview.linked and overview.synced_at == result.synced_at
    ((connection,),) = [c.accounts for c in overview.connections]
    (held,) = connection.positions
    assert (held.symbol, held.units, held.price, held.cost_basis) == ("MSFT", D(5), D("401.2"), D("398.10"))
    assert connection.positions_as_of is not None


def test_a_rejected_user_secret_writes_nothing_and_says_what_to_do(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    brokerage.sync(ann)
    meta_before = row_of(db, ann).meta
    (account,) = standin.user(snap.user_id).accounts.values()
    account.activities.insert(0, activity("BUY", activity_id="t-9", when="2026-03-05T15:00:00Z"))
    snap.secret = str(uuid.uuid4())  # rotated at SnapTrade: ours no longer opens anything

    with pytest.raises(BrokerageError, match=r"no longer accepts this trader's link.*connect again"):
        brokerage.sync(ann)

    assert len(fills_of(db, ann)) == 2 and row_of(db, ann).meta == meta_before


def test_a_server_error_midway_writes_nothing(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    (account,) = standin.user(snap.user_id).accounts.values()
    standin.fail(f"/accounts/{account.id}/activities", SERVER_ERROR)  # positions were read; the trades fail

    with pytest.raises(BrokerageError, match=r"SnapTrade is having trouble \(HTTP 500\); nothing was synced"):
        brokerage.sync(ann)

    assert fills_of(db, ann) == [] and brokerage.overview(ann).synced_at is None
    assert brokerage.sync(ann).new == 2  # and the next try books everything


def test_a_history_longer_than_a_page_is_read_page_by_page(db, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = link(brokerage, standin, ann)
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    times = [f"2026-03-02T15:{i // 60:02d}:{i % 60:02d}Z" for i in range(1001)]  # one a second, newest first
    account.activities = [activity("SELL" if i % 2 else "BUY", units=1, activity_id=f"t-{i}", when=times[i])
                          for i in reversed(range(1001))]  # fmt: skip

    result = brokerage.sync(ann)

    pages = [r.query["offset"] for r in standin.requests_to(f"/accounts/{account.id}/activities")]
    assert pages == [["0"], ["1000"]] and (result.new, result.already_synced) == (1001, 0)
    assert len(fills_of(db, ann)) == 1001


def test_snaptrades_rate_limit_says_when_to_try_again_and_writes_nothing(db, brokerage, standin, make_user):
    ann = make_user("ann")
    linked_with_trades(brokerage, standin, ann)
    standin.fail("/accounts/all", (429, {"detail": "Too many requests", "status_code": 429}))

    with pytest.raises(BrokerageError, match="rate limit was reached; try again in 30 seconds"):
        brokerage.sync(ann)

    assert fills_of(db, ann) == []


def test_a_disabled_connection_is_named_in_the_result_and_its_refusal_explained(brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    (account,) = standin.user(snap.user_id).accounts.values()
    account.connection.disabled = True

    result = brokerage.sync(ann)  # SnapTrade still answers its last copy of a disabled connection
    assert result.disabled == ("Questrade",) and "Disabled connection: Questrade" in result.summary()

    standin.fail(f"/accounts/{account.id}/positions", DISABLED)
    with pytest.raises(BrokerageError, match=r"connection is disabled.*reconnect it with Connect"):
        brokerage.sync(ann)


def test_a_wrong_consumer_key_is_refused_by_snaptrade_with_its_own_explanation(db, standin, make_user):
    ann = make_user("ann")
    forged = make_service(db.session_factory, standin, keys=key_store(consumer_key="not-the-consumer-key"))

    with pytest.raises(BrokerageError, match=r"refused StratForge's signature.*STRATFORGE_SNAPTRADE_CONSUMER_KEY"):
        forged.link(ann)

    assert standin.users == {}
    with db.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(BrokerConnection)) == 0


def test_without_snaptrade_keys_the_trader_is_told_how_to_configure_them(db, standin, make_user):
    ann = make_user("ann")
    unconfigured = make_service(db.session_factory, standin, keys=SnapTradeKeyStore({}))

    overview = unconfigured.overview(ann)

    assert not overview.configured and overview.message == HOW_TO_CONFIGURE
    assert "STRATFORGE_SNAPTRADE_CLIENT_ID" in HOW_TO_CONFIGURE
    with pytest.raises(BrokerageError, match="SnapTrade is not configured on this computer"):
        unconfigured.link(ann)
    assert standin.requests == []


def test_a_link_made_on_another_computer_says_how_to_link_again_here(db, brokerage, standin, make_user):
    ann = make_user("ann")
    linked_with_trades(brokerage, standin, ann)
    elsewhere = BrokerageSync(db.session_factory, keys=key_store(), vault=CredentialVault(StaticKeySource(bytes(32))),
                              host=standin.host)  # fmt: skip

    with pytest.raises(BrokerageError, match=r"do not open with this computer's key.*press Unlink here, then Connect"):
        elsewhere.sync(ann)

    elsewhere.unlink(ann)  # SnapTrade needs no user secret to delete its user
    assert standin.users == {} and not elsewhere.overview(ann).linked


def test_syncing_before_linking_says_to_connect_first(brokerage, standin, make_user):
    with pytest.raises(BrokerageError, match="press Connect"):
        brokerage.sync(make_user("ann"))


def test_a_call_snaptrade_never_answers_ends_at_its_deadline_with_nothing_written(db, standin, make_user):
    ann = make_user("ann")
    brokerage = make_service(db.session_factory, standin, read_timeout_s=0.3)
    linked_with_trades(brokerage, standin, ann)
    standin.hang["/accounts/all"] = 10.0

    started = time.monotonic()
    with pytest.raises(BrokerageError, match=r"SnapTrade did not answer within 0\.3 s"):
        brokerage.sync(ann)

    assert time.monotonic() - started < 3.0
    assert fills_of(db, ann) == []


def test_the_user_secret_never_reaches_a_message_a_traceback_or_the_log(db, standin, make_user, caplog):
    ann = make_user("ann")
    brokerage = make_service(db.session_factory, standin, read_timeout_s=0.3)
    caplog.set_level(logging.DEBUG)
    snap = linked_with_trades(brokerage, standin, ann)
    failures: list[BaseException] = []
    standin.hang["/authorizations"] = 10.0  # urllib3's timeout error names the URL, secret and all
    for attempt in (brokerage.sync, brokerage.accounts):
        try:
            attempt(ann)
        except BrokerageError as exc:
            failures.append(exc)
    standin.hang.clear()
    standin.fail("/authorizations", SERVER_ERROR)
    with pytest.raises(BrokerageError) as refused:
        brokerage.sync(ann)
    failures.append(refused.value)
    brokerage.sync(ann)  # and a good one, logged at DEBUG by urllib3

    assert len(failures) == 3
    for exc in failures:
        assert snap.secret not in f"{exc} {exc!r} {''.join(traceback.format_exception(exc))}"
    assert "userSecret=***" in caplog.text and snap.secret not in caplog.text


def test_unlinking_removes_the_snaptrade_user_forgets_the_secret_and_keeps_the_synced_fills(db, brokerage, standin,
                                                                                            make_user):  # fmt: skip
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    brokerage.sync(ann)

    brokerage.unlink(ann)

    assert snap.user_id not in standin.users
    row = row_of(db, ann)
    assert row.credentials_encrypted is None and row.external_user_id is None
    assert [f.broker_connection_id for f in fills_of(db, ann)] == [row.id, row.id]
    assert not brokerage.overview(ann).linked
    brokerage.link(ann)  # linking again reuses the row
    assert row_of(db, ann).id == row.id and len(standin.users) == 1


def test_a_link_snaptrade_no_longer_knows_is_unlinked_but_not_while_snaptrade_is_down(brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    standin.fail("/snapTrade/deleteUser", SERVER_ERROR)
    with pytest.raises(BrokerageError, match="The link was kept; try Unlink again"):
        brokerage.unlink(ann)
    assert brokerage.overview(ann).linked

    del standin.users[snap.user_id]  # gone at SnapTrade (deleted from its dashboard)
    brokerage.unlink(ann)

    assert not brokerage.overview(ann).linked


def test_a_link_that_cannot_be_stored_leaves_no_snaptrade_user_behind(db, brokerage, standin, make_user):
    ann = make_user("ann")
    with db.session_factory() as s:  # another of her links already carries the name
        s.add(BrokerConnection(user_id=ann, broker="csv", label="SnapTrade"))
        s.commit()

    with pytest.raises(BrokerageError, match="another of your broker links is named 'SnapTrade'"):
        brokerage.link(ann)

    assert len(list(standin.requests_to("/snapTrade/registerUser"))) == 1 and standin.users == {}


def test_a_later_syncs_start_date_is_a_week_before_the_newest_trade():
    from core.services.brokerage_sync import _start

    assert _start("2026-03-02") == date(2026, 2, 23) and _start(None) is None and _start("garbage") is None
