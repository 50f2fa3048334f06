"""``stratforge generate``: AI strategy generation from the command line (no Qt, no database).

    stratforge generate "buy when RSI(2) drops below 10, sell above 70" [--out FILE] [--symbol AAPL]
                        [--timeframe 5Min] [--model NAME] [--retries N] [--timeout SECONDS] [--json]
    stratforge generate --modify FILE "use a 2 ATR stop"    [--out FILE]   # prints the diff
    stratforge generate --explain FILE
    stratforge generate --family FILE [--no-model]                       # the implied family

The key comes from ``GEMINI_API_KEY`` or the OS keyring (Account > Settings in the app). The generated code
goes to stdout (or ``--out``; an existing file is never overwritten, the trader's own file included), and
what the editor would show next to it (explanation, parameters, smoke backtest) to stderr, so
``stratforge generate "..." > mine.py`` gives a file ready for ``stratforge backtest mine.py``.
Exit status: 0 done; 1 the model answered but no strategy passed the checks (the last attempt's code and
problems are printed); 2 nothing done (no key, no connection, rate-limited, bad arguments).

Where the sandbox is not fully confined (:func:`core.strategy.code_trust.needs_confirmation`, as in the app) the
model's code is validated but not smoke-tested: the code is written, the warning printed, and the summary says
"not run". ``--smoke-test`` is the trader's confirmation up front: the smoke backtest (and any repairs) runs anyway.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from core.ai.diff import code_diff
from core.ai.errors import AiError, GenerationFailed, MalformedAnswer
from core.ai.generator import StrategyGenerator
from core.ai.keys import configured_gemini_key
from core.ai.results import GeneratedStrategy
from core.ai.settings import DEFAULT_MODEL, GeminiSettings
from core.cli.errors import run_command
from core.domain.bars import TIMEFRAMES
from core.strategy.family import FamilyVerdict

PROG = "stratforge generate"
EXAMPLES = f"""examples:
  {PROG} "buy when RSI(2) drops below 10, sell above 70" --out rsi.py --symbol AAPL --timeframe 5Min
  {PROG} --modify rsi.py "use a 2 ATR stop"         # prints the diff
  {PROG} --explain rsi.py
  {PROG} --family rsi.py --no-model                  # the implied family, from the code alone

