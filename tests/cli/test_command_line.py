"""`stratforge` explains itself: --help lists every command, each command's --help has examples, an unknown word is
refused with the valid ones (never a silent start of the app), and a failing command says one line (the traceback
only with --debug)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from app.entry import main as stratforge
from core.cli import admin, db, market
from core.cli.errors import CANNOT_REACH, DEBUG_HINT, NOT_A_URL, run_command
from core.cli.main import COMMAND_NAMES, main
from core.config import DATABASE_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"
# Runs app.entry.main in a fresh interpreter and reports whether Qt was imported (pytest-qt imports it here).
SNIPPET = """
import sys
from app.entry import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nQT_IMPORTED=%s\\n" % ("PySide6" in sys.modules))
sys.exit(code)
"""


def the_app_must_not_start(args: list[str]) -> int:
    raise AssertionError(f"the desktop app was started for {args}")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``stratforge ARGV`` in process, with an app that fails the test if it is started."""
    try:
        code = main(list(argv), run_app=the_app_must_not_start)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # a real start would need a display
    return subprocess.run([sys.executable, "-c", SNIPPET, *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=180)  # fmt: skip


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- what --help says ---
def test_help_lists_every_command_the_app_and_the_global_options(capsys):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    for name in (*COMMAND_NAMES, "--data-dir", "--database-url", "--debug", "start the desktop app", "examples:"):
        assert name in out, name
    for old_name in ("stratforge-market", "stratforge-admin", "stratforge-db", "stratforge-club", "--self-test"):
        assert old_name in out, old_name


def test_help_and_a_commands_help_import_no_qt_and_an_unknown_command_does_not_start_the_app():
    shown = run_process("--help")
    assert shown.returncode == 0 and "QT_IMPORTED=False" in shown.stderr, shown.stderr
    assert all(name in shown.stdout for name in COMMAND_NAMES)
    market_help = run_process("market", "--help")
    assert market_help.returncode == 0 and "QT_IMPORTED=False" in market_help.stderr, market_help.stderr
    assert "stratforge market import" in market_help.stdout
    unknown = run_process("foo")
    assert unknown.returncode == 2 and "QT_IMPORTED=False" in unknown.stderr, unknown.stderr
    assert "unknown command 'foo'" in unknown.stderr


COMMAND_LINES = (
    "backtest", "batch", "probes", "generate", "market", "admin", "db", "club", "screenshots", "self-test",
    "--self-test", "market import", "market export", "market fetch", "market regimes", "market prune",
    "admin reconcile", "admin users", "admin users list", "admin users requests", "admin users approve",
    "admin users reject", "admin users disable", "admin users enable", "admin users set-role",
    "admin users reset-balance", "admin users add", "admin audit", "admin audit purge",
    "db upgrade", "db downgrade", "db current", "db roles", "db password", "brokerage",
)  # fmt: skip


def test_the_brokers_host_command_is_accepted_but_not_offered(capsys):
    from core.cli.main import parse_invocation

    assert parse_invocation(["icici-broker-host"]).command == "icici-broker-host"
    _, out, _ = run_main(capsys, "--help")
    assert "icici-broker-host" not in out


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_every_command_and_sub_command_has_its_own_help_with_an_example(line, capsys):
    argv = line.split()
    with pytest.raises(SystemExit) as exited:
        stratforge([*argv, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "example" in out.lower(), out
    shown = [w for w in argv if not w.startswith("-")] or ["self-test"]
    assert out.startswith(f"usage: stratforge {' '.join(shown)}"), out


def test_help_before_the_command_is_the_commands_help(capsys):
    code, out, _ = run_main(capsys, "--help", "market")
    assert code == 0 and out.startswith("usage: stratforge market")


# --- unknown words are refused, the app never starts for them ---
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["foo"], "unknown command 'foo'"),
        (["markt", "import", "f.csv", "X"], "unknown command 'markt' (did you mean 'market'?)"),
        (["--bogus"], "unknown option '--bogus'"),
        (["--data-dir", "/tmp/x", "bars.csv"], "unknown command 'bars.csv'"),
        (["-style", "fusion", "market"], "-style is one of Qt's options: it applies to the app, not to 'market'"),
    ],
)
def test_an_unknown_command_or_option_exits_2_with_the_valid_ones(argv, said, capsys):
    code, _, err = run_main(capsys, *argv)
    assert code == 2 and said in err, err
    assert "usage: stratforge" in err
    if "Qt's options" not in said:
        assert all(name in err for name in COMMAND_NAMES)


def test_an_unknown_option_of_a_command_is_refused_with_that_commands_usage(capsys):
    code, _, err = run_main(capsys, "market", "import", "f.csv", "X", "--bogus")
    assert code == 2
    assert "usage: stratforge market import" in err and "--timeframe" in err
    assert "stratforge market import: error: unrecognized arguments: --bogus" in err


def test_only_a_bare_stratforge_with_global_and_qt_options_starts_the_app(capsys):
    started: list[list[str]] = []

    def app(args: list[str]) -> int:
        started.append(args)
        return 0

    for argv in ([], ["--debug"], ["--data-dir", "/tmp/x", "-platform", "offscreen"], ["-style=fusion", "--", "-x"]):
        assert main(argv, run_app=app) == 0
    assert started == [[], ["--debug"], ["--data-dir", "/tmp/x", "-platform", "offscreen"],
                       ["-style=fusion", "--", "-x"]]  # fmt: skip


