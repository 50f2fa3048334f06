"""Reading a broker's fills export (CSV) into checked rows. Pure: no database.

The documented column set (header names are matched case-insensitively; spaces and dashes read as
underscores; the first alias present wins):

| column        | required | aliases                                                       |
|---------------|----------|---------------------------------------------------------------|
| symbol        | yes      | ticker                                                        |
| side          | yes*     | action, buy_sell                                              |
| quantity      | yes      | qty, shares                                                   |
| price         | yes      | fill_price, execution_price                                   |
| executed_at   | yes      | transaction_time, filled_at, execution_time, timestamp, time, datetime, date_time |
| fees          | no (0)   | fee, commission, commissions                                  |
| trade_id      | no       | execution_id, exec_id, fill_id; id in an Alpaca export        |
| order_id      | no       | broker_order_id                                               |

Alpaca's account-activities export (``activity_type, id, qty, price, side, symbol, transaction_time,
order_id, ...``, recognised by its ``activity_type`` or ``transaction_time`` column) reads as it is: ``id`` is
the trade id, ``sell_short`` is a sell, and rows whose ``activity_type`` is not ``FILL`` / ``PARTIAL_FILL``
are rejected as not being fills. (In other files a bare ``id`` column is ignored: it is as often a row
number, which would make the next export's rows look like duplicates.)

* Side: buy / b / bot / bought / buy_to_cover / cover, or sell / s / sld / sold / sell_short / short.
  (*) Without a side column, the sign of the quantity gives it (negative = sell).
* Numbers may carry ``$``, thousands commas and accounting parentheses. Quantities are positive with at
  most 9 decimals, prices positive with at most 6 (what the columns store exactly; nothing is rounded).
  Fees are a cost: a negative fee (some brokers print commissions negative) counts as its absolute value.
* Times: ISO 8601 (``2025-03-03T14:30:00Z``, ``2025-03-03 09:30:00-05:00``), or ``MM/DD/YYYY HH:MM[:SS]``,
  or ``YYYYMMDD;HHMMSS``. Naive times are UTC. Times more than five minutes in the future are rejected.

Every fill needs an execution id that is the same each time the same file is read, so a re-import adds
nothing: ``<broker>:<trade_id>`` when the file has one, else ``<broker>:h:<hash>``, a SHA-256 of the row's
values (symbol, side, quantity, price, fees, time) and of how many identical rows came before it in the
file (two genuine identical fills stay two). A trade id repeated with other values is rejected; repeated
with the same values it is a duplicate.

Row numbers count data rows: 1 is the first row after the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.journal.errors import FillImportError

REQUIRED = ("symbol", "quantity", "price", "executed_at")
ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker"),
    "side": ("side", "action", "buy_sell"),
    "quantity": ("quantity", "qty", "shares"),
    "price": ("price", "fill_price", "execution_price"),
    "executed_at": ("executed_at", "transaction_time", "filled_at", "execution_time", "timestamp", "time",
                    "datetime", "date_time"),
    "fees": ("fees", "fee", "commission", "commissions"),
    "trade_id": ("trade_id", "execution_id", "exec_id", "fill_id", "id"),
    "order_id": ("order_id", "broker_order_id"),
    "activity_type": ("activity_type",),
}  # fmt: skip
BUY_WORDS = frozenset({"buy", "b", "bot", "bought", "buy_to_cover", "cover"})
SELL_WORDS = frozenset({"sell", "s", "sld", "sold", "sell_short", "short"})
FILL_ACTIVITIES = frozenset({"fill", "partial_fill"})
MAX_QTY = Decimal("1e15")  # NUMERIC(24,9)
MAX_MONEY = Decimal("1e14")  # NUMERIC(20,6)
MAX_ID = 255
FUTURE_SLACK = timedelta(minutes=5)
_FRACTION = re.compile(r"(\.\d{6})\d+")
_OTHER_TIME_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y%m%d;%H%M%S")


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str


@dataclass(frozen=True)
class ParsedFill:
    """One checked row of the file, ready to store."""

    row: int
    execution_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fees: Decimal
    executed_at: datetime
    broker_order_id: str | None
    raw: dict[str, str]


@dataclass(frozen=True)
class ParsedFile:
    rows_read: int
    fills: tuple[ParsedFill, ...]  # file order, without in-file duplicates
    duplicate_rows: tuple[int, ...]  # repeated inside the file
    rejected: tuple[RejectedRow, ...]


class _RowError(Exception):
    pass


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _columns(header: list[str]) -> dict[str, int]:
    keys = [_header_key(h) for h in header]
    alpaca = "activity_type" in keys or "transaction_time" in keys
    found: dict[str, int] = {}
    for column, aliases in ALIASES.items():
        for alias in aliases:
            if alias == "id" and not alpaca:
                continue  # elsewhere a bare "id" is as likely a row number as a trade id
            if alias in keys:
                found[column] = keys.index(alias)
                break
    missing = [c for c in REQUIRED if c not in found]  # no side column: the quantity's sign gives it
    if missing:
        raise FillImportError(
            "The file has no " + ", ".join(missing) + " column"
            + ("s" if len(missing) > 1 else "")
            + f" (columns found: {', '.join(h.strip() for h in header if h.strip()) or 'none'})."
        )  # fmt: skip
    return found


def _number(text: str, what: str) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "").replace(" ", "")
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    if negative:
        cleaned = cleaned[1:-1]
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise _RowError(f"{what} {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise _RowError(f"{what} {text.strip()!r} is not a number")
    return -value if negative else value


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _time(text: str, now: datetime) -> datetime:
    raw = text.strip()
    if not raw:
        raise _RowError("executed_at is empty")
    iso = _FRACTION.sub(r"\1", raw.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        for fmt in _OTHER_TIME_FORMATS:
            try:
                value = datetime.strptime(raw, fmt)  # noqa: DTZ007 - naive times are UTC, set below
                break
            except ValueError:
                continue
        else:
            raise _RowError(f"executed_at {raw!r} is not a date and time") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value > now + FUTURE_SLACK:
        raise _RowError(f"executed_at {raw!r} is in the future")
    return value


def _side(text: str | None, quantity: Decimal) -> tuple[str, Decimal]:
    if text is None:
        if quantity == 0:
            raise _RowError("quantity must not be zero")
        return ("buy" if quantity > 0 else "sell"), abs(quantity)
    word = _header_key(text)
    if word in BUY_WORDS:
        side = "buy"
    elif word in SELL_WORDS:
        side = "sell"
    else:
        raise _RowError(f"side {text.strip()!r} is neither buy nor sell")
    if quantity < 0:
        if side == "buy":
            raise _RowError("a buy with a negative quantity")
        quantity = -quantity  # brokers that sign sold quantities
    return side, quantity


def _cell(values: list[str], columns: dict[str, int], name: str) -> str | None:
    index = columns.get(name)
    if index is None or index >= len(values):
        return None
    return values[index]


def _parse_row(values: list[str], columns: dict[str, int], now: datetime) -> tuple:
    activity = _cell(values, columns, "activity_type")
    if activity is not None and activity.strip() and _header_key(activity) not in FILL_ACTIVITIES:
        raise _RowError(f"not a fill (activity_type {activity.strip()!r})")
    symbol = normalize_symbol(_cell(values, columns, "symbol") or "")
    if not symbol:
        raise _RowError("symbol is empty")
    if not is_valid_symbol(symbol):
        raise _RowError(f"symbol {symbol!r} is not a valid symbol")
    quantity_text = _cell(values, columns, "quantity") or ""
    if not quantity_text.strip():
        raise _RowError("quantity is empty")
    side_text = _cell(values, columns, "side") if "side" in columns else None
    if side_text is not None and not side_text.strip():
        raise _RowError("side is empty")
    side, quantity = _side(side_text, _number(quantity_text, "quantity"))
    if quantity <= 0:
        raise _RowError("quantity must be positive")
    if _places(quantity) > 9 or quantity >= MAX_QTY:
        raise _RowError(f"quantity {quantity_text.strip()!r} has more than 9 decimals or is too large")
    price_text = _cell(values, columns, "price") or ""
    if not price_text.strip():
        raise _RowError("price is empty")
    price = _number(price_text, "price")
    if price <= 0:
        raise _RowError("price must be positive")
    if _places(price) > 6 or price >= MAX_MONEY:
        raise _RowError(f"price {price_text.strip()!r} has more than 6 decimals or is too large")
    fees_text = _cell(values, columns, "fees")
    fees = abs(_number(fees_text, "fees")) if fees_text and fees_text.strip() else Decimal(0)
    if _places(fees) > 6 or fees >= MAX_MONEY:
        raise _RowError(f"fees {fees_text!r} have more than 6 decimals or are too large")
    executed_at = _time(_cell(values, columns, "executed_at") or "", now)
    trade_id = (_cell(values, columns, "trade_id") or "").strip() or None
    order_id = (_cell(values, columns, "order_id") or "").strip() or None
    if order_id is not None and len(order_id) > MAX_ID:
        raise _RowError(f"order_id is longer than {MAX_ID} characters")
    return symbol, side, quantity.normalize(), price.normalize(), fees.normalize(), executed_at, trade_id, order_id


def _content_key(symbol: str, side: str, qty: Decimal, price: Decimal, fees: Decimal, at: datetime) -> str:
    return "|".join((symbol, side, format(qty, "f"), format(price, "f"), format(fees, "f"), at.isoformat()))


def parse_fills_csv(text: str, *, broker: str = "csv", now: datetime | None = None) -> ParsedFile:
    """Check every row of a CSV export. Raises FillImportError when the file as a whole cannot be read."""
    now = now or datetime.now(UTC)
    namespace = broker.strip().lower() or "csv"
    try:
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
        lines = [row for row in reader]
    except csv.Error as exc:
        raise FillImportError(f"The file is not readable as CSV: {exc}") from exc
    while lines and not any(cell.strip() for cell in lines[0]):
        lines.pop(0)
    if not lines:
        raise FillImportError("The file is empty.")
    header, body = lines[0], lines[1:]
    columns = _columns(header)
    fills: list[ParsedFill] = []
    rejected: list[RejectedRow] = []
    duplicates: list[int] = []
    seen: dict[str, tuple[int, str]] = {}  # execution id -> (row, content)
    identical: Counter[str] = Counter()
    rows_read = 0
    for number, values in enumerate(body, start=1):
        if not any(cell.strip() for cell in values):
            continue  # blank lines are not rows
        rows_read += 1
        try:
            symbol, side, qty, price, fees, at, trade_id, order_id = _parse_row(values, columns, now)
        except _RowError as exc:
            rejected.append(RejectedRow(number, str(exc)))
            continue
        content = _content_key(symbol, side, qty, price, fees, at)
        if trade_id is not None:
            execution_id = f"{namespace}:{trade_id}"
        else:
            occurrence = identical[content]
            identical[content] += 1
            digest = hashlib.sha256(f"{content}|{occurrence}".encode()).hexdigest()[:40]
            execution_id = f"{namespace}:h:{digest}"
        if len(execution_id) > MAX_ID:
            rejected.append(RejectedRow(number, f"trade_id is longer than {MAX_ID - len(namespace) - 1} characters"))
            continue
        if execution_id in seen:
            first_row, first_content = seen[execution_id]
            if first_content != content:
                rejected.append(RejectedRow(number, f"trade_id {trade_id!r} already used by row {first_row} "
                                                    "with different values"))  # fmt: skip
            else:
                duplicates.append(number)
            continue
        seen[execution_id] = (number, content)
        raw = {(header[i].strip() if i < len(header) else f"column_{i + 1}"): v for i, v in enumerate(values)}
        fills.append(ParsedFill(number, execution_id, symbol, side, qty, price, fees, at, order_id, raw))
    return ParsedFile(rows_read, tuple(fills), tuple(duplicates), tuple(rejected))
