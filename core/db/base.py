"""Declarative base, naming convention and column helpers shared by every model.

The conventions here are what keep one schema coherent across the five seed
designs: UUID keys generated in the database as well as in Python, TIMESTAMPTZ
for every time, NUMERIC for every amount of money.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import DateTime, MetaData, Numeric, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Money: 20 digits with 6 decimals covers account balances and per-share prices
# (Alpaca quotes sub-penny prices below $1). Quantities allow 9 decimals
# because Alpaca accepts fractional share quantities to 9 places.
Money = Numeric(20, 6)
Quantity = Numeric(24, 9)
Ratio = Numeric(12, 6)

uuid_pk = Annotated[
    uuid.UUID,
    mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")),
]
created_ts = Annotated[datetime, mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())]
updated_ts = Annotated[
    datetime,
    mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()),
]
tstz = Annotated[datetime, mapped_column(DateTime(timezone=True))]
money = Annotated[Decimal, mapped_column(Money)]
jsonb = Annotated[Any, mapped_column(JSONB)]
symbol_str = Annotated[str, mapped_column(String(20))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        Decimal: Money,
        uuid.UUID: UUID(as_uuid=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }


def enum_check(column: str, values: tuple[str, ...] | list[str]) -> str:
    """SQL for a CHECK that keeps a VARCHAR column inside an enumeration.

    CHECKs rather than PostgreSQL ENUM types: adding a value later is a plain
    constraint swap inside a migration, with no ALTER TYPE limitations.
    """
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def tables_with_updated_at() -> list[str]:
    """Every table that has an ``updated_at`` column (the trigger list for migrations and tests)."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "updated_at" in t.c)
