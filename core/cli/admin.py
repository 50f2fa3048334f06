"""``stratforge-admin``: the club admin's tools: members, sign-up requests, the audit trail, and checks on the
shared books.

    stratforge-admin reconcile [--database-url URL] [--alpaca-url URL]
    stratforge-admin users list|requests [--all]
    stratforge-admin users approve|reject REQUEST_ID
    stratforge-admin users disable|enable USER
    stratforge-admin users set-role USER trader|investor|admin
    stratforge-admin users reset-balance USER AMOUNT
    stratforge-admin users add EMAIL USERNAME [--role trader|investor|admin] [--password-stdin]
    stratforge-admin audit purge --before DATE

Every command takes ``--database-url`` (default: $STRATFORGE_DATABASE_URL). In a club, use the admin's own login
(the database lets that role manage members and nothing else); on a solo or plain database, its owner. USER is a
username or a user id.

Reconciliation compares the sum of all users' virtual positions per symbol with the shared Alpaca paper
account's positions and prints every difference. It never changes anything. Exit status: 0 the books match, 1
they differ, 2 the check could not run. Alpaca keys come from APCA_API_KEY_ID / APCA_API_SECRET_KEY (alpaca-py's
own variable names).

The member commands exit 0 when done, 1 when the request was refused (unknown user, a request already decided,
open positions, a weak password...), 2 when they could not run (no database, bad arguments); the reason is one
line on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from core.accounts.admin import ClubAdmin, parse_user_ref
from core.accounts.errors import AccountError
from core.adapters.alpaca.broker import AlpacaBroker
from core.broker.errors import BrokerError
from core.cli.args import parse_strictly, utc_time
from core.cli.errors import command_error, first_line, run_command
from core.config import ALPACA_KEY_ENV as KEY_ENV
from core.config import ALPACA_SECRET_ENV as SECRET_ENV
from core.config import DATABASE_URL_ENV
from core.db.engine import make_engine, make_session_factory
from core.db.models.accounts import USER_ROLES
from core.ledger.reconcile import reconcile

PROG = "stratforge-admin"
REFUSED, FAILED = 1, 2


RAW = argparse.RawDescriptionHelpFormatter
URL = "--database-url postgresql://admin:pw@host/stratforge"
EXAMPLES = {
    "": f"""examples:
  {{prog}} users requests {URL}
  {{prog}} users approve REQUEST_ID                  # an id from 'users requests'
  APCA_API_KEY_ID=... APCA_API_SECRET_KEY=... {{prog}} reconcile

