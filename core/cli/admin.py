"""``stratforge-admin``: the club admin's checks on the shared books.

    stratforge-admin reconcile [--database-url URL] [--alpaca-url URL]

Reconciliation compares the sum of all users' virtual positions per symbol with
the shared Alpaca paper account's positions and prints every difference. It
never changes anything. Exit status: 0 the books match, 1 they differ, 2 the
check could not run. Alpaca keys come from APCA_API_KEY_ID / APCA_API_SECRET_KEY
(alpaca-py's own variable names).
"""

from __future__ import annotations

import argparse
import os
import sys

from core.adapters.alpaca.broker import AlpacaBroker
from core.broker.errors import BrokerError
from core.config import ALPACA_KEY_ENV as KEY_ENV
from core.config import ALPACA_SECRET_ENV as SECRET_ENV
from core.config import DATABASE_URL_ENV
from core.db.engine import make_engine, make_session_factory
from core.ledger.reconcile import reconcile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stratforge-admin", description="Checks on the club's shared books.")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconcile", help="compare virtual positions with the shared broker account")
    rec.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV), help=f"default: ${DATABASE_URL_ENV}")
    rec.add_argument("--alpaca-url", default=None, help="Alpaca REST base URL (default: Alpaca paper)")
    args = parser.parse_args(argv)

    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if not args.database_url:
        parser.error(f"no shared database: pass --database-url or set {DATABASE_URL_ENV}")
    if not key or not secret:
        parser.error(f"no Alpaca keys: set {KEY_ENV} and {SECRET_ENV}")

    engine = make_engine(args.database_url, pool_size=1, max_overflow=0)
    try:
        report = reconcile(make_session_factory(engine), AlpacaBroker(key, secret, url_override=args.alpaca_url))
    except BrokerError as exc:
        print(f"stratforge-admin: the broker did not answer: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database problem: say what, not a traceback
        print(f"stratforge-admin: reconciliation failed: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print("\n".join(report.lines()))
    return 0 if report.matches else 1


if __name__ == "__main__":
    sys.exit(main())
