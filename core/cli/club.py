"""``stratforge-club``: the club service, headless. Holds the shared Alpaca account, routes and books.

    stratforge-club [--database-url URL] [--keys-file FILE] [--window-ms 50] [--poll-s 1.0] [--log-level INFO]

Runs until interrupted (Ctrl-C, SIGTERM). Start it on any machine that reaches the club's database; start it on
two and the second waits as a standby (it takes over within about a second of the first one's death). The
database must be migrated already (``stratforge-db upgrade``): the service never changes the schema.

Keys: see core/club/keys.py (environment, keyring, or a key file only its owner can read). Endpoints may be
pointed elsewhere with the app's STRATFORGE_ALPACA_* variables (a proxy, or the tests' stand-in).
Exit status: 0 stopped cleanly, 2 could not start (the message says why).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.adapters.alpaca.shared_bar_feed import SharedBarFeed, data_stream_key
from core.cli.errors import one_line, run_command
from core.club.keys import ClubKeysError, club_keys
from core.club.open_symbols import OpenOrderSymbols
from core.club.service import ClubService
from core.config import Settings
from core.db import migrate
from core.db.database import Database, open_database
from core.db.errors import DatabaseError
from core.domain.bars import NormalizedBar
from core.ledger.prices import LastPrices
from core.ledger.stored_prices import StoredCloses
from core.live.alpaca_workstation import AlpacaEndpoints
from core.market.live import BarSink
from core.market.store import BarStore

log = logging.getLogger("stratforge.club")

WANTS_REFRESH_S = 5.0


PROG = "stratforge-club"
EXAMPLES = """examples:
  STRATFORGE_CLUB_KEY_ID=... STRATFORGE_CLUB_SECRET_KEY=... {prog} --database-url postgresql://sf_club:pw@host/db
  {prog} --keys-file ~/club.json --log-level DEBUG      # the key file readable only by you (chmod 600)

Runs until Ctrl-C or SIGTERM; a second one started elsewhere waits as a standby."""


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """``stratforge-club`` / ``stratforge club``: a start-up error escaping the service is one line (``--debug``:
    its traceback), with the documented "could not start" status."""
    return run_command(lambda args: _main(args, prog), argv, prog, failed=2)


def _main(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run the club's order router.",
                                     epilog=EXAMPLES.format(prog=prog),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--database-url", help="the club's database (default: STRATFORGE_DATABASE_URL)")
    parser.add_argument("--keys-file", type=Path, help="JSON key file readable only by you (chmod 600)")
    parser.add_argument("--window-ms", type=float, default=50.0, help="netting window after a new order")
    parser.add_argument("--poll-s", type=float, default=1.0, help="how often a standby tries to take over")
    parser.add_argument("--wants-every-s", type=float, default=WANTS_REFRESH_S, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        keys = club_keys(args.keys_file)
    except ClubKeysError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    settings = Settings.from_env(database_url=args.database_url)
    try:
        database = open_database(settings)
    except DatabaseError as exc:
        print(f"{prog}: cannot open the database: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        if migrate.current_revision(database.engine) != migrate.head_revision():
            print(f"{prog}: the database is not at the current schema; run stratforge-db upgrade first.",
                  file=sys.stderr)  # fmt: skip
            return 2
        url = database.engine.url.render_as_string(hide_password=False)
        asyncio.run(
            _serve(database, url, keys.key_id, keys.secret, args.window_ms / 1000, args.poll_s, args.wants_every_s)
        )
    finally:
        database.close()
    return 0


async def _serve(
    database: Database, url: str, key_id: str, secret: str, window_s: float, poll_s: float, wants_every_s: float
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    ends = AlpacaEndpoints.from_environment()
    sessions = database.session_factory
    account = AlpacaBroker(key_id, secret, url_override=ends.rest_url, stream_url_override=ends.stream_url)
    street = BudgetedBroker(account, RateBudget(sessions))
    # Members' requests are valued at the last stored close until the feed prices a symbol; the router waits for
    # live prices.
    prices = LastPrices(stored=StoredCloses(database.engine))
    service = ClubService(sessions, url, account, prices.live_only, loop, ledger_prices=prices, street=street,
                          window_s=window_s, poll_s=poll_s)  # fmt: skip

    def make_feed(sink: BarSink) -> AlpacaBarFeed:
        return AlpacaBarFeed(key_id, secret, sink, url_override=ends.data_stream_url)

    bars = SharedBarFeed(database.engine, url, BarStore(database.engine), loop, make_feed,
                         stream_key=data_stream_key(key_id), name="club-bars")  # fmt: skip

    def on_bar(bar: NormalizedBar) -> None:
        prices.update(bar.symbol, bar.close)
        if bar.timeframe == "1Min":
            service.on_bar(bar.symbol, bar)

    bars.add_listener(on_bar)
    wants = OpenOrderSymbols(sessions, bars.want, every_s=wants_every_s)
    service.start()
    bars.start()
    wants.start()
    log.info("club service started (%s); waiting to be elected", "standby" if not service.is_active else "active")
    try:
        await stop.wait()
    finally:
        wants.stop()
        log.info("stopping")
        await asyncio.to_thread(bars.stop)
        await asyncio.to_thread(service.stop)


if __name__ == "__main__":
    sys.exit(main())
