"""A trader's own Zerodha, Angel One and ICICI Direct accounts: linked, logged in, opened as a Broker.

A link is a ``broker_connections`` row (``is_paper`` false: real money) whose API credentials are sealed by the
credential vault (``core.accounts.credential_vault``): AES-256-GCM under a key kept in the OS keyring, each blob
bound to its row by ``CredentialSlot(user_id, broker, label)``, so a copy of the database opens nothing and a blob
moved onto another trader's row (or another link) does not open at all.

The broker's day session (Kite's and Breeze's access token, Angel's JWT) is sealed in the same blob as the
credentials, under its own prefix, with the day it was made in ``meta``: it is reused for every order until the
broker says it has ended (``SessionExpired``), which drops it and asks the trader to log in again. One blob, not
two, so the row's secrets are sealed and replaced together: a session cannot outlive the credentials it was made
with, and no second ciphertext could be swapped with the first.

Nothing secret leaves this module after a save: the settings tab sees ``LinkedAccount`` values carrying only
masked hints (``••••1234``) and the session's state. Which brokers exist and what each asks for come from the
link adapters (``core.broker.links``), passed in as ``adapters`` so that tests link a stand-in broker and so that
a broker's SDK is imported only when that broker is used.

Every method blocks (the database, the keyring, the broker's log-in), so the GUI calls them on a worker thread.
Refusals a trader can hit are ``BrokerAccountError`` with one readable line; none carries a secret or SDK text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.credential_vault import CredentialSlot, CredentialVault, KeyringKeySource, VaultError
from core.broker.errors import BrokerError, BrokerUnavailable, SessionExpired
from core.broker.links import LINK_ADAPTERS, BrokerLinkAdapter, CredentialField, Endpoints, link_adapter
from core.broker.protocol import Broker
from core.db.models import BrokerConnection
from core.market.india import IST

log = logging.getLogger(__name__)

MAX_LABEL = 100  # broker_connections.label is VARCHAR(100)
MAX_VALUE = 1000  # no API key, secret, PIN or TOTP seed is longer; a longer paste is a mistake
_CREDENTIAL = "c:"  # prefixes inside the sealed blob: the link's credentials ...
_SESSION = "s:"  # ... and the day's session secrets beside them
MASK = "••••"
UNIQUE_LABEL = "uq_broker_connections_user_id_label"


class BrokerAccountError(Exception):
    """A link could not be made, used or removed; str() is one line a trader can read (never a secret)."""


class LinkNotFound(BrokerAccountError):
    """No such link for this trader (removed meanwhile, or another trader's)."""


class LoginNeeded(BrokerAccountError):
    """The link has no session, or the broker ended it: the trader logs in again in Settings > Broker accounts."""


@dataclass(frozen=True)
class BrokerChoice:
    """A broker the link form offers, and what it asks for."""

    broker: str
    display_name: str
    fields: tuple[CredentialField, ...]


@dataclass(frozen=True)
class LinkedAccount:
    """A link as the settings tab and the order ticket show it: nothing secret, only masked hints."""

    id: uuid.UUID
    broker: str
    broker_name: str
    label: str
    hints: Mapping[str, str]  # field label -> masked value
    session_date: date | None  # the day (India) of the session in use; None: never logged in, or ended
    session_expired: bool  # the broker ended the last session; a new log-in is needed
    broker_account_id: str | None  # the broker's own id of the account, once the first session read it
    is_paper: bool = False
    session_started: str | None = None  # when the session in use was made: tells one day's session from the next

    @property
    def logged_in(self) -> bool:
        return self.session_date is not None and not self.session_expired

    def state(self) -> str:
        """``Real money · logged in (session of 2026-12-08)``: the line the settings tab shows."""
        kind = "Paper" if self.is_paper else "Real money"
        if self.session_expired:
            return f"{kind} · session ended: log in again"
        if self.session_date is None:
            return f"{kind} · not logged in"
        return f"{kind} · logged in (session of {self.session_date.isoformat()})"


@dataclass
class OpenedLink:
    """A linked account opened as a Broker for its current session; close it with ``close()``."""

    account: LinkedAccount
    broker: Broker
    settings: Mapping[str, str] = field(repr=False)  # the link's non-secret fields (a product type, a client code)

    def close(self) -> None:
        closer = getattr(self.broker, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception:  # closing must not hide what the caller is doing; the broker's text only in the log
                log.warning("closing the %s broker failed", self.account.broker, exc_info=True)


def mask(value: str, secret: bool) -> str:
    """What the tab may show of a saved value: a non-secret one whole, a long secret's last four characters, a
    short secret (a PIN) nothing at all."""
    if not secret:
        return value
    return MASK + value[-4:] if len(value) >= 12 else MASK


def is_required(f: CredentialField) -> bool:
    """Whether the link form must have ``f`` (the adapter says which may stay empty: Angel's TOTP secret, whose
    day's code is then typed at each log-in; a product with a default)."""
    return f.required


def parse_login_answer(text: str) -> dict[str, str]:
    """The log-in's answer as the trader pasted it: the redirect address's query parameters (Kite sends
    ``request_token``, Breeze ``apisession``), a bare query string, or a bare token under each of those names (a
    trader who copied only the token from the address bar; each adapter reads its own)."""
    pasted = text.strip()
    if not pasted:
        return {}
    if "://" in pasted:
        query = urlsplit(pasted).query
        return dict(parse_qsl(query, keep_blank_values=False))
    if "=" in pasted:
        return dict(parse_qsl(pasted.lstrip("?"), keep_blank_values=False))
    return {"token": pasted, "request_token": pasted, "apisession": pasted}


def _clean_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise BrokerAccountError(f"{name} must be text.")
    cleaned = value.strip()
    if len(cleaned) > MAX_VALUE:
        raise BrokerAccountError(f"{name} is too long ({len(cleaned)} characters).")
    if any(not c.isprintable() for c in cleaned):
        raise BrokerAccountError(f"{name} contains characters that cannot be part of it (a line break?).")
    return cleaned


def _clean_label(label: object) -> str:
    if not isinstance(label, str) or not label.strip():
        raise BrokerAccountError("Give the account a name (e.g. 'Kite main').")
    cleaned = label.strip()
    if len(cleaned) > MAX_LABEL:
        raise BrokerAccountError(f"The account's name is too long (at most {MAX_LABEL} characters).")
    if any(not c.isprintable() for c in cleaned):
        raise BrokerAccountError("The account's name contains characters that cannot be shown.")
    return cleaned


def _no_endpoints(_broker: str) -> Endpoints:
    return Endpoints()


def _today_in_india() -> date:
    return datetime.now(UTC).astimezone(IST).date()


class BrokerAccounts:
    """One database's linked broker accounts, per trader."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: CredentialVault,
        *,
        adapters: Callable[[str], BrokerLinkAdapter] = link_adapter,
        brokers: tuple[str, ...] = tuple(LINK_ADAPTERS),
        endpoints: Callable[[str], Endpoints] = _no_endpoints,
        today: Callable[[], date] = _today_in_india,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._adapters = adapters
        self._brokers = brokers
        self._endpoints = endpoints
        self._today = today
        self._removal_listeners: list[Callable[[uuid.UUID], None]] = []

    @classmethod
    def on_this_computer(cls, sessions: sessionmaker[Session]) -> BrokerAccounts:
        """The app's: the vault's key in this computer's OS keyring, the real brokers' adapters."""
        return cls(sessions, CredentialVault(KeyringKeySource()))

    # ----- what can be linked ------------------------------------------------------------------------

    def choices(self) -> list[BrokerChoice]:
        """The brokers the link form offers (a broker whose adapter cannot be loaded here is left out)."""
        offered = []
        for name in self._brokers:
            try:
                adapter = self._adapters(name)
            except Exception:  # a broken or missing adapter must not hide the others
                log.warning("the %s link adapter could not be loaded", name, exc_info=True)
                continue
            offered.append(BrokerChoice(name, adapter.display_name, tuple(adapter.credential_fields)))
        return offered

    # ----- links -------------------------------------------------------------------------------------

    def list(self, user_id: uuid.UUID) -> list[LinkedAccount]:
        """The trader's linked real-money accounts (Zerodha, Angel One, ICICI Direct), by name."""
        with self._sessions() as s:
            rows = s.scalars(
                select(BrokerConnection)
                .where(BrokerConnection.user_id == user_id, BrokerConnection.broker.in_(self._brokers))
                .order_by(BrokerConnection.label)
            ).all()
            return [self._view(row) for row in rows]

    def get(self, user_id: uuid.UUID, link_id: uuid.UUID) -> LinkedAccount:
        with self._sessions() as s:
            return self._view(self._row(s, user_id, link_id))

    def add(self, user_id: uuid.UUID, broker: str, label: str, values: Mapping[str, str]) -> LinkedAccount:
        """Link an account: every field the broker's adapter asks for, sealed; the label unique for the trader."""
        if broker not in self._brokers:
            raise BrokerAccountError(f"StratForge cannot link a {broker!r} account.")
        name = _clean_label(label)
        adapter = self._adapter(broker)
        wanted = {f.name: f for f in adapter.credential_fields}
        unknown = sorted(set(values) - set(wanted))
        if unknown:
            raise BrokerAccountError(f"{adapter.display_name} does not use {', '.join(unknown)}.")
        credentials: dict[str, str] = {}
        for f in adapter.credential_fields:
            value = _clean_value(f.label, values.get(f.name, ""))
            if value:
                credentials[f.name] = value
            elif is_required(f):
                raise BrokerAccountError(f"Enter the {f.label} of your {adapter.display_name} account.")
        hints = {
            f.label: mask(credentials[f.name], f.secret) for f in adapter.credential_fields if f.name in credentials
        }
        with self._sessions() as s:
            taken = s.scalar(
                select(BrokerConnection.id).where(BrokerConnection.user_id == user_id, BrokerConnection.label == name)
            )
            if taken is not None:
                raise BrokerAccountError(f"You already have an account named {name!r}; choose another name.")
            sealed = self._seal(CredentialSlot(user_id, broker, name), credentials, {})
            row = BrokerConnection(
                id=uuid.uuid4(),
                user_id=user_id,
                broker=broker,
                label=name,
                is_paper=False,
                credentials_encrypted=sealed,
                brokerage_name=adapter.display_name,
                meta={"hints": hints},
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError as exc:  # a link of the same name saved meanwhile (another window)
                s.rollback()
                if UNIQUE_LABEL in str(exc.orig):
                    raise BrokerAccountError(
                        f"You already have an account named {name!r}; choose another name."
                    ) from None
                raise
            return self._view(row)

    def remove(self, user_id: uuid.UUID, link_id: uuid.UUID) -> None:
        """Unlink: the row and its sealed secrets are deleted (its fills stay in the journal, unattributed), and
        whoever holds the link open (the real-money orders) is told to close it."""
        with self._sessions() as s:
            s.delete(self._row(s, user_id, link_id))
            s.commit()
        for listener in list(self._removal_listeners):
            listener(link_id)

    def add_removal_listener(self, listener: Callable[[uuid.UUID], None]) -> None:
        """``listener(link_id)`` after a link is removed (called on the remover's thread)."""
        self._removal_listeners.append(listener)

    # ----- the broker's log-in -----------------------------------------------------------------------

    def login_url(self, user_id: uuid.UUID, link_id: uuid.UUID) -> str | None:
        """The broker's log-in page for this link, or None when its log-in is a typed code (Angel: PIN + TOTP)."""
        with self._sessions() as s:
            row = self._row(s, user_id, link_id)
            credentials, _ = self._open(row)
        adapter = self._adapter(row.broker)
        return self._broker_call(
            row, lambda: adapter.login_url(credentials, self._endpoints(row.broker)), "open the log-in page"
        )

    def log_in(self, user_id: uuid.UUID, link_id: uuid.UUID, answer: Mapping[str, str]) -> LinkedAccount:
        """Trade the log-in's answer for the day's session and seal it beside the credentials."""
        with self._sessions() as s:
            row = self._row(s, user_id, link_id)
            credentials, _ = self._open(row)
        adapter = self._adapter(row.broker)
        clean = {str(k): _clean_value(str(k), v) for k, v in answer.items()}
        session = self._broker_call(
            row,
            lambda: adapter.start_session(credentials, clean, self._endpoints(row.broker)),
            "log in",
        )
        if not session:
            raise BrokerAccountError(f"{adapter.display_name} did not open a session; log in again.")
        with self._sessions() as s:
            row = self._row(s, user_id, link_id, lock=True)
            credentials, _ = self._open(row)  # sealed again with the session, under the same slot
            row.credentials_encrypted = self._seal(self._slot(row), credentials, session)
            row.meta = {
                **(row.meta or {}),
                "session": {"date": self._today().isoformat(), "started_at": datetime.now(UTC).isoformat()},
            }
            s.commit()
            return self._view(row)

    def end_session(self, user_id: uuid.UUID, link_id: uuid.UUID, started: str | None = None) -> None:
        """The broker ended the session (``SessionExpired``): drop it, so the next order asks for a log-in.

        With ``started``, only that session is dropped: a newer log-in made meanwhile (another window) stays."""
        with self._sessions() as s:
            row = self._row(s, user_id, link_id, lock=True)
            if started is not None and ((row.meta or {}).get("session") or {}).get("started_at") != started:
                return
            credentials, _ = self._open(row)
            row.credentials_encrypted = self._seal(self._slot(row), credentials, {})
            meta = dict(row.meta or {})
            meta["session"] = {**meta.get("session", {}), "expired": True}
            row.meta = meta
            s.commit()

    def open(self, user_id: uuid.UUID, link_id: uuid.UUID) -> OpenedLink:
        """The link as a Broker for its current session; LoginNeeded when it has none."""
        with self._sessions() as s:
            row = self._row(s, user_id, link_id)
            credentials, session = self._open(row)
            account = self._view(row)
        if not session or not account.logged_in:
            raise LoginNeeded(self._login_needed(account))
        adapter = self._adapter(row.broker)
        try:
            broker = self._broker_call(
                row, lambda: adapter.open_broker(credentials, session, self._endpoints(row.broker)), "connect"
            )
        except LoginNeeded:  # the broker ended the session already: the list says so, the next order asks
            self.end_session(user_id, link_id, started=account.session_started)
            raise
        fields = {f.name: f for f in adapter.credential_fields}
        settings = {k: v for k, v in credentials.items() if k in fields and not fields[k].secret}
        return OpenedLink(account, broker, settings)

    def remember_account_id(self, user_id: uuid.UUID, link_id: uuid.UUID, account_id: str) -> None:
        """Keep the broker's own id of the account (read from its first session) for the confirmation to name."""
        with self._sessions() as s:
            row = self._row(s, user_id, link_id, lock=True)
            if (row.meta or {}).get("account_id") != account_id:
                row.meta = {**(row.meta or {}), "account_id": account_id}
                s.commit()

    def login_needed_message(self, account: LinkedAccount) -> str:
        return self._login_needed(account)

    # ----- internals ---------------------------------------------------------------------------------

    def _adapter(self, broker: str) -> BrokerLinkAdapter:
        try:
            return self._adapters(broker)
        except Exception as exc:
            log.warning("the %s link adapter could not be loaded", broker, exc_info=True)
            raise BrokerAccountError(f"StratForge cannot reach {broker} accounts on this computer.") from exc

    def _row(self, s: Session, user_id: uuid.UUID, link_id: uuid.UUID, *, lock: bool = False) -> BrokerConnection:
        query = select(BrokerConnection).where(
            BrokerConnection.id == link_id,
            BrokerConnection.user_id == user_id,
            BrokerConnection.broker.in_(self._brokers),
        )
        row = s.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise LinkNotFound("That broker account is not linked (it was removed, or is not yours).")
        return row

    @staticmethod
    def _slot(row: BrokerConnection) -> CredentialSlot:
        return CredentialSlot(row.user_id, row.broker, row.label)

    def _seal(self, slot: CredentialSlot, credentials: Mapping[str, str], session: Mapping[str, str]) -> bytes:
        secrets = {_CREDENTIAL + k: v for k, v in credentials.items()}
        secrets.update({_SESSION + k: v for k, v in session.items()})
        try:
            return self._vault.seal(slot, secrets)
        except VaultError as exc:
            raise BrokerAccountError(str(exc)) from None

    def _open(self, row: BrokerConnection) -> tuple[dict[str, str], dict[str, str]]:
        """The row's credentials and session, opened with the slot of the row they were read from."""
        if row.credentials_encrypted is None:
            raise BrokerAccountError(f"The account {row.label!r} has no saved credentials; link it again.")
        try:
            opened = self._vault.open(self._slot(row), row.credentials_encrypted)
        except VaultError as exc:
            raise BrokerAccountError(str(exc)) from None
        credentials = {k[len(_CREDENTIAL) :]: v for k, v in opened.items() if k.startswith(_CREDENTIAL)}
        session = {k[len(_SESSION) :]: v for k, v in opened.items() if k.startswith(_SESSION)}
        return credentials, session

    def _view(self, row: BrokerConnection) -> LinkedAccount:
        meta: dict[str, Any] = row.meta or {}
        session = meta.get("session") or {}
        expired = bool(session.get("expired"))
        day = session.get("date")
        return LinkedAccount(
            id=row.id,
            broker=row.broker,
            broker_name=row.brokerage_name or row.broker,
            label=row.label,
            hints=dict(meta.get("hints") or {}),
            session_date=None if expired or not day else date.fromisoformat(day),
            session_expired=expired,
            broker_account_id=meta.get("account_id"),
            is_paper=bool(row.is_paper),
            session_started=None if expired else session.get("started_at"),
        )

    @staticmethod
    def _login_needed(account: LinkedAccount) -> str:
        if account.session_expired:
            return (
                f"Your {account.broker_name} session for {account.label!r} has ended; log in again in "
                "Settings > Broker accounts."
            )
        return f"Log in to {account.broker_name} for {account.label!r} first (Settings > Broker accounts)."

    def _broker_call[T](self, row: BrokerConnection, call: Callable[[], T], what: str) -> T:
        """Run an adapter call; its refusals become one line naming the account (the SDK's text only in the log)."""
        name = row.brokerage_name or row.broker
        try:
            return call()
        except SessionExpired:
            raise LoginNeeded(
                f"Your {name} session for {row.label!r} has ended; log in again in Settings > Broker accounts."
            ) from None
        except BrokerUnavailable as exc:
            log.warning("%s: could not %s", name, what, exc_info=True)
            raise BrokerAccountError(f"{name} did not answer ({exc}); try again in a moment.") from None
        except BrokerError as exc:
            raise BrokerAccountError(f"{name} refused to {what}: {exc}") from None
        except (ValueError, KeyError) as exc:  # an adapter's check of what was typed (a missing token, a bad code)
            log.info("%s: could not %s", name, what, exc_info=True)
            raise BrokerAccountError(f"Could not {what} at {name}: {exc}") from None
