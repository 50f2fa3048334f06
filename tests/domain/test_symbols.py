"""One ticker rule: every entry point reads BRK-B as BRK.B and refuses the same texts."""

from __future__ import annotations

import pytest

from core.ai.answers import _symbols as answer_symbols
from core.domain.orders import OrderSide
from core.domain.symbols import InvalidSymbol, Symbol, is_valid_symbol, normalize_symbol
from core.domain.tickets import OrderTicket
from core.paper.manager import _symbols as session_symbols


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("brk-b", "BRK.B"), (" BRK.B ", "BRK.B"), ("spy", "SPY"), ("bf-a", "BF.A"), ("QQQ", "QQQ")],
)
def test_a_symbol_has_one_spelling(text: str, canonical: str) -> None:
    assert normalize_symbol(text) == canonical
    assert Symbol(text) == canonical
    assert Symbol(Symbol(text)) == canonical


@pytest.mark.parametrize("text", ["", "   ", "bad sym", "1ABC", "ABCDEFGHIJK", "BTC/USD", "A$B", "ÄPPLE"])
def test_what_is_not_a_ticker_cannot_become_a_symbol(text: str) -> None:
    assert not is_valid_symbol(normalize_symbol(text))
    with pytest.raises(InvalidSymbol):
        Symbol(text)


def test_a_symbol_must_be_text() -> None:
    with pytest.raises(InvalidSymbol, match="must be text"):
        Symbol(12)  # type: ignore[arg-type]


def test_the_ticket_the_sessions_and_the_ai_answers_agree_on_a_share_class() -> None:
    assert OrderTicket("brk-b", OrderSide.BUY, 1).symbol == "BRK.B"
    assert session_symbols(["brk-b", "BRK.B", "spy"]) == ["BRK.B", "SPY"]
    assert answer_symbols(["brk-b", "tech stocks", "SPY"], raw="{}") == ("BRK.B", "SPY")
