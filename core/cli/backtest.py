"""``stratforge backtest`` and ``stratforge batch``: backtests from the command line, stored like the app's.

    stratforge backtest STRATEGY SYMBOL --start ISO --end ISO [--param fast=10 ...] [costs] [--no-save]
    stratforge batch STRATEGY SYMBOL --start ISO --end ISO --var fast=5,10,20 [--var ticker=SPY,QQQ]
                     [--list slow=my-slow-list] [--cap N] [--workers N | --dask tcp://host:8786]
                     [--metric sharpe] [--top 10] [--name NAME]
    stratforge batch --resume JOB_ID [--workers N | --dask ADDRESS]
    stratforge probes SYMBOL [SYMBOL ...] --start ISO --end ISO [--probe NAME ... | --family F] [--run-id ID]

STRATEGY is a ``.py`` file or the name of one of your saved strategies; a trader's code always runs in
the sandbox. Bars come from the database (``stratforge-market import`` / ``fetch`` put them there).
You sign in as in the app: ``--user`` (or STRATFORGE_USER) and the password from STRATFORGE_PASSWORD or
a prompt. The database is the app's (STRATFORGE_DATABASE_URL, or the embedded one: the app must not be
running then). Ctrl-C during a batch cancels it cleanly; ``--resume`` finishes it later.
Exit status: 0 done, 1 done but some runs failed, 2 nothing done (the message says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tqdm import tqdm

from core.backtest.assignments import VariableError, parse_value
from core.backtest.bar_source import NoBarsError, stored_bars
from core.backtest.batch_jobs import BatchError, BatchSpec
from core.backtest.engine import BacktestConfig
from core.backtest.executors import Executor, ExecutorError
from core.backtest.probe_store import probe_leaderboard
from core.backtest.probes import run_probes
from core.backtest.results import RunRecord, save_detail
from core.backtest.strategy_ref import StrategyRef, run_detailed
from core.backtest.variable_lists import VariableListError
from core.broker.fill_costs import BpsSlippage, NoSlippage, PercentCommission, PerShareCommission, ZeroCommission
from core.broker.fill_model import FillModel
from core.cli import args as cli_args
from core.cli.args import parse_strictly, utc_time
from core.cli.errors import one_line, run_command
from core.cli.sign_in import PASSWORD_ENV, USER_ENV, CliError, signed_in
from core.config import DATABASE_URL_ENV, Settings
from core.db.database import Database, open_database
from core.db.errors import DatabaseError
from core.db.models import Strategy as StrategyRow
from core.db.models import StrategyVersion
from core.market.store import BarStore
from core.services.batches import Batches, make_executor
from core.strategy.api import StrategyError
from core.strategy.probe_catalog import CATALOG, FAMILIES, probe_named, probes_of_family
from core.strategy.source import pick_strategy_class

PROG = "stratforge"


@dataclass(frozen=True)
class Loaded:
    ref: StrategyRef
    name: str
    strategy_id: uuid.UUID | None
    version_id: uuid.UUID | None = None


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    return value


def _common(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("strategy", nargs=None if required else "?", help="a .py file or a saved strategy's name")
    parser.add_argument("symbol", type=cli_args.symbol, nargs=None if required else "?")
    parser.add_argument("--start", type=utc_time, required=required, help="ISO date/time (UTC unless zoned)")
    parser.add_argument("--end", type=utc_time, required=required)
    parser.add_argument("--timeframe", type=cli_args.timeframe, default="1Min")
    parser.add_argument("--class", dest="class_name", help="the strategy class, when the file defines several")
    parser.add_argument("--param", type=_pair, action="append", default=[], help="NAME=VALUE (repeatable)")
    parser.add_argument("--cash", type=_money, default=Decimal("100000"))
    parser.add_argument("--commission-per-share", type=_money)
    parser.add_argument("--commission-min", type=_money, default=Decimal("0"))
    parser.add_argument("--commission-pct", type=_money, help="percent of notional, e.g. 0.1")
    parser.add_argument("--slippage-bps", type=_money)
    parser.add_argument("--fractional", action="store_true", help="allow fractional shares")
    parser.add_argument("--user", default=os.environ.get(USER_ENV), help=f"your username or email (${USER_ENV})")
    parser.add_argument("--database-url", default=None, help=f"default: ${DATABASE_URL_ENV} or the embedded one")


RAW = argparse.RawDescriptionHelpFormatter
SIGN_IN = f"You sign in as in the app: --user (or ${USER_ENV});\nthe password comes from ${PASSWORD_ENV} or a prompt."
EXAMPLES = {
    "backtest": f"""examples:
  stratforge backtest my_cross.py AAPL --start 2025-01-02 --end 2025-03-01 --param fast=8
  stratforge backtest "My cross" SPY --start 2025-01-02 --end 2025-02-01 --timeframe 5Min --json --no-save
  stratforge backtest my_cross.py AAPL --start 2025-01-02 --end 2025-03-01 --commission-per-share 0.005 \\
      --slippage-bps 2

