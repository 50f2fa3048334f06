"""``stratforge-market``: bar data from the command line, on the same database the app uses.

    stratforge-market import FILE SYMBOL [--timeframe 1Min] [--naive-is-an-error]
    stratforge-market export FILE SYMBOL [--timeframe 1Min] [--start ISO] [--end ISO]
    stratforge-market fetch SYMBOL START END [--timeframe 1Min] [--feed iex] [--alpaca-data-url URL]
    stratforge-market regimes SYMBOL [--timeframe 1Min] [--start ISO] [--end ISO] [--states 3]
    stratforge-market prune [--keep-days 30] [--downsample 5Min,1Day | --no-downsample] [--symbol S ...] [--dry-run]

The database is the app's: the shared one when STRATFORGE_DATABASE_URL is set,
otherwise the embedded one in the data folder (so the app must not be running
at the same time). ``fetch`` needs Alpaca keys in APCA_API_KEY_ID and
APCA_API_SECRET_KEY. Exit status: 0 done, 1 done but some rows were rejected,
2 nothing done (the message says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from core.adapters.alpaca.bar_history import AlpacaBarSource
from core.cli import args as cli_args
from core.cli.args import utc_time
from core.cli.errors import one_line, run_command
from core.config import ALPACA_KEY_ENV as KEY_ENV
from core.config import ALPACA_SECRET_ENV as SECRET_ENV
from core.config import Settings
from core.db.database import open_database
from core.db.errors import DatabaseError
from core.market.calendar import TradingCalendar
from core.market.errors import MarketDataError
from core.market.file_reading import MAX_TEXT_BYTES
from core.market.files import export_bars, import_bars
from core.market.frames import BAR_COLUMNS, Plausible
from core.market.history import HistoryService
from core.market.retention import RetentionPolicy, apply_retention
from core.market.store import BarStore
from core.market.sync_log import SyncLog

PROG = "stratforge-market"
EXAMPLES = {  # each command's --help ends with these (core/cli/main.py: every command shows an example)
    "": """examples:
  {prog} import bars.csv AAPL
  {prog} export aapl.parquet AAPL --start 2025-01-01
  {prog} fetch AAPL 2025-01-01 2025-02-01          # needs APCA_API_KEY_ID and APCA_API_SECRET_KEY

`{prog} COMMAND --help` describes each command. Exit status: 0 done, 1 done but some rows were rejected,
2 nothing done (the message says why).""",
    "import": """examples:
  {prog} import bars.csv AAPL                      # CSV or Parquet; naive times are UTC; prints a report
  {prog} import spy_5min.parquet SPY --timeframe 5Min
  {prog} import export.csv AAPL --column timestamp=When --column close=Last --epoch ms

Recognised without flags: a pandas to_csv index column (Unnamed: 0, Datetime), Date/Datetime/time/t/timestamp
columns, Capitalised or short (o,h,l,c,v,n,vw) names, yfinance files (Adj Close ignored when Close is there),
alpaca-py frames (a symbol column: only SYMBOL's rows), epoch seconds or milliseconds (told by their size).
Rows must be plausible: prices finite, > 0 and <= 1,000,000 (--max-price), volume finite, >= 0 and <= 1e12
(--max-volume), high >= open/close >= low, times in 1900-2199; other rows are rejected with their reason.
A timestamp repeated with different values imports none of its rows; stored bars are never overwritten.""",
    "export": """examples:
  {prog} export aapl.parquet AAPL --start 2025-01-01
  {prog} export spy.csv SPY --timeframe 1Day --start 2024-01-01 --end 2025-01-01""",
    "fetch": """example:
  APCA_API_KEY_ID=... APCA_API_SECRET_KEY=... {prog} fetch AAPL 2025-01-01 2025-02-01 --feed iex""",
    "regimes": """example:
  {prog} regimes AAPL --states 3                   # features + HMM regimes per bar; model JSON in the data folder""",
    "prune": """examples:
  {prog} prune --keep-days 30 --dry-run            # what would go: old minutes -> 5Min + 1Day bars, then deleted
  {prog} prune --keep-days 90 --symbol AAPL --no-downsample""",
}


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """``stratforge-market`` / ``stratforge market``: an error escaping a command is one line (``--debug``: its
    traceback), with the documented "nothing done" status."""
    return run_command(lambda args: _main(args, prog), argv, prog, failed=2)


