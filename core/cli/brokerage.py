"""``stratforge brokerage``: the brokerage panel's workflow (SnapTrade) from a terminal.

    stratforge brokerage status      linked? the last sync's connections, accounts and positions
    stratforge brokerage connect     link with SnapTrade if needed and print the connection portal's link
                                     [--open: also open it in the browser] [--reconnect CONNECTION_ID]
    stratforge brokerage accounts    the connections and accounts SnapTrade has now
    stratforge brokerage sync        book the brokerage's trades as journal fills (again: adds nothing twice)
                                     [--full: the whole history, not only from a week before the last trade]
    stratforge brokerage unlink      remove the SnapTrade link (SnapTrade deletes its copy; synced fills stay)

You sign in as in the app (``--user`` or STRATFORGE_USER; the password from STRATFORGE_PASSWORD or a prompt); in a
club the command runs as your own database role. SnapTrade's API key comes from STRATFORGE_SNAPTRADE_CLIENT_ID and
STRATFORGE_SNAPTRADE_CONSUMER_KEY (or the keyring). Exit status: 0 done, 2 nothing done (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
import webbrowser

from core.cli.args import parse_strictly
from core.cli.errors import one_line, run_command
from core.cli.sign_in import USER_ENV, CliError, signed_in
from core.config import DATABASE_URL_ENV, Settings
from core.db.database import open_database
from core.db.errors import DatabaseError
from core.services.brokerage_sync import BrokerageError, BrokerageSync, ConnectionView

PROG = "stratforge brokerage"
ACTIONS = ("status", "connect", "accounts", "sync", "unlink")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  stratforge brokerage connect --open\n  stratforge brokerage sync\n"
        "  stratforge brokerage sync --full --user ada",
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--open", action="store_true", help="connect: open the portal in the browser too")
    parser.add_argument("--reconnect", metavar="CONNECTION_ID", help="connect: log in to a disabled connection again")
    parser.add_argument("--full", action="store_true", help="sync: read every account's whole history again")
    parser.add_argument("--user", default=os.environ.get(USER_ENV), help=f"your username or email (${USER_ENV})")
    parser.add_argument("--database-url", default=None, help=f"default: ${DATABASE_URL_ENV} or the embedded one")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(_main, list(sys.argv[1:] if argv is None else argv), PROG, failed=2)


def _main(argv: list[str]) -> int:
    args = parse_strictly(build_parser(), argv)
    try:
        database = open_database(Settings.from_env(database_url=args.database_url))
    except DatabaseError as exc:
        print(f"{PROG}: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        with signed_in(database, args.database_url, args.user) as run:  # in a club: the member's own role
            return _run(BrokerageSync(run.database.session_factory), run.user_id, args)
    except (CliError, BrokerageError) as exc:
        print(f"{PROG} {args.action}: {one_line(exc)}", file=sys.stderr)
        return 2


def _run(brokerage: BrokerageSync, user_id: uuid.UUID, args: argparse.Namespace) -> int:
    if args.action == "status":
        overview = brokerage.overview(user_id)
        if not overview.configured:
            print(overview.message)
        print("linked through SnapTrade" if overview.linked else "not linked (stratforge brokerage connect)")
        if overview.synced_at is not None:
            print(f"last sync {overview.synced_at.isoformat(timespec='seconds')}")
        _print(overview.connections)
    elif args.action == "connect":
        url = brokerage.portal_url(user_id, reconnect=args.reconnect)
        print(url)
        if args.open:
            webbrowser.open(url)
    elif args.action == "accounts":
        _print(brokerage.accounts(user_id))
    elif args.action == "sync":
        print(brokerage.sync(user_id, full=args.full).summary())
    else:
        brokerage.unlink(user_id)
        print("SnapTrade unlinked; synced fills stay in the journal")
    return 0


def _print(connections: tuple[ConnectionView, ...]) -> None:
    for connection in connections:
        disabled = f"  (disabled: connect --reconnect {connection.id})" if connection.disabled else ""
        print(f"{connection.brokerage}{disabled}")
        for account in connection.accounts:
            total = f"  {account.total:,.2f} {account.currency or ''}" if account.total is not None else ""
            print(f"  {account.name or account.institution}  {account.number or ''}{total}".rstrip())
            for p in account.positions:
                price = f" @ {p.price}" if p.price is not None else ""
                print(f"    {p.symbol:<10} {p.units}{price}")
