"""A strategy host, seen from the application: one confined process holding one strategy source, kept warm.

:class:`StrategyHost` validates the source, gets a process from the launcher (forked from the warm template on
Linux), sends it the source once, and then makes calls: a trusted driver of ours (the backtest engine, a paper
session's bar loop) run with the strategy's object, or the strategy's own function. What comes back is believed
in nothing: replies are read with a deadline and a size cap, decoded by ``wire`` (plain data, no pickle), and
checked field by field; printed text is drained with a cap; anything malformed, oversized or late is a
:class:`StrategyError` naming the problem, and the host is then killed, never trusted again.

A host ends when it is closed, when a call runs out of CPU, memory or wall time, when a reply is bad, or when it
dies. Its owner sees the error (with the strategy line when the host could tell) and decides whether to start
another: restarts are explicit.

Calls block; make them off the GUI thread. One call at a time per host (a lock serialises them).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pickle
import site
import struct
import sys
import sysconfig
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from core.strategy.api import STRATEGY_FILENAME
from core.strategy.sandbox import rules, wire
from core.strategy.sandbox.errors import (
    SandboxError,
    StrategyCancelled,
    StrategyCrashed,
    StrategyOutOfMemory,
    StrategyRejected,
    StrategyTimedOut,
)
from core.strategy.sandbox.launcher import HostProcess, Launcher, default_launcher
from core.strategy.sandbox.validator import Problem, ValidationReport, check_source, imported_modules, top_level_names

OUTPUT_CHARS = 100_000  # what a strategy may print per call before its output is truncated
STDERR_KEEP = 64 * 1024  # what the application keeps of a host's stderr (stack dumps); the rest is counted, dropped
# Application functions a host may call with the strategy's object ("module:function").
TRUSTED_DRIVERS = frozenset(
    {
        "core.backtest.sandboxed:run_runs",
        "core.backtest.sandboxed:run_detailed",
        "core.paper.live_host:open_book",
        "core.paper.live_host:decide_bars",
    }
)
# What every host imports before confinement (the template has them already).
PRELOAD = ("numpy", "pandas", "pyarrow", "core.strategy.api", "core.strategy.indicators", "core.strategy.sandbox.wire")
_KILL_GRACE_S = 1.0
_POLL_S = 0.2  # how often a waiting call looks at its cancel event
_LOAD_CPU_S = 10.0
_LOAD_WALL_S = 30.0
_LENGTH = struct.Struct("<Q")
_SHARED_KEEP = 2  # shared arguments a host keeps (the bars of the last two symbols a pooled host ran)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_IDLE_WATCH_S = 0.5  # how often idle hosts' CPU counts are read (about 60 us each from /proc)
_IDLE_CPU_S = 0.25  # CPU an idle host may use between two rounds before it is stopped
_NOT_SEEN = -1.0  # an idle host the watch has not counted yet
_KINDS = frozenset({"ready", "ok", "crashed", "memory", "cpu", "wall", "internal"})


@dataclass(frozen=True)
class SandboxLayers:
    """Which defences a host applies. All on, always, in the application; tests switch the upper ones off to
    show that the operating system's confinement holds by itself (and the Python layers by themselves)."""

    validator: bool = True
    python_guards: bool = True  # restricted built-ins, the import rules, the audit hook
    os_confinement: bool = True


ALL_LAYERS = SandboxLayers()


@dataclass(frozen=True)
class Shared:
    """An argument sent to a host once and referred to by ``key`` afterwards (a sweep's million bars go to each
    host once, not with every chunk). ``key`` must change whenever the value does (a digest of it)."""

    key: str
    value: Any


@dataclass(frozen=True)
class SandboxResult:
    """A successful call: the returned ``value``, what the strategy printed, the CPU seconds the call used (as
    the host measured them: informative only) and the call's wall time (measured here)."""

    value: Any
    output: str = ""
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


