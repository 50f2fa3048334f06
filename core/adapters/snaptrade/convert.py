"""SnapTrade's JSON answers as our values: Decimal money and quantities, aware UTC times, trades told from the rest.

The client parses every answer with ``parse_float=Decimal`` (the SDK's own parse gives floats, and 0.1 + 0.2 is not
money), so numbers reach these functions as Decimal or int. Only BUY and SELL activities of a listed security are
trades; dividends, deposits, fees, interest, reinvested dividends, option events and anything without a usable
symbol, quantity, price or time are kept apart with the reason, to be counted, never booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal

from core.domain.symbols import is_valid_symbol, normalize_symbol

QUANTITY_PLACES = Decimal("1e-9")  # fills.quantity NUMERIC(24,9)
PRICE_PLACES = Decimal("1e-6")  # fills.price NUMERIC(20,6)
MAX_QUANTITY = Decimal("1e15")
MAX_MONEY = Decimal("1e14")
TRADE_SIDES = {"BUY": "buy", "SELL": "sell"}
ASSET_TYPES = {"et": "etf", "etf": "etf", "crypto": "crypto", "crypto_currency": "crypto"}

ActivityKind = Literal["trade", "other", "unusable"]


@dataclass(frozen=True)
class SnapTradeUser:
    """A registered SnapTrade user; the secret never shows in repr (tracebacks, debug logs)."""

    user_id: str
    user_secret: str = field(repr=False)


@dataclass(frozen=True)
class Connection:
    """One brokerage authorization: a login at one brokerage, holding one or more accounts."""

    id: str
    brokerage: str  # display name
    slug: str | None
    name: str | None
    type: str | None  # read | trade
    disabled: bool
    disabled_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class BrokerageAccount:
    id: str
    connection_id: str
    name: str | None
    number: str | None  # as SnapTrade gives it (often masked by the brokerage)
    institution: str
    total: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class Position:
    symbol: str
    kind: str
    units: Decimal
    price: Decimal | None
    cost_basis: Decimal | None
    currency: str | None

    def as_json(self) -> dict[str, str | None]:
        """Money as text in JSONB (exact), as the journal stores every Decimal."""
        return {
            "symbol": self.symbol,
            "kind": self.kind,
            "units": _text(self.units),
            "price": _text(self.price),
            "cost_basis": _text(self.cost_basis),
            "currency": self.currency,
        }


@dataclass(frozen=True)
class PositionsSnapshot:
    account_id: str
    positions: tuple[Position, ...]
    as_of: datetime | None


@dataclass(frozen=True)
class Activity:
    """One transaction of an account; only ``kind == 'trade'`` ones carry side, quantity, price and time."""

    id: str
    account_id: str
    type: str
    kind: ActivityKind
    reason: str | None  # why it is not a trade (for "other" and "unusable")
    symbol: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal = Decimal(0)
    executed_at: datetime | None = None
    currency: str | None = None
    asset_type: str = "equity"
    institution: str | None = None
    external_reference_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _trim(value: Decimal) -> Decimal:
    """Without trailing zeros, never in exponent form (10, not 1E+1)."""
    trimmed = value.normalize()
    return trimmed.quantize(Decimal(1)) if trimmed.as_tuple().exponent > 0 else trimmed  # type: ignore[operator]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def decimal_or_none(value: object) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None for null, empty, non-numbers and non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def time_or_none(value: object) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; a bare date is midnight UTC) as aware UTC; None when absent or bad."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _str(value: object) -> str | None:
    return str(value).strip() or None if value is not None else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def user(body: object) -> SnapTradeUser:
    fields = _mapping(body)
    user_id, secret = _str(fields.get("userId")), _str(fields.get("userSecret"))
    if not user_id or not secret:
        raise ValueError("SnapTrade's registration answer holds no user id and secret")
    return SnapTradeUser(user_id, secret)


def portal_url(body: object) -> str:
    url = _str(_mapping(body).get("redirectURI"))
    if not url or not url.startswith("https://"):  # opened in the trader's browser: never a file: or javascript:
        raise ValueError("SnapTrade's login answer holds no connection portal link")
    return url


def connection(body: Mapping[str, Any]) -> Connection:
    brokerage = _mapping(body.get("brokerage"))
    return Connection(
        id=str(body["id"]),
        brokerage=_str(brokerage.get("display_name")) or _str(brokerage.get("name")) or "Brokerage",
        slug=_str(brokerage.get("slug")),
        name=_str(body.get("name")),
        type=_str(body.get("type")),
        disabled=bool(body.get("disabled")),
        disabled_at=time_or_none(body.get("disabled_date")),
        created_at=time_or_none(body.get("created_date")),
    )


def accounts(body: object, brokerages: Mapping[str, str]) -> list[BrokerageAccount]:
    """The investment accounts of ``/accounts/all`` (deposit, credit and annuity accounts hold no trades);
    ``brokerages`` names each connection's brokerage (the answer names only the connection)."""
    found: list[BrokerageAccount] = []
    for item in _mapping(body).get("results") or ():
        item = _mapping(item)
        if item.get("kind") != "investment":
            continue
        net = _mapping(item.get("net_value"))
        connection_id = str(item.get("connection_id") or "")
        found.append(
            BrokerageAccount(
                id=str(item["id"]),
                connection_id=connection_id,
                name=_str(item.get("display_name")),
                number=_str(item.get("masked_account_number")),
                institution=brokerages.get(connection_id) or "Brokerage",
                total=decimal_or_none(net.get("amount")),
                currency=_str(net.get("currency")),
            )
        )
    return found


