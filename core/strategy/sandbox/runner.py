"""Running strategy code in a separate, limited process: :func:`run_sandboxed`.

Why a process: a strategy that loops forever, exhausts memory or crashes the interpreter must not take
the application (or its open broker connections) down with it, and only the operating system can stop
a runaway computation reliably. Why ``subprocess`` rather than ``multiprocessing``: the child is a
fresh ``python -I -B`` running one small file. It does not re-import the application's ``__main__``
(which would load Qt), inherits no environment (no API keys), no file descriptors but its three
pipes, and starts in its own session so the whole group can be killed.

Limits (applied in the child just before strategy code runs, see ``_child.py``):

* CPU: RLIMIT_CPU, soft at the CPU already used plus ``cpu_seconds`` rounded up to a whole second
  (the kernel counts whole seconds), hard one second later. SIGXCPU at the soft limit reports the line
  the strategy was at; SIGKILL at the hard limit is the backstop.
* Memory: RLIMIT_AS at what the child has mapped after its imports plus ``memory_mb``.
* Wall clock (the whole call, process start included): the child's own watchdog dumps the stack at
  the deadline and exits; the parent kills the process group a second later whatever happens.
* Platforms without :mod:`resource` (Windows) get only the wall clock, and no CPU or memory limit.

The call blocks; run it off the GUI thread (a worker thread or ``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pickle
import signal
import site
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.strategy.api import STRATEGY_FILENAME
from core.strategy.sandbox import reply, rules
from core.strategy.sandbox.errors import (
    SandboxError,
    StrategyCancelled,
    StrategyCrashed,
    StrategyOutOfMemory,
    StrategyRejected,
    StrategyTimedOut,
)
from core.strategy.sandbox.validator import Problem, ValidationReport, check_source, imported_modules, top_level_names

OUTPUT_CHARS = 100_000  # what a strategy may print before its output is truncated
_HERE = Path(__file__).resolve().parent
_CHILD = _HERE / "_child.py"
_RULES = _HERE / "rules.py"
# Variables the child keeps from the parent's environment; everything else (API keys, tokens) stays behind.
# Application functions the child may call with the strategy's object (see run_sandboxed's ``driver``).
TRUSTED_DRIVERS = frozenset(
    {"core.backtest.sandboxed:run_runs", "core.backtest.sandboxed:run_detailed", "core.paper.sandboxed:decide"}
)
_KILL_GRACE_S = 1.0
_CANCEL_POLL_S = 0.2  # how long after the deadline the parent kills a child whose watchdog did not act
_KEPT_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
# How a child dies when the kernel enforces RLIMIT_CPU (the Python handler did not get to report).
_CPU_KILLS = frozenset(-s for s in (getattr(signal, "SIGKILL", 0), getattr(signal, "SIGXCPU", 0)) if s)
_CHILD_ENV = {
    # One thread per library: CPU time counts every thread, and thread stacks count against RLIMIT_AS.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per arena
    "ARROW_DEFAULT_MEMORY_POOL": "system",  # jemalloc/mimalloc reserve large address ranges up front
}


@dataclass(frozen=True)
class SandboxResult:
    """A successful call: the entry function's return ``value``, what the strategy printed, the CPU
    seconds its code used (process start-up excluded) and the whole call's wall time (included)."""

    value: Any
    output: str = ""
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