class StrategyHost:
    """One confined process holding ``source``; ``entry`` names the class or function the calls use."""

    def __init__(
        self,
        source: str,
        entry: str,
        *,
        memory_mb: int = 1024,
        drivers: tuple[str, ...] = (),
        layers: SandboxLayers = ALL_LAYERS,
        launcher: Launcher | None = None,
        start_wall_seconds: float = _LOAD_WALL_S,
    ) -> None:
        unknown = [d for d in drivers if d not in TRUSTED_DRIVERS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a trusted sandbox driver")
        if not entry.isidentifier() or rules.is_dunder(entry):
            raise ValueError(f"entry must be a plain name, got {entry!r}")
        if memory_mb <= 0:
            raise ValueError("memory_mb must be positive")
        preload = _check(source, entry, drivers, layers)
        self.entry = entry
        self.memory_mb = memory_mb
        self.drivers = frozenset(drivers)
        self.layers = layers
        self._lock = threading.Lock()
        self._closed = False
        self._stopped_because = "the strategy's process has stopped; start the run again"
        self._idle_cpu: float | None = None  # the host's CPU count when last seen idle (None: in a call)
        self._shared_keys: list[str] = []  # what the host keeps, oldest first (the host evicts in the same order)
        started = time.perf_counter()
        self._launcher = launcher or default_launcher(PRELOAD, tuple(sorted(TRUSTED_DRIVERS)), _command_prefix(layers))
        self._proc: HostProcess = self._launcher.launch()
        self._reader = wire.FrameReader(self._proc.reply_fd)
        self._stderr = wire.CappedDrain(self._proc.stderr_fd, keep_bytes=STDERR_KEEP)
        header = {
            "source": source, "filename": STRATEGY_FILENAME, "entry": entry, "drivers": sorted(drivers),
            "memory_mb": int(memory_mb), "sys_path": [p or os.getcwd() for p in sys.path],
            "rules_path": str(rules.__file__), "preload": [*PRELOAD, *preload], "read_roots": list(read_roots()),
            "output_chars": OUTPUT_CHARS, "load_cpu_seconds": _LOAD_CPU_S, "load_wall_seconds": start_wall_seconds,
            "layers": {"python_guards": layers.python_guards, "os_confinement": layers.os_confinement},
        }  # fmt: skip
        try:
            self._send(header)
            reply = self._receive(time.monotonic() + start_wall_seconds + _KILL_GRACE_S, None, start_wall_seconds,
                                  _LOAD_CPU_S)  # fmt: skip
        except BaseException:
            self.close()
            raise
        self.load_output = str(reply.get("output", ""))
        if reply["kind"] != "ready":
            self.close()
            self._raise(reply, cpu_seconds=_LOAD_CPU_S, wall=start_wall_seconds)
        self.start_seconds = time.perf_counter() - started
        self._idle_cpu = _NOT_SEEN
        _IDLE_WATCH.add(self)

    # ---- calls ----

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._closed

    def call(
        self,
        driver: str | None,
        args: tuple[Any, ...] = (),
        *,
        cpu_seconds: float = 5.0,
        wall_seconds: float | None = None,
        cancel: threading.Event | None = None,
        fresh: bool = False,
    ) -> SandboxResult:
        """``driver(strategy_object, *args)`` (a trusted driver this host was started with) or
        ``strategy_object(*args)``, in the host. ``fresh`` executes the source again first, so module-level state
        the strategy keeps cannot carry from one backtest to the next. ``args`` are the application's own values
        (pickled to the host, which trusts us); the value returned must be plain data (``wire``).

        Raises :class:`StrategyCrashed` (an exception: the host lives on; or a bad reply or a death: it does
        not), :class:`StrategyTimedOut`, :class:`StrategyOutOfMemory`, :class:`StrategyCancelled` (the host is
        killed) or :class:`SandboxError`."""
        if driver is not None and driver not in self.drivers:
            raise ValueError(f"this host was not started with the driver {driver!r}")
        wall = cpu_seconds * 2 + 5 if wall_seconds is None else wall_seconds
        if cpu_seconds <= 0 or wall <= 0:
            raise ValueError("cpu_seconds and wall_seconds must be positive")
        with self._lock:
            if self._closed:
                raise SandboxError(self._stopped_because)
            self._idle_cpu = None
            plain, shared = self._share(args)
            request = {"driver": driver, "args": plain, "cpu_seconds": float(cpu_seconds),
                       "wall_seconds": float(wall), "fresh": fresh, "shared": shared,
                       "shared_keep": _SHARED_KEEP}  # fmt: skip
            started = time.perf_counter()
            try:
                self._send(request)
                reply = self._receive(time.monotonic() + wall + _KILL_GRACE_S, cancel, wall, cpu_seconds)
            except BaseException:
                self._close_locked()
                raise
            used = time.perf_counter() - started
            self._idle_cpu = _NOT_SEEN  # idle from now on: the watch takes its CPU count on its next round
            if reply["kind"] == "ok":
                return SandboxResult(reply.get("value"), str(reply.get("output", "")),
                                     _number(reply.get("cpu_seconds")), used)  # fmt: skip
            if reply["kind"] != "crashed":  # out of CPU or memory, or the host's own failure: it has left
                self._close_locked()
            self._raise(reply, cpu_seconds=cpu_seconds, wall=wall)
        raise AssertionError("unreachable")

    def check_idle(self) -> None:
        """Kill the host if it has computed since it answered (the idle watch calls this; never blocks).

        A host answers and then waits. One whose strategy forged its reply (or disarmed its timers) could go on
        computing with no budget, and its real reply would land on the next call: so an idle host that uses more
        than ``_IDLE_CPU_S`` of CPU between two rounds of the watch is stopped, and its next call says why."""
        if not self._lock.acquire(blocking=False):
            return  # in a call: the call's own CPU watch applies
        try:
            if self._closed or self._idle_cpu is None:
                return
            now = _cpu_of(self._proc.pid)
            if self._idle_cpu >= 0 and now - self._idle_cpu > _IDLE_CPU_S:
                self._stopped_because = ("the strategy's process kept computing after it had answered, and was "
                                         "stopped; start the run again")  # fmt: skip
                self._close_locked()
                return
            self._idle_cpu = now
        finally:
            self._lock.release()

    def close(self) -> None:
        """Kill the host and release its pipes (idempotent)."""
        with self._lock:
            self._close_locked()

    def __enter__(self) -> StrategyHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _share(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[int, tuple[str, Any]]]:
        """The arguments with each :class:`Shared` replaced, and what the host must store or look up for them."""
        plain: list[Any] = []
        shared: dict[int, tuple[str, Any]] = {}
        for index, arg in enumerate(args):
            if not isinstance(arg, Shared):
                plain.append(arg)
                continue
            plain.append(None)
            if arg.key in self._shared_keys:
                shared[index] = (arg.key, None)
                continue
            shared[index] = (arg.key, arg.value)
            self._shared_keys.append(arg.key)
            del self._shared_keys[:-_SHARED_KEEP]
        return tuple(plain), shared

    # ---- the pipes ----

    def _close_locked(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self._proc.request_fd)  # a live host reads end-of-file and leaves
        self._proc.kill()
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.close(self._proc.reply_fd)

    def _send(self, message: dict[str, Any]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_LENGTH.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self._proc.request_fd, view) :]
        except OSError:  # the host is gone: what it left on stderr tells why
            self._raise_from_death(killed=False, cpu_seconds=0.0, wall=0.0)

    def _receive(self, deadline: float, cancel: threading.Event | None, wall: float, cpu: float) -> dict[str, Any]:
        """The next reply, decoded and checked; a late, oversized, malformed reply or a death raises.

        Waits in steps of ``_POLL_S`` to honour ``cancel`` and to watch the host's CPU time from outside (the
        kernel's count in /proc, not the host's word): a host past its CPU budget plus a grace is killed, even
        one stuck in a C call that its own timer cannot interrupt, or one whose strategy disarmed that timer."""
        cpu_start: float | None = None  # read at the first wait that times out: most calls end well before it
        while True:
            try:
                payload = self._reader.read(min(deadline, time.monotonic() + _POLL_S))
                break
            except TimeoutError:
                if cancel is not None and cancel.is_set():
                    raise StrategyCancelled("the run was cancelled") from None
                if cpu_start is None:  # as if the host had been busy all through the first wait: errs early
                    cpu_start = _cpu_of(self._proc.pid) - _POLL_S
                used = _cpu_of(self._proc.pid) - cpu_start
                if used > cpu + _KILL_GRACE_S:
                    self._proc.kill()
                    self._raise_from_death(killed=True, cpu_seconds=cpu, wall=wall, limit="cpu")
                if time.monotonic() >= deadline:
                    self._proc.kill()
                    self._raise_from_death(killed=True, cpu_seconds=cpu, wall=wall)
            except EOFError:
                self._raise_from_death(killed=False, cpu_seconds=0.0, wall=wall)
            except wire.WireError as exc:
                raise StrategyCrashed(f"the strategy's process sent a reply the application refuses ({exc})") from None
        try:
            return _checked_reply(wire.decode(payload))
        except wire.WireError as exc:
            raise StrategyCrashed(f"the strategy's process sent a reply the application refuses ({exc})") from None

    # ---- errors ----

    def _raise(self, reply: dict[str, Any], *, cpu_seconds: float, wall: float) -> None:
        kind, line, output = reply["kind"], reply.get("line"), str(reply.get("output", ""))
        trace = tuple((int(t[0]), str(t[1])) for t in reply.get("trace", ()))
        common: dict[str, Any] = {"line": line, "trace": trace, "output": output}
        if kind == "crashed":
            text = str(reply.get("message", "the strategy failed"))
            raise StrategyCrashed(f"{text}{_at(line, 'line {} of the strategy')}", **common)
        if kind == "memory":
            raise StrategyOutOfMemory(f"the strategy needed more than {self.memory_mb} MB{_at(line, 'at line {}')}",
                                      **common)  # fmt: skip
        if kind == "cpu":
            message = f"the strategy used more than {cpu_seconds:g} s of CPU{_at(line, 'it was at line {}')}"
            raise StrategyTimedOut(message, limit="cpu", **common)
        if kind == "wall":
            message = f"the strategy ran for more than {wall:g} s{_at(line, 'it was at line {}')}"
            raise StrategyTimedOut(message, limit="wall", **common)
        raise SandboxError(f"the sandbox failed: {reply.get('message', kind)}")

    def _raise_from_death(self, *, killed: bool, cpu_seconds: float, wall: float, limit: str = "wall") -> None:
        """No usable reply: the host was killed or died. Its stderr may hold a stack dump naming the line."""
        self._proc.kill()
        self._stderr.close()  # the drain has read everything the host wrote before it died
        stderr = self._stderr.text()
        self._close_locked()  # and its pipes are released
        line = _line_from_dump(stderr)
        if limit == "cpu":
            message = f"the strategy used more than {cpu_seconds:g} s of CPU{_at(line, 'it was at line {}')}"
            raise StrategyTimedOut(message, limit="cpu", line=line)
        if killed or "Timeout (" in stderr:
            raise StrategyTimedOut(f"the strategy ran for more than {wall:g} s{_at(line, 'it was at line {}')}",
                                   limit="wall", line=line)  # fmt: skip
        if "MemoryError" in stderr or "bad_alloc" in stderr or "Cannot allocate memory" in stderr:
            raise StrategyOutOfMemory(f"the strategy needed more than {self.memory_mb} MB{_at(line, 'at line {}')}",
                                      line=line)  # fmt: skip
        fatal = [t.strip() for t in stderr.splitlines() if t.startswith(("Fatal Python error", "terminate called"))]
        detail = f": {fatal[0][:300]}" if fatal else ""
        raise StrategyCrashed(f"the strategy's process stopped unexpectedly{detail}{_at(line, 'at line {}')}",
                              line=line)  # fmt: skip


