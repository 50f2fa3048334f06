"""One rule for what a ticker is, and one spelling of it.

Share classes arrive spelled two ways: ``BRK.B`` (Alpaca, the exchanges' CTA form) and ``BRK-B`` (Yahoo and many
CSV exports). Alpaca knows only the dotted form, so every entry point
(the watchlist, the chart, the order ticket, the risk chain, bar and fill imports, the AI's answers, sessions,
allocations) reads a symbol through ``normalize_symbol``/``Symbol`` and they cannot disagree about ``BRK-B``.
"""

from __future__ import annotations

import re
from typing import Final

MAX_SYMBOL_LENGTH: Final = 10
# A capital letter, then capitals, digits and dots: US equities and ETFs as Alpaca lists them (``BRK.B``, ``BF.A``).
SYMBOL_RE: Final = re.compile(rf"^[A-Z][A-Z0-9.]{{0,{MAX_SYMBOL_LENGTH - 1}}}$")
# Not "/": Alpaca writes crypto pairs as BTC/USD, and reading that as a share class would invent a ticker.
_CLASS_SEPARATORS: Final = str.maketrans({"-": "."})


class InvalidSymbol(ValueError):
    """Text that is not a ticker; the message says what was wrong, for the trader."""


def normalize_symbol(text: str) -> str:
    """The canonical spelling of ``text``: trimmed, upper-case, a share class after a dot (``BRK-B`` -> ``BRK.B``).

    Does not judge validity (``is_valid_symbol`` does): callers that report a bad symbol in their own words, such
    as the risk chain's rejection or an import's per-row report, normalise first and judge second.
    """
    return text.strip().upper().translate(_CLASS_SEPARATORS)


def is_valid_symbol(text: str) -> bool:
    """Whether ``text`` is already a canonical, valid ticker (normalise it first to accept other spellings)."""
    return bool(SYMBOL_RE.match(text))


class Symbol(str):
    """A ticker that exists only in its canonical spelling: ``Symbol("brk-b") == "BRK.B"``.

    A ``str`` subclass, so it goes into SQL parameters, dict keys and f-strings unchanged; building one is the
    check, so code that holds a ``Symbol`` never checks it again.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> Symbol:
        if isinstance(text, Symbol):
            return text
        if not isinstance(text, str):
            raise InvalidSymbol(f"a symbol must be text, not {type(text).__name__}")
        canonical = normalize_symbol(text)
        if not canonical:
            raise InvalidSymbol("the symbol is empty")
        if not is_valid_symbol(canonical):
            raise InvalidSymbol(
                f"{text.strip()!r} is not a valid symbol (a letter, then letters, digits and '.', "
                f"up to {MAX_SYMBOL_LENGTH} characters)"
            )
        return super().__new__(cls, canonical)