def run_sandboxed(
    source: str,
    entry: str,
    args: tuple[Any, ...] = (),
    *,
    cpu_seconds: float = 5,
    memory_mb: int = 512,
    wall_seconds: float | None = None,
    driver: str | None = None,
    cancel: threading.Event | None = None,
) -> SandboxResult:
    """Validate ``source``, then call its function ``entry(*args)`` in a fresh, limited process.

    ``args`` must be picklable (they are sent to the child); the return value must be plain data:
    Python scalars and containers, dates, decimals, numpy arrays, pandas series/frames/indexes.
    Raises :class:`StrategyRejected` (validation), :class:`StrategyCrashed` (an exception; the message
    names the strategy line), :class:`StrategyTimedOut`, :class:`StrategyOutOfMemory`, or
    :class:`SandboxError` when the sandbox itself fails. The parent survives all of them and reaps
    the child before returning. Setting ``cancel`` (from another thread) kills the child within a fifth of a
    second and raises :class:`StrategyCancelled`.

    ``driver`` names one of :data:`TRUSTED_DRIVERS` ("module:function"): application code, imported in the
    child before the limits apply, that is called as ``driver(strategy_object, *args)`` with the object the
    source defines as ``entry`` (a Strategy class, say) instead of calling that object. This is how a
    backtest runs a trader's class: the engine is ours, the class is theirs, and both run in the child."""
    if driver is not None and driver not in TRUSTED_DRIVERS:
        raise ValueError(f"{driver!r} is not a trusted sandbox driver")
    if not entry.isidentifier() or rules.is_dunder(entry):
        raise ValueError(f"entry must be a plain function name, got {entry!r}")
    wall = cpu_seconds * 2 + 5 if wall_seconds is None else wall_seconds
    if cpu_seconds <= 0 or memory_mb <= 0 or wall <= 0:
        raise ValueError("cpu_seconds, memory_mb and wall_seconds must be positive")
    report, tree = check_source(source, filename=STRATEGY_FILENAME)
    if not report.ok or tree is None:
        raise StrategyRejected(report)
    if entry not in top_level_names(tree):
        what = "class or function" if driver else "function"
        problem = Problem(0, 0, f"the strategy defines no {what} named '{entry}'")
        raise StrategyRejected(ValidationReport(ok=False, problems=(problem,)))
    try:
        args_bytes = pickle.dumps(tuple(args), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(f"the strategy's arguments must be picklable: {exc}") from exc

    started = time.perf_counter()
    deadline = time.monotonic() + wall
    header = {
        "source": source,
        "filename": STRATEGY_FILENAME,
        "entry": entry,
        "driver": driver,
        "cpu_seconds": float(cpu_seconds),
        "memory_mb": int(memory_mb),
        "deadline": deadline,  # time.monotonic is system-wide, so the child can compare with it
        "sys_path": [p or os.getcwd() for p in sys.path],
        "rules_path": str(_RULES),
        "preload": imported_modules(tree),
        "read_roots": list(_read_roots()),
        "output_chars": OUTPUT_CHARS,
    }
    payload = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + args_bytes
    out, err, returncode, killed = _run_child(payload, deadline, cancel)
    wall_used = time.perf_counter() - started
    return _outcome(
        out, err, returncode, killed, cpu_seconds=cpu_seconds, memory_mb=memory_mb, wall=wall, wall_used=wall_used
    )


def _run_child(payload: bytes, deadline: float, cancel: threading.Event | None) -> tuple[bytes, bytes, int, bool]:
    """Start the child, feed it, collect its output; kill its process group at the deadline. Always reaps."""
    env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ} | _CHILD_ENV
    posix = os.name == "posix"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(_CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            start_new_session=posix,
        )
    except OSError as exc:
        raise SandboxError(f"the sandbox process could not start: {exc}") from exc
    with proc:
        try:
            return _communicate(proc, payload, deadline, cancel)
        except BaseException:  # KeyboardInterrupt in the caller, a cancel, anything else: no orphan, no zombie
            _kill(proc)
            proc.wait()
            raise


def _communicate(
    proc: subprocess.Popen[bytes], payload: bytes, deadline: float, cancel: threading.Event | None
) -> tuple[bytes, bytes, int, bool]:
    """Feed the child and collect its output, waking every ``_CANCEL_POLL_S`` to honour ``cancel``.

    The child's own watchdog fires at the deadline and names the line; the grace covers its dump.
    The payload is written by a helper thread: ``communicate()`` retried after a timeout resumes reading
    but never resumes writing its input (CPython registers stdin only when given input again, which it
    refuses), so a payload larger than the pipe buffer would stall the child until the deadline."""
    stdin, proc.stdin = proc.stdin, None  # communicate() now only collects stdout and stderr
    writer = threading.Thread(target=_feed, args=(stdin, payload), name="sandbox-stdin", daemon=True)
    writer.start()
    while True:
        left = deadline + _KILL_GRACE_S - time.monotonic()
        wait = min(left, _CANCEL_POLL_S) if cancel is not None else left
        try:
            out, err = proc.communicate(None, timeout=max(wait, 0.01))
            writer.join()
            return out, err, proc.returncode, False
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.is_set():
                raise StrategyCancelled("the run was cancelled") from None
            if time.monotonic() >= deadline + _KILL_GRACE_S:
                _kill(proc)
                out, err = proc.communicate()
                return out, err, proc.returncode, True


