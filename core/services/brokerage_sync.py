"""Brokerage sync through SnapTrade, for the brokerage panel and the command line: link, portal, list, sync.

The workflow, each step a blocking call for a worker thread:

1. ``link`` registers the trader with SnapTrade once (a random SnapTrade user id, never the StratForge id) and keeps
   the user secret sealed by the credential vault in the trader's ``broker_connections`` row (``broker='snaptrade'``,
   ``external_user_id`` = the SnapTrade user id). The vault's key is made before SnapTrade is asked, so a machine
   without a keyring fails before a SnapTrade user exists whose secret nobody could keep.
2. ``portal_url`` is the connection portal's link (the app opens it in the system browser).
3. ``accounts`` lists the trader's connections (brokerage logins) and their investment accounts, live.
4. ``sync`` reads every account's positions and transactions, then books the trades as ``broker_synced`` fills and
   the positions snapshot (``meta``) in ONE transaction (``core.journal.synced_fills``): every SnapTrade call is
   made before anything is written, so a failed call (a bad secret, a server error, a timeout) writes nothing.
   Later syncs ask for transactions from a week before the newest one seen (SnapTrade refreshes daily and may
   fill a day in late); what was booked before is counted as already synced.

``unlink`` deletes the trader's SnapTrade user (and with it SnapTrade's copy of the connections), then forgets the
secret but keeps the row, so fills synced before stay attributed to it (and in a club the trader's role, which may
not update fills, never needs to). Linking again reuses the row. A link whose row cannot be stored deletes the
SnapTrade user it just registered: none is left behind whose secret nobody holds.

Every failure a trader can meet is a ``BrokerageError`` whose ``str()`` is one line to show as is.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.credential_vault import CredentialSlot, CredentialVault, KeyringKeySource, VaultError
from core.accounts.snaptrade_keys import HOST_ENV, HOW_TO_CONFIGURE, SnapTradeKeys, SnapTradeKeyStore
from core.adapters.snaptrade import (
    PRODUCTION_HOST,
    Activity,
    BrokerageAccount,
    Connection,
    PartnerKeys,
    PositionsSnapshot,
    SnapTradeError,
    SnapTradeUser,
)
from core.adapters.snaptrade.convert import decimal_or_none, plain_json, time_or_none
from core.adapters.snaptrade.errors import CODE_USER
from core.db.models import BrokerConnection
from core.journal.errors import JournalError
from core.journal.synced_fills import SyncBooking, SyncedTrade, book_synced_fills

if TYPE_CHECKING:
    from core.adapters.snaptrade.client import SnapTradeClient

log = logging.getLogger(__name__)

BROKER = "snaptrade"
LABEL = "SnapTrade"
SECRET_FIELD = "user_secret"
OVERLAP = timedelta(days=7)

ClientFactory = Callable[[SnapTradeKeys], "SnapTradeClient"]


class BrokerageError(Exception):
    """A step of the brokerage workflow failed; ``str()`` is the trader's one-line message (nothing was written)."""


@dataclass(frozen=True)
class PositionView:
    symbol: str
    units: Decimal
    price: Decimal | None
    cost_basis: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class AccountView:
    id: str
    name: str | None
    number: str | None
    institution: str
    total: Decimal | None
    currency: str | None
    positions: tuple[PositionView, ...] = ()
    positions_as_of: datetime | None = None


@dataclass(frozen=True)
class ConnectionView:
    id: str
    brokerage: str
    disabled: bool
    accounts: tuple[AccountView, ...]


@dataclass(frozen=True)
class BrokerageOverview:
    """What the panel shows without asking SnapTrade: configured? linked? the last sync's snapshot."""

    configured: bool
    linked: bool
    message: str | None  # how to configure SnapTrade, when it is not
    connections: tuple[ConnectionView, ...]
    synced_at: datetime | None


@dataclass(frozen=True)
class SyncResult:
    """One sync: ``new + already_synced`` trades seen; the other transactions counted, never booked."""

    new: int
    already_synced: int
    not_trades: int  # dividends, deposits, fees, interest...
    unusable: int  # trades StratForge cannot journal (options, unknown symbols, no price)
    unusable_reasons: tuple[tuple[str, int], ...]
    accounts: int
    disabled: tuple[str, ...]  # brokerages whose connection is disabled (their data is SnapTrade's last copy)
    synced_at: datetime
    fill_ids: tuple[uuid.UUID, ...] = ()

    def summary(self) -> str:
        """One line, e.g. ``3 new fills, 2 already synced; 1 non-trade activity skipped (1 account)``."""
        line = (
            f"{self.new:,} new fill{'s' if self.new != 1 else ''}, {self.already_synced:,} already synced; "
            f"{self.not_trades:,} non-trade activit{'ies' if self.not_trades != 1 else 'y'} skipped"
        )
        if self.unusable:
            reasons = ", ".join(f"{reason}: {count}" for reason, count in self.unusable_reasons)
            line += f"; {self.unusable:,} trade{'s' if self.unusable != 1 else ''} not journaled ({reasons})"
        line += f" ({self.accounts} account{'s' if self.accounts != 1 else ''})"
        if self.disabled:
            line += f". Disabled connection{'s' if len(self.disabled) != 1 else ''}: {', '.join(self.disabled)}; " \
                    "reconnect to get new trades"  # fmt: skip
        return line