STRATEGY is a .py file or one of your saved strategies.
{SIGN_IN}""",
    "batch": f"""examples:
  stratforge batch my_cross.py AAPL --start 2025-01-02 --end 2025-03-01 --var fast=5,8,13 --var slow=30,50,80
  stratforge batch my_cross.py SPY --start 2025-01-02 --end 2025-03-01 --var ticker=SPY,QQQ --dask tcp://h:8786
  stratforge batch --resume JOB_ID                 # a batch stopped with Ctrl-C goes on where it was

{SIGN_IN}""",
    "probes": f"""examples:
  stratforge probes AAPL MSFT --start 2025-01-02 --end 2025-02-01 --family trend --run-id jan-trend
  stratforge probes SPY --start 2025-01-02 --end 2025-01-10 --probe NAME --top 5

{SIGN_IN}""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Backtests and batch tests from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, text: str) -> argparse.ArgumentParser:
        """A command whose own --help repeats its listing line and shows its examples."""
        return sub.add_parser(name, help=text, description=text, epilog=EXAMPLES[name], formatter_class=RAW)

    bt = add("backtest", "run one backtest, print its metrics and store it")
    _common(bt, required=True)
    bt.add_argument("--no-save", action="store_true", help="print the metrics only")
    bt.add_argument("--json", action="store_true", help="print the metrics as JSON")
    batch = add("batch", "run a strategy over every assignment of variable lists")
    _common(batch, required=False)
    batch.add_argument("--var", type=_pair, action="append", default=[], help="NAME=V1,V2,... (repeatable)")
    batch.add_argument("--list", type=_pair, action="append", default=[], help="NAME=SAVED_LIST (repeatable)")
    batch.add_argument("--cap", type=int, default=10_000, help="at most this many assignments")
    batch.add_argument("--name", help="the batch's name")
    batch.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    batch.add_argument("--dask", metavar="ADDRESS", help="run on the Dask cluster with this scheduler")
    batch.add_argument("--metric", default="total_return", help="summarise and rank by this metric")
    batch.add_argument("--top", type=int, default=10, help="print this many best runs")
    batch.add_argument("--resume", type=uuid.UUID, metavar="JOB_ID", help="finish an earlier batch")
    probes = add("probes", "run the probe catalog across symbols and trading days")
    probes.add_argument("symbols", type=cli_args.symbol, nargs="+")
    probes.add_argument("--start", type=utc_time, required=True)
    probes.add_argument("--end", type=utc_time, required=True)
    probes.add_argument("--probe", action="append", default=[], help="a catalog probe's name (repeatable)")
    probes.add_argument("--family", choices=FAMILIES, help="only this family's probes")
    probes.add_argument("--run-id", help="resume (or name) a run")
    probes.add_argument("--top", type=int, default=10, help="print this many probes of the leaderboard")
    probes.add_argument("--user", default=os.environ.get(USER_ENV), help=f"your username or email (${USER_ENV})")
    probes.add_argument("--database-url", default=None, help=f"default: ${DATABASE_URL_ENV} or the embedded one")
    return parser


def _config(args: argparse.Namespace) -> BacktestConfig:
    if args.commission_per_share is not None and args.commission_pct is not None:
        raise CliError("give --commission-per-share or --commission-pct, not both")
    commission: Any = ZeroCommission()
    if args.commission_per_share is not None:
        commission = PerShareCommission(args.commission_per_share, args.commission_min)
    elif args.commission_pct is not None:
        commission = PercentCommission(args.commission_pct)
    slippage: Any = NoSlippage() if args.slippage_bps is None else BpsSlippage(args.slippage_bps)
    if args.cash <= 0:
        raise CliError("--cash must be more than 0")
    return BacktestConfig(args.cash, FillModel(slippage, commission), fractional=args.fractional)