def _feed(stdin: IO[bytes] | None, payload: bytes) -> None:
    """Write the payload and close the pipe; a child that died (or was killed) early ends it quietly."""
    if stdin is None:
        return
    with contextlib.suppress(OSError), stdin:  # BrokenPipeError included; the pipe is closed either way
        stdin.write(payload)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session: group id == its pid
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _outcome(
    out: bytes,
    err: bytes,
    returncode: int,
    killed: bool,
    *,
    cpu_seconds: float,
    memory_mb: int,
    wall: float,
    wall_used: float,
) -> SandboxResult:
    """Turn what the child left behind into a result or the right error."""
    stderr = err.decode("utf-8", "replace")
    message: dict[str, Any] | None = None
    if out:
        try:
            decoded = reply.loads(out)
            message = decoded if isinstance(decoded, dict) else None
        except Exception:  # a truncated or forged reply: judge by how the process ended instead
            message = None
    if message is None:
        _raise_from_exit(stderr, returncode, killed, cpu_seconds=cpu_seconds, memory_mb=memory_mb, wall=wall)
    assert message is not None
    kind = message.get("kind")
    line = message.get("line") if isinstance(message.get("line"), int) else None
    trace = tuple(tuple(t) for t in message.get("trace", ()))
    output = str(message.get("output", ""))
    common: dict[str, Any] = {"line": line, "trace": trace, "output": output}
    if kind == "ok":
        try:
            value = reply.loads(message["value"])
        except reply.RefusedReply as exc:
            raise StrategyCrashed(
                f"the strategy returned a value the application does not accept ({exc})", output=output
            ) from None
        except Exception as exc:
            raise StrategyCrashed(f"the strategy's result could not be read ({exc})", output=output) from None
        return SandboxResult(value, output, float(message.get("cpu_seconds", 0.0)), wall_used)
    if kind == "crashed":
        text = str(message.get("message", "the strategy failed"))
        raise StrategyCrashed(f"{text}{_at(line, 'line {} of the strategy')}", **common)
    if kind == "memory":
        raise StrategyOutOfMemory(f"the strategy needed more than {memory_mb} MB{_at(line, 'at line {}')}", **common)
    if kind == "cpu":
        message_text = f"the strategy used more than {cpu_seconds:g} s of CPU{_at(line, 'it was at line {}')}"
        raise StrategyTimedOut(message_text, limit="cpu", **common)
    raise SandboxError(f"the sandbox failed: {message.get('message', kind)}")


def _raise_from_exit(
    stderr: str, returncode: int, killed: bool, *, cpu_seconds: float, memory_mb: int, wall: float
) -> None:
    """No usable reply: the child was killed or died. Its stderr may hold a stack dump naming the line."""
    line = _line_from_dump(stderr)
    fatal = [t.strip() for t in stderr.splitlines() if t.startswith(("Fatal Python error", "terminate called"))]
    if killed or "Timeout (" in stderr:
        message = f"the strategy ran for more than {wall:g} s{_at(line, 'it was at line {}')}"
        raise StrategyTimedOut(message, limit="wall", line=line)
    if returncode in _CPU_KILLS:
        # SIGKILL we did not send: the hard CPU limit (the kernel's OOM killer is unlikely under RLIMIT_AS).
        message = f"the strategy used more than {cpu_seconds:g} s of CPU{_at(line, 'it was at line {}')}"
        raise StrategyTimedOut(message, limit="cpu", line=line)
    if "MemoryError" in stderr or "bad_alloc" in stderr or "Cannot allocate memory" in stderr:
        raise StrategyOutOfMemory(f"the strategy needed more than {memory_mb} MB{_at(line, 'at line {}')}", line=line)
    if returncode < 0:
        try:
            how = signal.Signals(-returncode).name
        except ValueError:
            how = f"signal {-returncode}"
    else:
        how = f"exit code {returncode}"
    detail = f": {fatal[0][:300]}" if fatal else ""
    message = f"the strategy's process stopped unexpectedly ({how}){detail}{_at(line, 'at line {}')}"
    raise StrategyCrashed(message, line=line)


def _at(line: int | None, template: str) -> str:
    return f" ({template.format(line)})" if line is not None else ""


def _line_from_dump(stderr: str) -> int | None:
    """The strategy line in a stack dump: the first strategy frame of a faulthandler dump (most recent
    call first), or the last of a Python traceback (most recent call last)."""
    prefix = f'File "{STRATEGY_FILENAME}", line '
    numbers = []
    for raw in stderr.splitlines():
        text = raw.strip()
        if text.startswith(prefix):
            number = text[len(prefix) :].split(",")[0].split(" ")[0]
            if number.isdigit():
                numbers.append(int(number))
    if not numbers:
        return None
    return numbers[0] if "most recent call first" in stderr else numbers[-1]


@functools.cache
def _read_roots() -> tuple[str, ...]:
    """Folders the child may read from once the strategy runs: the Python installation and the
    allow-listed packages (lazy imports), and the time-zone database. Nothing else, nothing writable."""
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(site.getsitepackages())
    for module in (*rules.ALLOWED_MODULES, "pyarrow", "zoneinfo", "tzdata"):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            roots.update(spec.submodule_search_locations or ())
            if spec.origin and os.path.isabs(spec.origin):
                roots.add(os.path.dirname(spec.origin))
    tzpath = sysconfig.get_config_var("TZPATH") or ""
    roots.update(p for p in tzpath.split(os.pathsep) if p)
    return tuple(sorted({os.path.realpath(r) for r in roots if r and os.path.isabs(r)}))
