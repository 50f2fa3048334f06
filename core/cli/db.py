"""``stratforge-db``: the club admin's schema commands for a shared database.

    stratforge-db upgrade   [--url URL]   migrate to this build's head revision
    stratforge-db downgrade REVISION [--url URL]
    stratforge-db current   [--url URL]

The URL defaults to STRATFORGE_DATABASE_URL. The embedded database needs none
of this: the app migrates it on start-up.
"""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy.exc import OperationalError

from core.config import DATABASE_URL_ENV
from core.db import migrate
from core.db.engine import make_engine, mask_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stratforge-db", description="Schema commands for a shared database.")
    parser.add_argument("--url", default=os.environ.get(DATABASE_URL_ENV), help=f"default: ${DATABASE_URL_ENV}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade")
    down = sub.add_parser("downgrade")
    down.add_argument("revision")
    sub.add_parser("current")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"no database: pass --url or set {DATABASE_URL_ENV}")

    engine = make_engine(args.url, pool_size=1, max_overflow=0)
    shown = mask_url(str(engine.url.render_as_string(hide_password=False)))
    try:
        if args.command == "upgrade":
            migrate.upgrade(engine)
        elif args.command == "downgrade":
            migrate.downgrade(engine, args.revision)
        print(f"{shown}: revision {migrate.current_revision(engine) or 'none'} (head {migrate.head_revision()})")
        return 0
    except OperationalError as exc:
        print(f"stratforge-db: cannot reach {shown}: {exc.orig}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
