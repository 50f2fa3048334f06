"""Argument types shared by StratForge's command-line tools."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from core.domain.symbols import InvalidSymbol, Symbol
from core.domain.timeframes import Timeframe


def utc_time(text: str) -> datetime:
    """An ISO date or date-time; without a zone it is UTC (as for imported files)."""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def symbol(text: str) -> str:
    """A ticker in its one spelling (``brk-b`` -> ``BRK.B``); anything else is refused before any work starts."""
    try:
        return Symbol(text)
    except InvalidSymbol as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def timeframe(text: str) -> str:
    """One of the ``Timeframe`` names, refused with the list of allowed ones otherwise."""
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_strictly(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that a word nobody takes is refused by the command it was given to:
    argparse refuses it with the top parser's usage (``stratforge market [-h] {import,...}``), which does not list
    the options ``stratforge market import`` actually has; the chosen command's usage does."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command parser ``args`` went through."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs and subs[0].dest else None
        if not subs or name not in subs[0].choices:
            return parser
        parser = subs[0].choices[name]