class _IdleWatch:
    """One daemon thread that looks at every idle host's CPU count twice a second (:meth:`StrategyHost.check_idle`).
    Hosts are held weakly: a host nobody holds any more is not kept alive by being watched."""

    def __init__(self) -> None:
        self._hosts: weakref.WeakSet[StrategyHost] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, host: StrategyHost) -> None:
        with self._lock:
            self._hosts.add(host)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="strategy-host-idle-watch", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """Until no host is left to watch (the next host started starts the thread again)."""
        while True:
            time.sleep(_IDLE_WATCH_S)
            with self._lock:
                hosts = [host for host in self._hosts if host.alive]
                if not hosts:
                    self._thread = None
                    return
            for host in hosts:
                host.check_idle()
            del hosts


def _check(source: str, entry: str, drivers: tuple[str, ...], layers: SandboxLayers) -> list[str]:
    """The validator's verdict (unless a test switched it off), and the modules the source imports."""
    report, tree = check_source(source, filename=STRATEGY_FILENAME)
    if layers.validator:
        if not report.ok or tree is None:
            raise StrategyRejected(report)
        if entry not in top_level_names(tree):
            what = "class or function" if drivers else "function"
            problem = Problem(0, 0, f"the strategy defines no {what} named '{entry}'")
            raise StrategyRejected(ValidationReport(ok=False, problems=(problem,)))
    if tree is None:
        return []
    return [m for m in imported_modules(tree) if rules.module_problem(m, binds_top=False) is None]