def test_the_apps_own_parser_hands_qt_only_its_options(capsys):
    from app.application import parse_args

    args, qt = parse_args(["--data-dir", "/tmp/x", "-platform", "offscreen", "-reverse", "--", "-anything"])
    assert args.data_dir == Path("/tmp/x") and qt == ["-platform", "offscreen", "-reverse", "-anything"]
    with pytest.raises(SystemExit) as exited:
        parse_args(["market", "import", "f.csv", "X"])
    assert exited.value.code == 2 and "unknown command 'market'" in capsys.readouterr().err


def test_self_test_keeps_its_old_spelling_and_app_commands_get_their_own_arguments(capsys):
    calls: list[tuple[str, list[str]]] = []

    def command(name: str):
        return lambda args: calls.append((name, args)) or 0

    app_commands = {"self-test": command("self-test"), "screenshots": command("screenshots")}
    for argv in (["--self-test", "--no-workers"], ["self-test", "--timeout", "5"], ["screenshots", "--out", "x"]):
        assert main(argv, run_app=the_app_must_not_start, app_commands=app_commands) == 0
    assert calls == [("self-test", ["--no-workers"]), ("self-test", ["--timeout", "5"]),
                     ("screenshots", ["--out", "x"])]  # fmt: skip


# --- errors: one line, the traceback with --debug ---
def test_an_unexpected_error_is_one_line_with_the_hint_and_exit_1(capsys):
    def boom(args: list[str]) -> int:
        raise RuntimeError("the widget fell over\nsecond line")

    assert run_command(boom, [], "stratforge thing") == 1
    assert one_line(capsys.readouterr().err) == (
        f"stratforge thing: error: RuntimeError: the widget fell over ({DEBUG_HINT})"
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_prints_the_traceback_and_is_not_passed_on(where, capsys):
    seen: list[list[str]] = []

    def boom(args: list[str]) -> int:
        seen.append(args)
        raise RuntimeError("the widget fell over")

    argv = ["--debug", "run", "x"] if where == "before" else ["run", "x", "--debug"]
    assert run_command(boom, argv, "stratforge thing") == 1
    err = capsys.readouterr().err
    assert seen == [["run", "x"]]
    assert "Traceback" in err
    assert err.strip().splitlines()[-1] == "stratforge thing: error: RuntimeError: the widget fell over"


def test_debug_after_a_double_dash_belongs_to_the_command(capsys):
    seen: list[list[str]] = []
    assert run_command(lambda args: seen.append(args) or 0, ["a", "--", "--debug"], "p") == 0
    assert seen == [["a", "--", "--debug"]]


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    def interrupted(args: list[str]) -> int:
        raise KeyboardInterrupt

    assert run_command(interrupted, [], "stratforge market") == 130
    assert one_line(capsys.readouterr().err) == "stratforge market: interrupted"


def test_driver_errors_say_what_to_check_not_what_the_driver_said(capsys):
    def unreachable(args: list[str]) -> int:
        raise psycopg.OperationalError('connection to server on socket "/tmp/.s.PGSQL.5432" failed')

    def not_a_url(args: list[str]) -> int:
        raise sa_exc.ArgumentError("Could not parse SQLAlchemy URL from given URL string")

    assert run_command(unreachable, [], "p") == 1
    assert CANNOT_REACH in one_line(capsys.readouterr().err)
    assert run_command(not_a_url, [], "p") == 1
    assert NOT_A_URL in one_line(capsys.readouterr().err)


def test_a_wrong_database_url_is_one_line_and_the_traceback_comes_with_debug(capsys):
    code, _, err = run_main(capsys, "db", "current", "--url", "not-a-url")
    assert code == 1 and one_line(err) == f"stratforge db: error: {NOT_A_URL} ({DEBUG_HINT})"
    code, _, err = run_main(capsys, "--debug", "db", "current", "--url", "not-a-url")
    assert code == 1 and "Traceback" in err and err.strip().endswith(NOT_A_URL)
    code, _, err = run_main(capsys, "db", "current", "--url", UNREACHABLE)
    assert code == 1 and one_line(err).startswith("stratforge db: cannot reach postgresql+psycopg://nobody@127.0.0.1:1")


def test_the_global_database_url_reaches_the_command(capsys, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://configured@127.0.0.1:1/elsewhere")  # restored afterwards
    code, _, err = run_main(capsys, "--database-url", UNREACHABLE, "market", "import", "bars.csv", "AAPL")
    assert code == 2 and one_line(err).startswith("stratforge market: ") and "nobody@127.0.0.1:1" in err


def test_a_missing_file_is_one_line(db, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv(DATABASE_URL_ENV, db.engine.url.render_as_string(hide_password=False))
    code, _, err = run_main(capsys, "market", "import", str(tmp_path / "missing.csv"), "AAPL")
    assert code == 2 and "missing.csv" in one_line(err) and one_line(err).startswith("stratforge market: ")


# --- the old names ---
@pytest.mark.parametrize(
    ("tool", "prog"), [(market, "stratforge-market"), (admin, "stratforge-admin"), (db, "stratforge-db")]
)
def test_the_old_names_keep_their_own_name_help_and_debug(tool, prog, capsys):
    with pytest.raises(SystemExit) as exited:
        tool.main(["--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0 and out.startswith(f"usage: {prog}") and "example" in out


def test_the_old_console_script_still_runs():
    script = Path(sys.executable).parent / "stratforge-db"
    done = subprocess.run([str(script), "current", "--url", "not-a-url"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 1 and one_line(done.stderr) == f"stratforge-db: error: {NOT_A_URL} ({DEBUG_HINT})"