The key comes from GEMINI_API_KEY or the OS keyring (Account > Settings in the app)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Write, change or explain a strategy with Gemini.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("prompt", nargs="?", help="what the strategy should do (or, with --modify, the change)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--modify", type=Path, metavar="FILE", help="change this strategy file as the prompt says")
    what.add_argument("--explain", type=Path, metavar="FILE", help="explain this strategy file in plain English")
    what.add_argument("--family", type=Path, metavar="FILE", help="the strategy family this file implies")
    parser.add_argument("--out", type=Path, help="write the code to this new file instead of stdout")
    parser.add_argument("--symbol", action="append", default=[], help="a symbol it is meant for (repeatable)")
    parser.add_argument("--timeframe", choices=list(TIMEFRAMES), help="the bar size it is meant for")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"the Gemini model (default {DEFAULT_MODEL})")
    parser.add_argument("--retries", type=int, default=2, help="repair turns after a failed check (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per Gemini request (default 120)")
    parser.add_argument("--no-model", action="store_true", help="with --family: the code analysis only")
    parser.add_argument("--smoke-test", action="store_true",
                        help="smoke-test Gemini's code even where the sandbox is not fully confined (you accept the "
                             "warning printed otherwise)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--base-url", help=argparse.SUPPRESS)  # a proxy in front of Gemini, or a test stand-in
    return parser


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the command; ``argv`` without the program name (a leading ``generate`` is accepted too). An error no
    branch below expected is one line (``--debug``: its traceback), with the "nothing done" status."""
    err = stderr or sys.stderr
    return run_command(lambda args: _main(args, stdout or sys.stdout, err), argv, PROG, failed=2, stderr=err)


def _main(args_list: list[str], out: TextIO, err: TextIO) -> int:
    if args_list[:1] == ["generate"]:
        args_list = args_list[1:]
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        settings = GeminiSettings(model=args.model, base_url=args.base_url, timeout_s=args.timeout,
                                  max_repairs=args.retries)  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    if args.out is not None and args.out.exists():
        print(f"{PROG}: {args.out} exists; choose a new file name", file=err)
        return 2
    try:
        with StrategyGenerator(configured_gemini_key(), settings=settings) as generator:
            return _run(args, generator, parser, out, err)
    except GenerationFailed as exc:
        print(f"{PROG}: {exc}", file=err)
        print("\nThe last attempt's code:\n", file=err)
        print(exc.last_code, file=err)
        return 1
    except MalformedAnswer as exc:
        print(f"{PROG}: {exc}", file=err)
        return 1
    except AiError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return 130


def _run(
    args: argparse.Namespace, generator: StrategyGenerator, parser: argparse.ArgumentParser, out: TextIO, err: TextIO
) -> int:
    if args.family is not None:
        verdict = generator.classify(args.family.read_text(encoding="utf-8"), use_model=not args.no_model)
        _print_family(verdict, args.json, out)
        return 0
    if args.explain is not None:
        explained = generator.explain(args.explain.read_text(encoding="utf-8"))
        if args.json:
            print(json.dumps(_plain(explained)), file=out)
        else:
            print(f"{explained.summary}\n\n{explained.text}\n\nFamily: {explained.family or 'unknown'}", file=out)
        return 0
    if not args.prompt:
        parser.error("give a prompt (what the strategy should do, or the change to make)")
    if args.modify is not None:
        old = args.modify.read_text(encoding="utf-8")
        changed = _confirmed(generator.modify(old, args.prompt).strategy, generator, args)
        _emit(changed, args, out, err, diff=code_diff(old, changed.code) or "(no change)\n")
        return 0
    strategy = _confirmed(generator.generate(args.prompt, symbols=args.symbol, timeframe=args.timeframe), generator,
                          args)  # fmt: skip
    _emit(strategy, args, out, err)
    return 0


def _confirmed(
    strategy: GeneratedStrategy, generator: StrategyGenerator, args: argparse.Namespace
) -> GeneratedStrategy:
    """``strategy`` smoke-tested now if the generator left it for the trader to confirm and ``--smoke-test`` said
    yes; otherwise as it is (not run)."""
    return generator.smoke_test(strategy) if strategy.smoke_pending and args.smoke_test else strategy


def _emit(strategy: GeneratedStrategy, args: argparse.Namespace, out: TextIO, err: TextIO, diff: str = "") -> None:
    if args.out is not None:
        with args.out.open("x", encoding="utf-8") as handle:  # "x": never replace an existing file
            handle.write(strategy.code)
    if args.json:
        print(json.dumps({**_plain(strategy), "diff": diff} if diff else _plain(strategy)), file=out)
        return
    if args.out is None:
        print(diff if diff else strategy.code, file=out, end="")
    elif diff:
        print(diff, file=out, end="")
    print(_summary(strategy, args.out), file=err)


def _smoke_lines(strategy: GeneratedStrategy) -> list[str]:
    smoke = strategy.smoke
    if smoke is None:
        return [f"Smoke backtest: not run. {strategy.smoke_warning}",
                "Read the code first; --smoke-test runs it anyway."]  # fmt: skip
    return [
        f"Smoke backtest: {smoke.bars:,} {'simulated' if smoke.simulated else 'given'} bars, "
        f"{smoke.trade_count} trades, total return {smoke.metrics.get('total_return', 0.0):.2%}",
        *smoke.warnings,
    ]


def _summary(strategy: GeneratedStrategy, path: Path | None) -> str:
    lines = [
        f"\n{strategy.class_name}: {strategy.family or 'no'} family ({strategy.family_source}), "
        f"{strategy.timeframe} bars{', for ' + ', '.join(strategy.symbols) if strategy.symbols else ''}",
        "",
        strategy.explanation,
        "",
        "Parameters: " + (", ".join(f"{p.name}={p.default!r}" for p in strategy.parameters) or "none"),
        *_smoke_lines(strategy),
        f"Attempts: {strategy.attempts}; tokens: {strategy.usage.total_tokens:,}",
    ]
    if path is not None:
        lines.append(f"Written to {path}")
    return "\n".join(lines)


def _print_family(verdict: FamilyVerdict, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps({"family": verdict.family, "source": verdict.source, "reason": verdict.reason,
                          "scores": dict(verdict.scores)}), file=out)  # fmt: skip
        return
    print(f"{verdict.family or 'unknown'} ({verdict.source}): {verdict.reason}", file=out)


def _plain(value: Any) -> Any:
    """A result as JSON-ready data (datetimes as ISO text, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # internals (repr=False) left out
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