`{{prog}} COMMAND --help` describes each command. --database-url defaults to ${DATABASE_URL_ENV}.""",
    "reconcile": f"example:\n  APCA_API_KEY_ID=... APCA_API_SECRET_KEY=... {{prog}} reconcile {URL}",
    "users": """examples:
  {prog} users requests
  {prog} users approve REQUEST_ID
  {prog} users set-role alice admin""",
    "list": "example:\n  {prog} users list",
    "requests": "example:\n  {prog} users requests --all",
    "approve": "example:\n  {prog} users approve 0b6f1c9e-2f0a-4c8e-9a57-3d1f5e2b7c10",
    "reject": "example:\n  {prog} users reject 0b6f1c9e-2f0a-4c8e-9a57-3d1f5e2b7c10",
    "disable": "example:\n  {prog} users disable alice",
    "enable": "example:\n  {prog} users enable alice",
    "set-role": "example:\n  {prog} users set-role alice investor",
    "reset-balance": "example:\n  {prog} users reset-balance alice 100000",
    "add": """examples:
  {prog} users add alice@example.com alice --role admin      # asks for the password twice
  printf '%s\\n' "$PW" | {prog} users add bob@example.com bob --password-stdin""",
    "audit": "example:\n  {prog} audit purge --before 2026-01-01",
    "purge": "example:\n  {prog} audit purge --before 2026-01-01",
}


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """``stratforge-admin`` / ``stratforge admin``: any error escaping a command is one line (``--debug``: its
    traceback)."""
    return run_command(lambda args: _main(args, prog), argv, prog, failed=FAILED)  # 2: "could not run", as documented


def _main(argv: list[str], prog: str) -> int:
    parser = _parser(prog)
    args = parse_strictly(parser, argv)
    if args.command == "reconcile":
        return _reconcile(parser, args, prog)
    if not args.database_url:
        parser.error(f"no database: pass --database-url or set {DATABASE_URL_ENV}")
    if args.command == "users" and args.action == "add":
        password = _read_password(args.password_stdin)
        if password is None:
            return FAILED
        args.password = password
    action: Callable[[ClubAdmin, argparse.Namespace], str] = args.run
    engine = make_engine(args.database_url, pool_size=1, max_overflow=0)
    try:
        print(action(ClubAdmin(make_session_factory(engine)), args))
    except AccountError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return REFUSED
    except OperationalError as exc:
        print(f"{prog}: cannot reach the database: {first_line(exc.orig or exc)}", file=sys.stderr)
        return FAILED
    except DBAPIError as exc:
        print(f"{prog}: the database refused: {first_line(exc.orig or exc)}", file=sys.stderr)
        return FAILED
    finally:
        engine.dispose()
    return 0


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    def epilog(name: str) -> str:
        return EXAMPLES[name].format(prog=prog)

    parser = argparse.ArgumentParser(prog=prog, description="The club admin's tools: members, sign-up requests, "
                                     "the audit trail, and checks on the shared books.", epilog=epilog(""),
                                     formatter_class=RAW)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(where: argparse._SubParsersAction, name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A command with its line in the listing, the same line atop its own help, and its examples."""
        return where.add_parser(name, help=text, description=text, epilog=epilog(name), formatter_class=RAW,
                                **kwargs)  # fmt: skip

    rec = add(sub, "reconcile", "compare virtual positions with the shared broker account")
    rec.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV), help=f"default: ${DATABASE_URL_ENV}")
    rec.add_argument("--alpaca-url", default=None, help="Alpaca REST base URL (default: Alpaca paper)")

    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV),
                          help=f"default: ${DATABASE_URL_ENV}")  # fmt: skip

    users = add(sub, "users", "members and sign-up requests")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = add(actions, "list", "every user, with role, state and balance", parents=[database])
    listing.set_defaults(run=_list_users)
    requests = add(actions, "requests", "sign-up requests waiting for a decision", parents=[database])
    requests.add_argument("--all", action="store_true", help="also the approved and rejected ones")
    requests.set_defaults(run=_list_requests)
    for name, run, text in (("approve", _approve, "create the account and its login"),
                            ("reject", _reject, "refuse the request")):  # fmt: skip
        decide = add(actions, name, f"{text} (a request id from 'users requests')", parents=[database])
        decide.add_argument("request_id", type=_request_id)
        decide.set_defaults(run=run)
    for name, run, text in (("disable", _disable, "refuse the member's logins and end their connections"),
                            ("enable", _enable, "let a disabled member log in again")):  # fmt: skip
        state = add(actions, name, text, parents=[database])
        state.add_argument("user", help="username or user id")
        state.set_defaults(run=run)
    role = add(actions, "set-role", "make a member a trader, an investor or an admin", parents=[database])
    role.add_argument("user", help="username or user id")
    role.add_argument("role", choices=USER_ROLES)
    role.set_defaults(run=_set_role)
    reset = add(actions, "reset-balance", "start a flat member's virtual account over at AMOUNT", parents=[database])
    reset.add_argument("user", help="username or user id")
    reset.add_argument("amount", type=_amount)
    reset.set_defaults(run=_reset_balance)
    new_user = add(actions, "add", "create a user who can log in at once", parents=[database])
    new_user.add_argument("email")
    new_user.add_argument("username")
    new_user.add_argument("--role", choices=USER_ROLES, default="trader")
    new_user.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of standard input instead of asking")  # fmt: skip
    new_user.set_defaults(run=_add)

    audit = add(sub, "audit", "the audit trail (trade, system and API usage logs)")
    audit_actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    purge = add(audit_actions, "purge", "delete audit rows created before a date", parents=[database])
    purge.add_argument("--before", type=utc_time, required=True, help="ISO date or date-time (UTC without a zone)")
    purge.set_defaults(run=_purge)
    return parser