def _load_strategy(database: Database, user_id: uuid.UUID, spec: str, class_name: str | None) -> Loaded:
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {spec}: {exc.strerror or exc}") from None
        strategy_id, name, version_id = None, None, None  # a file's strategy is named after its class
    else:
        with database.session_factory() as s:
            row = s.scalar(select(StrategyRow).where(StrategyRow.user_id == user_id, StrategyRow.name == spec))
        if row is None or not row.python_code:
            raise CliError(f"{spec!r} is neither a .py file nor one of your saved code strategies")
        source, strategy_id, name = row.python_code, row.id, row.name
        with database.session_factory() as s:
            version_id = s.scalar(
                select(StrategyVersion.id).where(
                    StrategyVersion.strategy_id == row.id, StrategyVersion.version == row.current_version
                )
            )
    try:
        chosen = pick_strategy_class(source, class_name)
    except SyntaxError as exc:
        raise CliError(f"{spec}: line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:
        raise CliError(f"{spec}: {exc}") from None
    return Loaded(StrategyRef(chosen, source=source), name or chosen, strategy_id, version_id)


def _params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {name: parse_value(value) for name, value in pairs}


def _print_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
        return
    width = max(map(len, metrics))
    for key, value in metrics.items():
        shown = "-" if value is None else f"{value:,.6g}" if isinstance(value, float) else f"{value:,}"
        print(f"  {key:<{width}}  {shown}")


def _backtest(database: Database, user_id: uuid.UUID, args: argparse.Namespace) -> int:
    loaded = _load_strategy(database, user_id, args.strategy, args.class_name)
    config, params = _config(args), _params(args.param)
    symbol = args.symbol.upper()
    store = BarStore(database.engine)
    try:
        with tqdm(total=3, desc="backtest", unit="step", file=sys.stderr, leave=False) as bar:
            bar.set_postfix_str(f"loading {symbol}")
            data = stored_bars(store, args.timeframe, args.start, args.end)(symbol)
            bar.update()
            bar.set_postfix_str(f"running {len(data):,} bars")
            started = time.perf_counter()
            detail = run_detailed(loaded.ref, data, params, config)
            duration_ms = int((time.perf_counter() - started) * 1000)
            bar.update()
            result_id = None
            if not args.no_save:
                bar.set_postfix_str("saving")
                record = RunRecord(
                    user_id=user_id, strategy_name=loaded.name, source=loaded.ref.source or "",
                    parameters=detail["params"], symbol=symbol, timeframe=args.timeframe, start=args.start,
                    end=args.end, config=config, path=detail["path"], strategy_id=loaded.strategy_id,
                    strategy_version_id=loaded.version_id,
                )  # fmt: skip
                result_id = save_detail(database.session_factory, record, detail, duration_ms)
            bar.update()
    finally:
        store.close()
    print(f"{loaded.name} on {symbol} {args.timeframe}, {len(data):,} bars, {detail['path']} path, "
          f"{duration_ms / 1000:.2f} s, params {json.dumps(detail['params'], sort_keys=True)}")  # fmt: skip
    _print_metrics(detail["metrics"], args.json)
    if result_id is not None:
        print(f"stored as backtest result {result_id}")
    return 0


def _executor(args: argparse.Namespace) -> Executor:
    if args.dask and args.workers:
        raise CliError("give --workers or --dask, not both")
    return make_executor(args.workers, args.dask)


def _batch(database: Database, user_id: uuid.UUID, args: argparse.Namespace) -> int:
    """The Batch panel's workflow (core/services/batches.py) with a progress bar, Ctrl-C and printed results."""
    batches = Batches(database.session_factory, lambda: BarStore(database.engine))
    if args.resume is not None:
        job_id = args.resume
        try:
            info = batches.info(job_id, user_id)
        except BatchError:
            raise CliError(f"you have no batch {job_id}") from None
    else:
        if not (args.strategy and args.symbol and args.start and args.end):
            raise CliError("a new batch needs STRATEGY, SYMBOL, --start and --end (or --resume JOB_ID)")
        loaded = _load_strategy(database, user_id, args.strategy, args.class_name)
        spec = BatchSpec(
            user_id=user_id, name=args.name or f"{loaded.name} {args.symbol.upper()}", strategy=loaded.ref,
            symbol=args.symbol.upper(), start=args.start, end=args.end,
            variables=batches.variables(user_id, args.var, args.list), timeframe=args.timeframe,
            base_params=_params(args.param), config=_config(args), cap=args.cap, strategy_id=loaded.strategy_id,
        )  # fmt: skip
        job_id = batches.create(spec)
        info = batches.info(job_id, user_id)
    state = info.state
    print(f"batch {job_id}: {state.total:,} runs{' (truncated by --cap)' if state.truncated else ''}")
    cancel = threading.Event()
    outcome: dict[str, Any] = {}
    progress = tqdm(total=state.total, initial=state.completed, desc="batch", unit="run", file=sys.stderr)

    def work() -> None:
        try:
            outcome["state"] = batches.run(
                info,
                user_id,
                _executor(args),
                lambda done, total: progress.update(done - progress.n),
                cancel,
                args.metric,
            )
        except Exception as exc:  # reported on the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="batch")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        print("\ncancelling: the runs in flight finish and are kept", file=sys.stderr)
        cancel.set()
        worker.join()
    finally:
        progress.close()
    if "error" in outcome:
        raise CliError(str(outcome["error"]))
    final = outcome["state"]
    print(f"status {final.status}: {final.completed:,} of {final.total:,} runs, {final.failed_runs:,} failed")
    if final.status == "canceled":
        print(f"resume with: {PROG} batch --resume {job_id}")
    _print_summary(final.summary)
    for row in batches.top(job_id, user_id, args.metric, args.top):
        print(f"  #{row.run_index:<6} {args.metric}={row.metrics.get(args.metric)!s:<22} {json.dumps(row.variables)}")
    if final.error:
        print(final.error, file=sys.stderr)
    return 0 if final.status == "finished" and final.failed_runs == 0 else 1


def _print_summary(summary: dict[str, Any] | None) -> None:
    if not summary or summary.get("best") is None:
        return
    metric = summary["metric"]
    print(f"{metric}: best {summary['best']['value']:.6g} {json.dumps(summary['best']['variables'])}, "
          f"worst {summary['worst']['value']:.6g} {json.dumps(summary['worst']['variables'])}, "
          f"average {summary['average']:.6g}")  # fmt: skip


def _probes(database: Database, args: argparse.Namespace) -> int:
    try:
        chosen = [probe_named(name) for name in args.probe] or (
            list(probes_of_family(args.family)) if args.family else list(CATALOG)
        )
    except KeyError as exc:
        raise CliError(f"no probe named {exc.args[0]!r} (see core/strategy/probe_catalog.py)") from None
    store = BarStore(database.engine)
    cancel = threading.Event()
    progress = tqdm(desc="probes", unit="day", file=sys.stderr)

    def advance(done: int, total: int) -> None:
        progress.total = total
        progress.update(done - progress.n)

    try:
        summary = run_probes(database.session_factory, store, args.symbols, args.start, args.end, chosen,
                             run_id=args.run_id, on_progress=advance, cancel=cancel)  # fmt: skip
    except KeyboardInterrupt:
        raise CliError("interrupted; the days already stored are kept (resume with the same --run-id)") from None
    finally:
        progress.close()
        store.close()
    print(f"run {summary.run_id}: {summary.probes} probes x {len(summary.symbols)} symbols, "
          f"{summary.days_run} days run, {summary.days_resumed} already stored, {summary.results_written} results, "
          f"{summary.trades_written} trades, {summary.errors} errors")  # fmt: skip
    if summary.symbols_without_bars:
        print(f"no bars for: {', '.join(summary.symbols_without_bars)}", file=sys.stderr)
    for row in probe_leaderboard(database.session_factory, summary.run_id)[: args.top]:
        pnl = "-" if row.mean_pnl is None else f"{row.mean_pnl:,.2f}"
        rate = "-" if row.mean_win_rate is None else f"{row.mean_win_rate:.0%}"
        print(f"  {row.probe:<28} {row.family:<15} days {row.days:<5} trades {row.trades:<6} mean P&L {pnl:>12}"
              f"  win rate {rate}")  # fmt: skip
    return 0 if summary.errors == 0 and not summary.symbols_without_bars else 1


def main(argv: list[str] | None = None) -> int:
    """``stratforge backtest|batch|probes ...`` (``argv`` starts with the command): an error escaping the command
    is one line (``--debug``: its traceback), with the documented "nothing done" status."""
    words = list(sys.argv[1:] if argv is None else argv)
    prog = f"{PROG} {words[0]}" if words and words[0] in ("backtest", "batch", "probes") else PROG
    return run_command(_main, words, prog, failed=2)


def _main(argv: list[str]) -> int:
    args = parse_strictly(build_parser(), argv)
    try:
        database = open_database(Settings.from_env(database_url=args.database_url))
    except DatabaseError as exc:
        print(f"{PROG}: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        with signed_in(database, args.database_url, args.user) as run:  # in a club: the member's own role
            if args.command == "probes":
                return _probes(run.database, args)
            if args.command == "backtest":
                return _backtest(run.database, run.user_id, args)
            return _batch(run.database, run.user_id, args)
    except (CliError, BatchError, ExecutorError, NoBarsError, StrategyError, VariableError, VariableListError,
            ValueError) as exc:  # fmt: skip
        print(f"{PROG} {args.command}: {one_line(exc)}", file=sys.stderr)
        return 2