def _checked_reply(value: Any) -> dict[str, Any]:
    """A decoded reply with the fields the application reads, of the types it expects; anything else refused."""
    if not isinstance(value, dict) or value.get("kind") not in _KINDS:
        raise wire.WireError("the reply is not one the host sends")
    line = value.get("line")
    if line is not None and (type(line) is not int or not 0 < line < 10_000_000):
        raise wire.WireError("the reply's line is not a line number")
    trace = value.get("trace", [])
    if not isinstance(trace, list) or len(trace) > 10_000 or not all(
        isinstance(t, list) and len(t) == 2 and type(t[0]) is int and isinstance(t[1], str) for t in trace
    ):
        raise wire.WireError("the reply's trace is not a list of (line, function)")
    for name in ("output", "message"):
        text = value.get(name, "")
        if not isinstance(text, str) or len(text) > OUTPUT_CHARS + 100:
            raise wire.WireError(f"the reply's {name} is not text of a sensible length")
    cpu = value.get("cpu_seconds", 0.0)
    if isinstance(cpu, bool) or not isinstance(cpu, int | float):
        raise wire.WireError("the reply's cpu_seconds is not a number")
    return value


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) the kernel has counted for ``pid``; 0 where /proc cannot tell (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _at(line: int | None, template: str) -> str:
    return f" ({template.format(line)})" if line is not None else ""


def _line_from_dump(stderr: str) -> int | None:
    """The strategy line in a stack dump: the first strategy frame of a faulthandler dump (most recent call
    first), or the last of a Python traceback (most recent call last)."""
    prefix = f'File "{STRATEGY_FILENAME}", line '
    numbers = []
    for raw in stderr.splitlines():
        text = raw.strip()
        if text.startswith(prefix):
            number = text[len(prefix) :].split(",")[0].split(" ")[0]
            if number.isdigit() and len(number) < 9:
                numbers.append(int(number))
    if not numbers:
        return None
    return numbers[0] if "most recent call first" in stderr else numbers[-1]


def _command_prefix(layers: SandboxLayers) -> list[str]:
    """What a fresh host is started under (macOS: the system sandbox), when the platform confines that way."""
    if not layers.os_confinement:
        return []
    from core.strategy.sandbox import confinement

    return confinement.child_command_prefix(list(read_roots()))


@functools.cache
def read_roots() -> tuple[str, ...]:
    """Folders a host may read once confined: the Python installation and the allow-listed packages (lazy
    imports), the application's ``core`` package (the engine's lazy imports), the time-zone database, and in a
    frozen bundle its executable and folder. Nothing else (no home folder, no /proc, no configuration), and
    nothing writable."""
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(site.getsitepackages())
    roots.add(sys.base_prefix)
    for module in (*rules.ALLOWED_MODULES, "core", "pyarrow", "zoneinfo", "tzdata"):
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
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: its executable's archive holds the modules' bytecode
        roots.add(sys.executable)
        roots.add(getattr(sys, "_MEIPASS", os.path.dirname(sys.executable)))
    return tuple(sorted({os.path.realpath(r) for r in roots if r and os.path.isabs(r)}))


_IDLE_WATCH = _IdleWatch()