# --- actions: each returns what to print ---
def _list_users(admin: ClubAdmin, args: argparse.Namespace) -> str:
    rows = [(m.username, m.email, m.role, "active" if m.active else "disabled", f"{m.virtual_balance:,.2f}",
             _when(m.created_at), _when(m.last_login_at), str(m.id)) for m in admin.list_users()]  # fmt: skip
    if not rows:
        return "No users yet."
    return _table(("USERNAME", "EMAIL", "ROLE", "STATE", "BALANCE", "CREATED", "LAST LOGIN", "ID"), rows)


def _list_requests(admin: ClubAdmin, args: argparse.Namespace) -> str:
    requests = admin.list_requests(include_decided=args.all)
    if not requests:
        return "No sign-up requests." if args.all else "No sign-up requests are waiting."
    rows = [(str(r.id), _when(r.created_at), r.status, r.username or "-", r.email, r.name) for r in requests]
    return _table(("ID", "CREATED", "STATUS", "USERNAME", "EMAIL", "NAME"), rows)


def _approve(admin: ClubAdmin, args: argparse.Namespace) -> str:
    member = admin.approve(args.request_id)
    return (f"Approved {member.username} ({member.email}): a {member.role} with a virtual balance of "
            f"{member.virtual_balance:,.2f}; they log in with the password they chose.")  # fmt: skip


def _reject(admin: ClubAdmin, args: argparse.Namespace) -> str:
    return f"Rejected the request of {admin.reject(args.request_id).email}."


def _disable(admin: ClubAdmin, args: argparse.Namespace) -> str:
    member = admin.disable(parse_user_ref(args.user))
    return f"Disabled {member.username}: their logins are refused and their open connections ended."


def _enable(admin: ClubAdmin, args: argparse.Namespace) -> str:
    return f"Enabled {admin.enable(parse_user_ref(args.user)).username}: they can log in again."


def _set_role(admin: ClubAdmin, args: argparse.Namespace) -> str:
    member = admin.set_role(parse_user_ref(args.user), args.role)
    return f"{member.username} is now {'an' if member.role[0] in 'aeiou' else 'a'} {member.role}."


def _reset_balance(admin: ClubAdmin, args: argparse.Namespace) -> str:
    member = admin.reset_balance(parse_user_ref(args.user), args.amount)
    return f"{member.username}'s virtual account starts over at {member.virtual_balance:,.2f}."


def _add(admin: ClubAdmin, args: argparse.Namespace) -> str:
    member = admin.add(args.email, args.username, args.password, args.role)
    return f"Added {member.username} ({member.email}) with the role {member.role}, id {member.id}."


def _purge(admin: ClubAdmin, args: argparse.Namespace) -> str:
    deleted = admin.purge_audit(args.before)
    return f"Deleted {deleted} audit row{'' if deleted == 1 else 's'} created before {args.before.isoformat()}."


def _reconcile(parser: argparse.ArgumentParser, args: argparse.Namespace, prog: str = PROG) -> int:
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if not args.database_url:
        parser.error(f"no shared database: pass --database-url or set {DATABASE_URL_ENV}")
    if not key or not secret:
        parser.error(f"no Alpaca keys: set {KEY_ENV} and {SECRET_ENV}")

    engine = make_engine(args.database_url, pool_size=1, max_overflow=0)
    try:
        report = reconcile(make_session_factory(engine), AlpacaBroker(key, secret, url_override=args.alpaca_url))
    except BrokerError as exc:
        print(f"{prog}: the broker did not answer: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database problem: one line, and still the documented "could not run" status
        print(f"{prog}: error: reconciliation failed: {command_error(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print("\n".join(report.lines()))
    return 0 if report.matches else 1


# --- input and output ---
def _read_password(from_stdin: bool) -> str | None:
    """The new user's password: the first line of stdin, or typed twice without echo; None after a message."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password for the new user: ")
            if getpass.getpass("Repeat it: ") != password:
                print(f"{PROG}: the two passwords differ.", file=sys.stderr)
                return None
        except (EOFError, KeyboardInterrupt):
            print(f"{PROG}: no password given.", file=sys.stderr)
            return None
    if not password:
        print(f"{PROG}: no password given.", file=sys.stderr)
        return None
    return password


def _request_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a request id: {text!r} ('users requests' lists them)") from None


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    return value


def _when(stamp: datetime | None) -> str:
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if stamp is not None else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in (header, *rows))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