def _main(argv: list[str], prog: str) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog=prog, description="Import, export and fetch bars.")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import a CSV or Parquet file of bars")
    imp.add_argument("file")
    imp.add_argument("symbol", type=cli_args.symbol)
    imp.add_argument("--timeframe", type=cli_args.timeframe, default="1Min")
    imp.add_argument("--naive-is-an-error", action="store_true", help="reject times without a zone (default: UTC)")
    imp.add_argument(
        "--column",
        type=_column,
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="which file column holds a bar field (timestamp, open, high, low, close, volume, trade_count, vwap);"
        " repeatable, for what the import cannot tell by itself",
    )
    imp.add_argument("--epoch", choices=("s", "ms", "us", "ns"), help="numeric times are epoch times in this unit")
    imp.add_argument(
        "--max-price", type=float, default=Plausible.max_price, help="reject rows priced above this (default 1,000,000)"
    )
    imp.add_argument(
        "--max-volume", type=float, default=Plausible.max_volume, help="reject rows with more volume (default 1e12)"
    )
    imp.add_argument(
        "--max-gib",
        type=float,
        default=MAX_TEXT_BYTES / 1024**3,
        help="refuse a file that is (or decompresses to) more than this many GiB of text (default 2)",
    )
    exp = sub.add_parser("export", help="write stored bars to a CSV or Parquet file")
    exp.add_argument("file")
    exp.add_argument("symbol", type=cli_args.symbol)
    exp.add_argument("--timeframe", type=cli_args.timeframe, default="1Min")
    exp.add_argument("--start", type=utc_time)
    exp.add_argument("--end", type=utc_time)
    fetch = sub.add_parser("fetch", help="fetch what is missing of a range from Alpaca")
    fetch.add_argument("symbol", type=cli_args.symbol)
    fetch.add_argument("start", type=utc_time)
    fetch.add_argument("end", type=utc_time)
    fetch.add_argument("--timeframe", type=cli_args.timeframe, default="1Min")
    fetch.add_argument("--feed", default="iex", choices=("iex", "sip"))
    fetch.add_argument("--alpaca-data-url", default=None, help="market-data base URL (default: Alpaca's)")
    reg = sub.add_parser("regimes", help="compute features and fit a market-regime model over stored bars")
    reg.add_argument("symbol", type=cli_args.symbol)
    reg.add_argument("--timeframe", type=cli_args.timeframe, default="1Min")
    reg.add_argument("--start", type=utc_time)
    reg.add_argument("--end", type=utc_time)
    reg.add_argument("--states", type=int, default=3)
    prune = sub.add_parser("prune", help="retention: downsample and delete old 1-minute bars")
    prune.add_argument("--keep-days", type=int, default=RetentionPolicy.keep_1min_days)
    prune.add_argument("--downsample", default=",".join(RetentionPolicy.downsample_to), help="coarser bars to keep")
    prune.add_argument("--no-downsample", action="store_true", help="delete old minutes without keeping anything")
    prune.add_argument(
        "--symbol", type=cli_args.symbol, action="append", dest="symbols", help="only these symbols (repeatable)"
    )
    prune.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    _add_examples(parser, sub, prog)
    args = cli_args.parse_strictly(parser, argv)

    if args.command == "fetch" and not (env.get(KEY_ENV) and env.get(SECRET_ENV)):
        parser.error(f"no Alpaca keys: set {KEY_ENV} and {SECRET_ENV}")
    try:
        database = open_database(Settings.from_env())
    except DatabaseError as exc:
        print(f"{prog}: {one_line(exc)}", file=sys.stderr)
        return 2
    store = BarStore(database.engine)
    commands: dict[str, Callable[[], int]] = {
        "import": lambda: _import(store, args),
        "export": lambda: _export(store, args),
        "fetch": lambda: _fetch(store, database.engine, args, env[KEY_ENV], env[SECRET_ENV]),
        "prune": lambda: _prune(database.engine, args),
        "regimes": lambda: _regimes(store, database.engine, args, Settings.from_env().data_dir),
    }
    try:
        return commands[args.command]()
    except (
        ValueError,
        OSError,
        MarketDataError,
    ) as exc:  # RetentionError is a MarketDataError  # a bad file, path, range or answer: say so, no traceback
        print(f"{prog}: {one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        store.close()
        database.close()


def _import(store: BarStore, args: argparse.Namespace) -> int:
    """The report: the summary line, how the file was read (layout, encoding, times, columns), then the first
    rejected rows and conflicts. Exit 1 when rows were rejected or differ from stored bars."""
    report = import_bars(
        store,
        args.file,
        args.symbol,
        args.timeframe,
        naive_is_utc=not args.naive_is_an_error,
        mapping=dict(args.column),
        epoch=args.epoch,
        plausible=Plausible(max_price=args.max_price, max_volume=args.max_volume),
        max_bytes=max(1, int(args.max_gib * 1024**3)),
    )
    print(report.summary())
    for line in report.details():
        print(f"  {line}")
    return 1 if report.rejected or report.stored_conflicts else 0


def _column(text: str) -> tuple[str, str]:
    """``FIELD=COLUMN`` (``close=Last``; the column may contain spaces: ``'close=Adj Close'``)."""
    field, sep, column = text.partition("=")
    field, column = field.strip().lower(), column.strip()
    if not sep or not column:
        raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN, e.g. timestamp=When, not {text!r}")
    if field not in BAR_COLUMNS:
        raise argparse.ArgumentTypeError(f"unknown bar field {field!r}: use one of {', '.join(BAR_COLUMNS)}")
    return field, column


def _export(store: BarStore, args: argparse.Namespace) -> int:
    rows = export_bars(store, args.file, args.symbol, args.timeframe, args.start, args.end)
    print(f"{rows:,} {args.symbol.upper()} {args.timeframe} bars written to {args.file}")
    return 0


def _fetch(store: BarStore, engine: Engine, args: argparse.Namespace, key: str, secret: str) -> int:
    source = AlpacaBarSource(key, secret, url_override=args.alpaca_data_url, feed=args.feed)
    history = HistoryService(store, source, SyncLog(engine), TradingCalendar())
    result = history.bars(args.symbol, args.timeframe, args.start, args.end)
    print(
        f"{args.symbol.upper()} {args.timeframe}: {len(result.frame):,} bars stored for the range; "
        f"{len(result.fetched_ranges)} request range(s), {result.bars_fetched:,} bars fetched, "
        f"{result.bars_stored:,} new"
    )
    if result.rejected:
        print("  malformed bars dropped: " + ", ".join(f"{k}: {v}" for k, v in result.rejected.items()))
        return 1
    return 0


def _regimes(store: BarStore, engine: Engine, args: argparse.Namespace, data_dir: Path) -> int:
    """Fit, store per bar, and keep the model's parameters beside the data (rows only name the model's id)."""
    if store.count(args.symbol, args.timeframe, args.start, args.end) == 0:
        raise MarketDataError(
            f"No stored {args.symbol.upper()} {args.timeframe} bars in that range: fetch or import first."
        )
    from core.market.feature_store import FeatureStore, compute_and_store  # hmmlearn + sklearn: 3 s, only here

    _, regimes, model = compute_and_store(
        store, FeatureStore(engine), args.symbol, args.timeframe, args.start, args.end, n_states=args.states
    )
    saved = data_dir / "models" / f"{model.model_id}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(model.to_dict(), indent=1))
    shares = regimes["state_id"].value_counts(normalize=True, dropna=True).sort_index()
    print(
        f"{args.symbol.upper()} {args.timeframe}: {len(regimes):,} bars, model {model.model_id} (saved to {saved}); "
        + ", ".join(f"state {int(k)}: {v:.1%}" for k, v in shares.items())
    )
    return 0


def _prune(engine: Engine, args: argparse.Namespace) -> int:
    downsample = () if args.no_downsample else tuple(t.strip() for t in args.downsample.split(",") if t.strip())
    policy = RetentionPolicy(
        keep_1min_days=args.keep_days,
        downsample_to=downsample,
        symbols=tuple(args.symbols) if args.symbols else None,
    )
    print(apply_retention(engine, policy, dry_run=args.dry_run).summary())
    return 0


def _add_examples(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction, prog: str) -> None:
    """Every command's --help: its listing line on top, its examples below."""
    raw = argparse.RawDescriptionHelpFormatter
    parser.epilog, parser.formatter_class = EXAMPLES[""].format(prog=prog), raw
    lines = {action.dest: action.help for action in sub._choices_actions}
    for name, command in sub.choices.items():
        command.description = command.description or lines.get(name)
        command.epilog, command.formatter_class = EXAMPLES.get(name, "").format(prog=prog) or None, raw


if __name__ == "__main__":
    sys.exit(main())