def positions(account_id: str, body: object) -> PositionsSnapshot:
    fields = _mapping(body)
    held: list[Position] = []
    for item in fields.get("results") or ():
        item = _mapping(item)
        instrument = _mapping(item.get("instrument"))
        units = decimal_or_none(item.get("units"))
        symbol = _str(instrument.get("symbol"))
        if units is None or symbol is None:
            continue
        held.append(
            Position(
                symbol=symbol,
                kind=_str(instrument.get("kind")) or "other",
                units=units,
                price=decimal_or_none(item.get("price")),
                cost_basis=decimal_or_none(item.get("cost_basis")),
                currency=_str(item.get("currency")),
            )
        )
    as_of = time_or_none(_mapping(fields.get("data_freshness")).get("as_of"))
    return PositionsSnapshot(account_id, tuple(held), as_of)


def activity(account_id: str, body: Mapping[str, Any]) -> Activity:
    """One transaction, told apart: a trade we can book, another kind of transaction, or a trade we cannot book."""
    activity_id = _str(body.get("id"))
    kind_word = (_str(body.get("type")) or "").upper()
    common: dict[str, Any] = {
        "id": activity_id or "",
        "account_id": account_id,
        "type": kind_word or "UNKNOWN",
        "institution": _str(body.get("institution")),
        "external_reference_id": _str(body.get("external_reference_id")),
        "raw": body,
    }
    side = TRADE_SIDES.get(kind_word)
    if side is None:
        return Activity(kind="other", reason=f"{kind_word or 'untyped'} is not a trade", **common)

    def unusable(reason: str) -> Activity:
        return Activity(kind="unusable", reason=reason, **common)

    if not activity_id:
        return unusable("the transaction has no id")
    if body.get("option_symbol"):
        return unusable("option trades are not journaled yet")
    symbol_fields = _mapping(body.get("symbol"))
    symbol = normalize_symbol(_str(symbol_fields.get("symbol")) or "")
    if not symbol or not is_valid_symbol(symbol):
        return unusable(f"symbol {symbol or 'missing'} is not one StratForge can journal")
    quantity = decimal_or_none(body.get("units"))
    price = decimal_or_none(body.get("price"))
    if quantity is None or quantity == 0:
        return unusable("the trade has no quantity")
    if price is None or price <= 0:
        return unusable("the trade has no price")
    quantity = _trim(abs(quantity).quantize(QUANTITY_PLACES, ROUND_HALF_EVEN))
    price = _trim(price.quantize(PRICE_PLACES, ROUND_HALF_EVEN))
    if quantity == 0 or quantity >= MAX_QUANTITY or price == 0 or price >= MAX_MONEY:
        return unusable("the trade's quantity or price is out of range")
    fee = _trim(abs(decimal_or_none(body.get("fee")) or Decimal(0)).quantize(PRICE_PLACES, ROUND_HALF_EVEN))
    executed_at = time_or_none(body.get("trade_date")) or time_or_none(body.get("settlement_date"))
    if executed_at is None:
        return unusable("the trade has no date")
    type_code = (_str(_mapping(symbol_fields.get("type")).get("code")) or "").lower()
    currency = _str(_mapping(body.get("currency")).get("code"))
    return Activity(
        kind="trade",
        reason=None,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        fee=fee if fee < MAX_MONEY else Decimal(0),
        executed_at=executed_at,
        currency=currency,
        asset_type=ASSET_TYPES.get(type_code, "equity"),
        **common,
    )


def plain_json(value: Any) -> Any:
    """``value`` with the parse's Decimals back as JSON numbers (float), for keeping SnapTrade's answer as it was."""
    if isinstance(value, Decimal):
        return float(value)  # parse_float=Decimal: only JSON's fractional numbers became Decimals
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    return value