@dataclass(frozen=True)
class _Link:
    id: uuid.UUID
    user: SnapTradeUser
    meta: Mapping[str, Any]


def _default_client(host: str, connect_timeout_s: float, read_timeout_s: float) -> ClientFactory:
    def make(keys: SnapTradeKeys) -> SnapTradeClient:
        # Imported at the first call, not with this module: the SDK costs ~1 s to import (measured: 0.96 s of the
        # service's 1.85 s), which the app's window would otherwise pay at start-up for a panel rarely opened.
        from core.adapters.snaptrade.client import SnapTradeClient

        return SnapTradeClient(PartnerKeys(keys.client_id, keys.consumer_key), host=host,
                               connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s)  # fmt: skip

    return make


class BrokerageSync:
    """Holds the session factory (the trader's own role in a club), the key store, the vault and the host (by
    default ``STRATFORGE_SNAPTRADE_HOST`` when set, else SnapTrade's)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keys: SnapTradeKeyStore | None = None,
        vault: CredentialVault | None = None,
        host: str | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._keys = keys or SnapTradeKeyStore()
        self._vault = vault or CredentialVault(KeyringKeySource())
        host = host or os.environ.get(HOST_ENV, "").strip() or PRODUCTION_HOST
        self._client = _default_client(host, connect_timeout_s, read_timeout_s)
        self._now = now

    # --- reading our own rows (no network) ---
    def overview(self, user_id: uuid.UUID) -> BrokerageOverview:
        configured = self._keys.keys() is not None
        row = self._row(user_id)
        linked = row is not None and row.credentials_encrypted is not None
        meta = row.meta if row is not None and linked else {}
        return BrokerageOverview(
            configured=configured,
            linked=linked,
            message=None if configured else HOW_TO_CONFIGURE,
            connections=_connections_from_meta(meta),
            synced_at=time_or_none(meta.get("synced_at")),
        )

    def save_keys(self, client_id: str, consumer_key: str) -> None:
        """Keep StratForge's SnapTrade API key in this computer's keyring (the environment's, when set, still wins)."""
        try:
            self._keys.save(client_id, consumer_key)
        except ValueError as exc:
            raise BrokerageError(str(exc)) from None

    # --- the workflow ---
    def link(self, user_id: uuid.UUID) -> None:
        """Register the trader with SnapTrade unless linked already (idempotent)."""
        row = self._row(user_id)
        if row is not None and row.credentials_encrypted is not None:
            return
        client = self._client_or_raise()
        slot = CredentialSlot(user_id, BROKER, LABEL)
        try:
            self._vault.seal(slot, {})  # makes the vault key now: no SnapTrade user whose secret nobody can keep
        except VaultError as exc:
            raise BrokerageError(str(exc)) from None
        snap_user = self._guard(lambda: client.register(f"stratforge-{uuid.uuid4()}"))
        try:
            sealed = self._vault.seal(slot, {SECRET_FIELD: snap_user.user_secret})
            values = {"credentials_encrypted": sealed, "external_user_id": snap_user.user_id, "is_active": True,
                      "is_paper": False, "meta": {}}  # fmt: skip
            self._store_link(user_id, row, values)
        except BaseException:
            # Not kept here: delete it at SnapTrade, or it would stay registered (and billed) with a secret nobody has.
            self._delete_quietly(client, snap_user.user_id)
            raise

    def _store_link(self, user_id: uuid.UUID, row: BrokerConnection | None, values: dict[str, Any]) -> None:
        with self._sessions() as s:
            if row is None:
                s.add(BrokerConnection(user_id=user_id, broker=BROKER, label=LABEL, **values))
            else:
                mine = (BrokerConnection.id == row.id, BrokerConnection.user_id == user_id)
                s.execute(update(BrokerConnection).where(*mine).values(**values))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise BrokerageError(
                    f"SnapTrade could not be linked: another of your broker links is named {LABEL!r} (or SnapTrade was "
                    "being linked elsewhere at the same moment); rename that link or try again."
                ) from None

    @staticmethod
    def _delete_quietly(client: SnapTradeClient, snap_user_id: str) -> None:
        try:
            client.delete_user(snap_user_id)
        except SnapTradeError:
            log.warning("SnapTrade: a user registered by a link that failed could not be deleted again")

    def portal_url(self, user_id: uuid.UUID, *, reconnect: str | None = None) -> str:
        """The connection portal's link (linking first when needed); ``reconnect``: a disabled connection's id."""
        self.link(user_id)
        link = self._link(user_id)
        client = self._client_or_raise()
        return self._guard(lambda: client.portal_url(link.user, reconnect=reconnect))

    def accounts(self, user_id: uuid.UUID) -> tuple[ConnectionView, ...]:
        """The trader's connections and investment accounts as SnapTrade has them now (positions: the last sync's)."""
        link = self._link(user_id)
        client = self._client_or_raise()
        connections = self._guard(lambda: client.connections(link.user))
        accounts = self._guard(lambda: client.accounts(link.user, {c.id: c.brokerage for c in connections}))
        known = {a.id: a for c in _connections_from_meta(link.meta) for a in c.accounts}
        return _views(connections, accounts, {a: (v.positions, v.positions_as_of) for a, v in known.items()})

    def sync(self, user_id: uuid.UUID, *, full: bool = False) -> SyncResult:
        """Read everything from SnapTrade, then book it in one transaction (see the module's docstring). ``full``
        asks for every account's whole history instead of the last week onwards (what was booked stays once)."""
        link = self._link(user_id)
        client = self._client_or_raise()
        started = self._now()
        connections = self._guard(lambda: client.connections(link.user))
        accounts = self._guard(lambda: client.accounts(link.user, {c.id: c.brokerage for c in connections}))
        through = {} if full else link.meta.get("transactions_through") or {}
        snapshots: dict[str, PositionsSnapshot] = {}
        activities: list[Activity] = []
        newest: dict[str, str] = {}
        for account in accounts:
            snapshots[account.id] = self._guard(partial(client.positions, link.user, account.id))
            start = _start(through.get(account.id))
            found = self._guard(partial(client.activities, link.user, account.id, start=start))
            # SnapTrade sends newest first; booked oldest first, trades of one date-only day keep their real order
            # (a day's buy before its sell), which the journal's campaigns replay.
            activities.extend(reversed(found))
            dates = [x.executed_at for x in found if x.executed_at is not None]
            latest = max(dates).date().isoformat() if dates else through.get(account.id)
            if latest:
                newest[account.id] = latest
        venues = {a.id: a.institution for a in accounts}
        trades = [_trade(x, venues.get(x.account_id)) for x in activities if x.kind == "trade"]
        positions = {a: (tuple(_position_views(s)), s.as_of or started) for a, s in snapshots.items()}
        views = _views(connections, accounts, positions)
        meta = {"synced_at": started, "connections": [_connection_json(c) for c in views],
                "transactions_through": newest}  # fmt: skip
        try:
            booking: SyncBooking = book_synced_fills(self._sessions, user_id, link.id, trades, meta=meta, now=started)
        except JournalError as exc:
            raise BrokerageError(str(exc)) from None
        unusable = Counter(x.reason or "unknown" for x in activities if x.kind == "unusable")
        return SyncResult(
            new=booking.new,
            already_synced=booking.already_synced,
            not_trades=sum(1 for x in activities if x.kind == "other"),
            unusable=sum(unusable.values()),
            unusable_reasons=tuple(sorted(unusable.items())),
            accounts=len(accounts),
            disabled=tuple(sorted({c.brokerage for c in connections if c.disabled})),
            synced_at=started,
            fill_ids=booking.fill_ids,
        )

    def unlink(self, user_id: uuid.UUID) -> None:
        """Remove the trader's SnapTrade user (SnapTrade deletes its connections) and forget the secret here; the
        fills synced so far stay. Connecting again registers anew. When SnapTrade cannot be asked, nothing changes."""
        row = self._row(user_id)
        if row is not None and row.external_user_id:
            client = self._client_or_raise()
            try:
                client.delete_user(row.external_user_id)
            except SnapTradeError as exc:
                # 404 or 1083: SnapTrade has (or accepts) no such user any more, which is what unlinking wants;
                # anything else (SnapTrade down, our key refused) keeps the link, so no user is left nobody can reach.
                if exc.status != 404 and exc.code != CODE_USER:
                    raise BrokerageError(f"{exc} The link was kept; try Unlink again.") from None
        with self._sessions() as s:
            s.execute(
                update(BrokerConnection)
                .where(BrokerConnection.user_id == user_id, BrokerConnection.broker == BROKER,
                       BrokerConnection.label == LABEL)
                .values(credentials_encrypted=None, external_user_id=None, is_active=False, meta={})
            )  # fmt: skip
            s.commit()

    # --- helpers ---
    def _client_or_raise(self) -> SnapTradeClient:
        keys = self._keys.keys()
        if keys is None:
            raise BrokerageError(HOW_TO_CONFIGURE)
        return self._client(keys)

    def _row(self, user_id: uuid.UUID) -> BrokerConnection | None:
        with self._sessions() as s:
            return s.scalars(
                select(BrokerConnection).where(BrokerConnection.user_id == user_id, BrokerConnection.broker == BROKER,
                                               BrokerConnection.label == LABEL)
            ).one_or_none()  # fmt: skip

    def _link(self, user_id: uuid.UUID) -> _Link:
        row = self._row(user_id)
        if row is None or row.credentials_encrypted is None or not row.external_user_id:
            raise BrokerageError("SnapTrade is not linked yet: press Connect to link a brokerage account first.")
        try:
            opened = self._vault.open(CredentialSlot(user_id, BROKER, LABEL), row.credentials_encrypted)
        except VaultError as exc:  # e.g. linked on another computer, whose keyring holds the key
            raise BrokerageError(f"{exc} For SnapTrade: press Unlink here, then Connect.") from None
        secret = opened.get(SECRET_FIELD)
        if not secret:
            raise BrokerageError("The saved SnapTrade link is incomplete; unlink SnapTrade and connect again.")
        return _Link(row.id, SnapTradeUser(row.external_user_id, secret), row.meta or {})

    @staticmethod
    def _guard[T](call: Callable[[], T]) -> T:
        try:
            return call()
        except SnapTradeError as exc:
            raise BrokerageError(str(exc)) from None


def _start(through: object) -> date | None:
    if not isinstance(through, str):
        return None
    try:
        return date.fromisoformat(through) - OVERLAP
    except ValueError:
        return None


def _trade(activity: Activity, venue: str | None) -> SyncedTrade:
    assert activity.symbol and activity.side and activity.quantity and activity.price and activity.executed_at
    return SyncedTrade(
        account_id=activity.account_id,
        trade_id=activity.id,
        symbol=activity.symbol,
        side=activity.side,
        quantity=activity.quantity,
        price=activity.price,
        fees=activity.fee,
        executed_at=activity.executed_at,
        venue=venue or activity.institution,
        asset_type=activity.asset_type,
        currency=activity.currency,
        broker_order_id=activity.external_reference_id,
        raw=plain_json(activity.raw),
    )


def _position_views(snapshot: PositionsSnapshot) -> list[PositionView]:
    return [PositionView(p.symbol, p.units, p.price, p.cost_basis, p.currency) for p in snapshot.positions]


def _views(
    connections: list[Connection],
    accounts: list[BrokerageAccount],
    positions: Mapping[str, tuple[tuple[PositionView, ...], datetime | None]],
) -> tuple[ConnectionView, ...]:
    views = []
    for c in connections:
        mine = tuple(
            AccountView(a.id, a.name, a.number, a.institution, a.total, a.currency, *positions.get(a.id, ((), None)))
            for a in accounts
            if a.connection_id == c.id
        )
        views.append(ConnectionView(c.id, c.brokerage, c.disabled, mine))
    return tuple(views)


def _connection_json(c: ConnectionView) -> dict[str, Any]:
    return {
        "id": c.id, "brokerage": c.brokerage, "disabled": c.disabled,
        "accounts": [
            {"id": a.id, "name": a.name, "number": a.number, "institution": a.institution, "total": a.total,
             "currency": a.currency, "positions_as_of": a.positions_as_of,
             "positions": [{"symbol": p.symbol, "units": p.units, "price": p.price, "cost_basis": p.cost_basis,
                            "currency": p.currency} for p in a.positions]}
            for a in c.accounts
        ],
    }  # fmt: skip


def _connections_from_meta(meta: Mapping[str, Any]) -> tuple[ConnectionView, ...]:
    views = []
    for c in meta.get("connections") or ():
        if not isinstance(c, Mapping):
            continue
        accounts = []
        for a in c.get("accounts") or ():
            if not isinstance(a, Mapping):
                continue
            held = tuple(
                PositionView(str(p.get("symbol")), decimal_or_none(p.get("units")) or Decimal(0),
                             decimal_or_none(p.get("price")), decimal_or_none(p.get("cost_basis")), p.get("currency"))
                for p in a.get("positions") or () if isinstance(p, Mapping)
            )  # fmt: skip
            accounts.append(AccountView(str(a.get("id")), a.get("name"), a.get("number"),
                                        str(a.get("institution") or "Brokerage"), decimal_or_none(a.get("total")),
                                        a.get("currency"), held, time_or_none(a.get("positions_as_of"))))  # fmt: skip
        views.append(ConnectionView(str(c.get("id")), str(c.get("brokerage") or "Brokerage"), bool(c.get("disabled")),
                                    tuple(accounts)))  # fmt: skip
    return tuple(views)
