"""A strategy host: the confined process that loads one strategy source once and answers calls on it.

Started either as a fresh ``python -I -B <this file>`` (every platform) or forked from the template process
(``_template.py``, Linux), which has imported numpy, pandas and the engine already, so a new host costs a
fork rather than an interpreter start. Either way file descriptor 0 carries requests from the application,
file descriptor 1 the replies, 2 whatever the process prints (read by the parent with a cap).

Order of events, and why:

1. Read the header (the application's, so trusted: pickled) and, in a fresh process, import what the
   strategy and the drivers need. Start-up cost is not the strategy's, and imports after confinement can
   only read the folders the confinement allows.
2. Limits: memory (RLIMIT_AS at what is mapped now plus the allowance), no file growth, no core dumps,
   few file descriptors; every descriptor but the three pipes closed.
3. The operating system's confinement (``confinement.confine_current_process``): from here on the process
   cannot start processes, open sockets, signal others, read outside the Python installation or write any
   file, whatever the code in it does. This is the boundary; everything below is a friendlier first line.
4. The Python guards (unless a test switches them off to try the boundary alone): restricted built-ins and
   an import function applying the validator's rules, and an audit hook refusing what strategies may not do.
5. Execute the source once, send ``ready``, then answer calls until the application closes the request
   pipe. Each call gets a CPU budget (ITIMER_PROF: the signal names the strategy line), a wall-clock
   watchdog (faulthandler's C thread: dumps the stack and exits, even inside a C call) and a fresh output
   capture. A strategy exception is reported and the host carries on; running out of CPU, memory or wall
   time ends the host (its state is no longer trustworthy), and the parent sees it die.

Replies go out in the plain format of ``wire.py`` (no pickle): the parent decodes them believing nothing.
"""

from __future__ import annotations

import builtins
import contextlib
import faulthandler
import importlib
import importlib.util
import os
import pickle
import signal
import struct
import sys
import time
from types import FrameType, ModuleType, TracebackType
from typing import Any

try:
    import resource
except ImportError:  # not POSIX: the parent's wall clock and the job object are the limits
    resource = None  # type: ignore[assignment]

_MEMORY_RESERVE_BYTES = 4 << 20  # freed first on MemoryError so the report itself can be built
_MESSAGE_CHARS = 2_000
_OPEN_FILES = 64  # lazy imports open a few files at a time; nothing needs more
_COMPILE_CALLERS = frozenset({"dataclasses", "collections"})  # generated __init__/__repr__, namedtuple
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_READ_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
# Frame and code-object access (``tb_frame``, ``gi_frame``, ``f_code``, ``__code__``, ``sys._getframe``):
# refused when strategy code asks directly, allowed for libraries (pandas finds warning stack levels).
_CALLER_EVENTS = frozenset({"object.__getattr__", "object.__setattr__", "object.__delattr__", "sys._getframe"})
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.fork", "os.forkpty", "os.posix_spawn"})
_HARMLESS_EVENTS = frozenset(
    {
        "import",  # lazy imports inside numpy/pandas; the strategy's own imports go through _guarded_import
        "exec",  # running code objects; new ones only come from "compile", which is checked
        "marshal.loads",  # reading .pyc files during those imports
        "builtins.id",
        "sys._getframemodulename",
        "sys.excepthook",
        "sys.unraisablehook",
        "time.sleep",
        "array.__new__",
    }
)
_LENGTH = struct.Struct("<Q")


class _Capture:
    """Stands in for sys.stdout/sys.stderr: keeps the first ``limit`` characters of what is printed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.room = self.limit
        self.truncated = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        kept = text[: max(self.room, 0)]
        if kept:
            self.parts.append(kept)
            self.room -= len(kept)
        self.truncated = self.truncated or len(kept) < len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.parts) + ("\n[output truncated]" if self.truncated else "")


class _Host:
    def __init__(self, reply_fd: int, header: dict[str, Any], wire: ModuleType) -> None:
        self.reply_fd = reply_fd
        self.wire = wire
        self.filename: str = header["filename"]
        self.phase = "setup"  # "user" while strategy code may run
        self.output = _Capture(header["output_chars"])
        self.cpu_at_call = 0.0
        self.reserve: bytearray | None = None
        self.trust: Any = lambda loader: loader()  # replaced by the audit hook's: lets the host's unpickling through

    # ---- replies ----

    def send(self, reply: dict[str, Any]) -> None:
        reply.setdefault("output", self.output.text())
        reply.setdefault("cpu_seconds", _cpu_seconds() - self.cpu_at_call)
        try:
            payload = self.wire.encode(reply)
        except MemoryError:
            self.reserve = None
            payload = self.wire.encode({"kind": "memory", "line": reply.get("line"), "output": "", "cpu_seconds": 0.0})
        except self.wire.WireError as exc:  # the value is not plain data (a strategy-defined class, a set...)
            message = f"the strategy's result cannot be sent back to the application ({exc})"
            payload = self.wire.encode({"kind": "crashed", "message": message, "line": None, "output": reply["output"],
                                        "cpu_seconds": reply["cpu_seconds"]})  # fmt: skip
        self.wire.write_frame(self.reply_fd, payload)

    def die(self, reply: dict[str, Any]) -> None:
        """Report and leave at once: no interpreter teardown, so no strategy code runs after the reply."""
        self.phase = "reporting"
        with contextlib.suppress(BaseException):
            self.send(reply)
        os._exit(0)

    # ---- where in the strategy ----

    def line_of_frame(self, frame: FrameType | None) -> int | None:
        """The line the strategy was running: the innermost frame that belongs to the strategy's source."""
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def trace_of(self, tb: TracebackType | None) -> list[list[Any]]:
        """[line, function] of each strategy frame in a traceback, outermost first."""
        trace = []
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                trace.append([tb.tb_lineno, tb.tb_frame.f_code.co_name])
            tb = tb.tb_next
        return trace

    # ---- limits ----

    def on_cpu_limit(self, signum: int, frame: FrameType | None) -> None:
        """SIGPROF at the call's CPU budget: report where the strategy was, then leave."""
        if self.phase != "user":
            return
        self.die({"kind": "cpu", "line": self.line_of_frame(frame)})

    def on_wall_limit(self, signum: int, frame: FrameType | None) -> None:
        """SIGALRM at the call's wall time: report where the strategy was, then leave."""
        if self.phase != "user":
            return
        self.die({"kind": "wall", "line": self.line_of_frame(frame)})

    def arm_process_limits(self, memory_mb: int) -> None:
        stderr = sys.__stderr__
        assert stderr is not None  # the host always has a stderr pipe
        faulthandler.enable(file=stderr, all_threads=True)  # a crash in C code still names the line
        if resource is None:
            return
        signal.signal(signal.SIGPROF, self.on_cpu_limit)
        signal.signal(signal.SIGALRM, self.on_wall_limit)
        # Both dump the stack from C (works while a long C call holds the interpreter), then chain to the handlers;
        # a call stuck in C past its wall time is killed by the application, the dump already naming the line.
        faulthandler.register(signal.SIGPROF, file=stderr, all_threads=True, chain=True)
        faulthandler.register(signal.SIGALRM, file=stderr, all_threads=True, chain=True)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing a file fails with EFBIG instead of killing
        mapped = _mapped_bytes()
        if mapped is not None:
            limit = mapped + memory_mb * 1024 * 1024
            _set_limit(resource.RLIMIT_AS, limit, limit)
        _set_limit(resource.RLIMIT_FSIZE, 0, 0)
        _set_limit(resource.RLIMIT_CORE, 0, 0)
        _set_limit(resource.RLIMIT_NOFILE, _OPEN_FILES, _OPEN_FILES)

    def arm_call(self, cpu_seconds: float, wall_seconds: float) -> None:
        """The call's budgets: interval timers on POSIX (two system calls, where faulthandler's watchdog starts and
        joins a thread per call), faulthandler's watchdog elsewhere."""
        if resource is not None:
            signal.setitimer(signal.ITIMER_PROF, max(cpu_seconds, 0.01))
            signal.setitimer(signal.ITIMER_REAL, max(wall_seconds, 0.05))
        else:
            stderr = sys.__stderr__
            assert stderr is not None
            faulthandler.dump_traceback_later(max(wall_seconds, 0.05), exit=True, file=stderr)
        self.cpu_at_call = _cpu_seconds()

    def disarm_call(self) -> None:
        if resource is not None:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
        else:
            faulthandler.cancel_dump_traceback_later()


# ---- the audit hook ----


def _audit_hook(filename: str, read_roots: tuple[str, ...]) -> tuple[Any, Any]:
    """The hook installed right before strategy code first runs, and a switch for the host's own unpickling.

    Built as a closure and handed straight to ``sys.addaudithook``: nothing the strategy can reach holds a
    reference to it (listing objects through ``gc`` is refused). ``busy`` lets the hook's own ``sys._getframe``
    calls through; ``trusted`` is on only while the host reads a request (between calls, no strategy code runs)."""
    busy = False
    trusted = False

    def refusal(event: str, args: tuple[Any, ...]) -> str | None:
        if event in _HARMLESS_EVENTS:
            return None
        if event in _READ_EVENTS:
            return _read_refusal(event, args, read_roots)
        if event == "compile":
            return None if _trusted_compile(sys._getframe(2)) else "compile code from text"
        if event in _CALLER_EVENTS:  # frames, code objects: refused when the strategy itself asks
            return "reach Python's internals" if sys._getframe(2).f_code.co_filename == filename else None
        if event.startswith("socket."):
            return "use the network"
        if event in _PROCESS_EVENTS or event.startswith(("os.exec", "os.spawn")):
            return "start a process"
        if event == "pickle.find_class":
            return None if trusted else "unpickle data"
        return f"use '{event}'"

    def audit(event: str, args: tuple[Any, ...]) -> None:
        nonlocal busy
        if busy:
            return
        busy = True
        try:
            why = refusal(event, args)
        finally:
            busy = False
        if why is not None:
            raise PermissionError(f"the strategy tried to {why}, which strategies may not do")

    def trusting(loader: Any) -> Any:
        nonlocal trusted
        trusted = True
        try:
            return loader()
        finally:
            trusted = False

    return audit, trusting


def _read_refusal(event: str, args: tuple[Any, ...], read_roots: tuple[str, ...]) -> str | None:
    """Reading is allowed below the Python installation's folders (lazy imports, time zones); writing never."""
    path = args[0]
    if isinstance(path, int):
        return "open a file descriptor"
    if not isinstance(path, str | bytes):
        if type(path).__module__ != "pathlib":  # never call a strategy-defined __fspath__ or __str__ here
            return "open a file"
        path = str(path)
    what = f"open '{path!s}'" if event == "open" else f"list the folder '{path!s}'"
    if event == "open":
        mode, flags = args[1], args[2]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        ):
            return f"write to '{path!s}'"
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError, OSError):
        return what
    if any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in read_roots):
        return None
    return what


# ---- helpers ----


def _trusted_compile(frame: FrameType | None) -> bool:
    """Whether text being compiled is library code's own, not the strategy's: the generated methods of
    dataclasses and namedtuple, or any compile during an import (modules run their own constant strings
    through ``ast`` or ``typing`` at import time). Everything else (``eval`` reached through a library,
    pandas' ``eval``/``query``) is refused. ``frame`` is the frame that called compile/exec/eval."""
    if frame is not None and frame.f_globals.get("__name__") in _COMPILE_CALLERS:
        return True
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _cpu_seconds() -> float:
    if resource is None:
        return time.process_time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mapped_bytes() -> int | None:
    """The process's virtual size now (Linux; read before confinement closes /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None  # macOS does not enforce RLIMIT_AS anyway; the wall clock still applies


def _set_limit(which: int, soft: int, hard: int) -> None:
    assert resource is not None
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    with contextlib.suppress(ValueError, OSError):  # a platform that refuses one limit keeps the others
        resource.setrlimit(which, (soft, hard))


def _describe(exc: BaseException) -> str:
    """``Type: message`` for the trader, short, and robust to a strategy-defined __str__ that fails."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:
        text = ""
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    return f"{name}: {text}" if text else name


def _load_rules(path: str) -> ModuleType:
    """The shared rules module, loaded by path so that the application's packages are not needed for it."""
    spec = importlib.util.spec_from_file_location("_stratforge_sandbox_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_drivers(specs: list[str]) -> dict[str, Any]:
    """The application functions that run the strategy's object (the parent checked they are trusted ones).

    Imported now, before the limits, like any start-up cost; a module-level ``before_limits()`` gets the chance
    to warm caches (compiled code) that it could not read once the process is confined."""
    found: dict[str, Any] = {}
    for spec in specs:
        module_name, _, function_name = spec.partition(":")
        module = importlib.import_module(module_name)
        warm = getattr(module, "before_limits", None)
        if callable(warm):
            warm()
        found[spec] = getattr(module, function_name)
    return found


def _guarded_import_for(rules: ModuleType) -> Any:
    real_import = builtins.__import__

    def _guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> ModuleType:
        """The strategy's ``import``: the validator's rules, applied again at run time.

        C code importing lazily while a strategy frame is current (numpy's ``x.sum()`` loading
        ``numpy._core._methods``) also lands here; it passes ``fromlist`` as a list, which an import statement
        never does, so those imports pass and the audit hook judges whatever the imported code then does."""
        if type(fromlist) is list and not level:
            return real_import(name, globals, locals, fromlist, level)
        if level:
            raise ImportError("relative imports are not allowed in strategies")
        problem = rules.module_problem(name, binds_top=not fromlist)
        for item in fromlist or ():
            problem = problem or rules.imported_name_problem(name, item)
        if problem:
            raise ImportError(problem)
        return real_import(name, globals, locals, fromlist, level)

    return _guarded_import


def _strategy_builtins(rules: ModuleType | None) -> dict[str, Any]:
    """The real built-ins minus the forbidden ones and every special name except class creation (or, with the
    Python guards switched off, all of them)."""
    if rules is None:
        return dict(vars(builtins))
    safe = {
        name: value
        for name, value in vars(builtins).items()
        if name not in rules.FORBIDDEN_BUILTINS and (not name.startswith("__") or name == "__build_class__")
    }
    safe["__import__"] = _guarded_import_for(rules)
    return safe


def _read_exact(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file (the application closed the request pipe)."""
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _read_request(fd: int) -> bytes | None:
    head = _read_exact(fd, _LENGTH.size)
    return None if head is None else _read_exact(fd, _LENGTH.unpack(head)[0])


def _close_other_fds(keep: tuple[int, ...]) -> None:
    """Every descriptor but ``keep``: the template's control socket and anything else inherited."""
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:  # closerange(n, n) is not empty on every CPython: it can close everything from n up
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


# ---- the host ----


def serve() -> None:
    """Run a host on file descriptors 0 (requests), 1 (replies), 2 (printed text). Never returns."""
    request_fd = 0
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # from here anything printed at the C level goes to the stderr pipe, never into a reply
    raw = _read_request(request_fd)
    if raw is None:
        os._exit(0)
    header = pickle.loads(raw)
    sys.path[:] = header["sys_path"]
    wire = importlib.import_module("core.strategy.sandbox.wire")
    host = _Host(reply_fd, header, wire)
    layers = header["layers"]
    try:
        for module in header["preload"]:
            with contextlib.suppress(ImportError):  # the strategy's own import reports it, with its line
                importlib.import_module(module)
        drivers = _load_drivers(header["drivers"])
        rules = _load_rules(header["rules_path"]) if layers["python_guards"] else None
        code = compile(header["source"], host.filename, "exec", dont_inherit=True)
        confine = importlib.import_module("core.strategy.sandbox.confinement") if layers["os_confinement"] else None
    except Exception as exc:
        host.die({"kind": "internal", "message": _describe(exc)})
    sys.stdin = None
    sys.stdout = sys.stderr = host.output
    host.arm_process_limits(header["memory_mb"])
    _close_other_fds((request_fd, 1, reply_fd, 2))  # 1 is the stderr pipe now (C-level printing)
    if confine is not None:
        try:
            confine.confine_current_process(header["read_roots"], keep_fds=(request_fd, reply_fd, 2))
        except Exception as exc:  # never run the strategy in a process that is less confined than promised
            host.die({"kind": "internal", "message": f"the strategy's process could not be confined: {_describe(exc)}"})
    host.reserve = bytearray(_MEMORY_RESERVE_BYTES)
    if rules is not None:
        audit, host.trust = _audit_hook(host.filename, tuple(header["read_roots"]))
        sys.addaudithook(audit)
    else:
        host.trust = lambda loader: loader()
    target = _load_strategy(host, code, rules, header)
    host.send({"kind": "ready", "output": host.output.text(), "cpu_seconds": 0.0})
    shared: dict[str, Any] = {}  # large arguments the application sent once and refers to by key since
    while True:
        raw = _read_request(request_fd)
        if raw is None:
            os._exit(0)
        request = host.trust(lambda raw=raw: pickle.loads(raw))
        if request.get("fresh"):
            target = _load_strategy(host, code, rules, header)
        _resolve_shared(request, shared)
        driver = drivers.get(request["driver"]) if request["driver"] else None
        _answer(host, target, driver, request)


def _resolve_shared(request: dict[str, Any], shared: dict[str, Any]) -> None:
    """Put the shared arguments in place: ``request["shared"]`` maps an argument's position to ``(key, value)``
    when the value is sent now (kept for later calls) or ``(key, None)`` when this host already has it. The
    application keeps the same list of keys, so both sides evict the same one."""
    args = list(request["args"])
    for index, (key, value) in request.get("shared", {}).items():
        if value is not None:
            shared[key] = value
            while len(shared) > request["shared_keep"]:
                del shared[next(iter(shared))]
        args[index] = shared[key]
    request["args"] = tuple(args)


def _load_strategy(host: _Host, code: Any, rules: ModuleType | None, header: dict[str, Any]) -> Any:
    """Execute the source in a new namespace and return its entry object; a failure ends the host."""
    namespace: dict[str, Any] = {"__builtins__": _strategy_builtins(rules), "__name__": "strategy"}
    host.output.reset()
    host.arm_call(header["load_cpu_seconds"], header["load_wall_seconds"])
    host.phase = "user"
    try:
        exec(code, namespace)
        target = namespace.get(header["entry"])
        if not callable(target):
            raise NameError(f"the strategy defines no class or function named '{header['entry']}'")
    except MemoryError as exc:
        _die_of_memory(host, exc)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the strategy's errors too
        trace = host.trace_of(exc.__traceback__)
        host.die({"kind": "crashed", "message": _describe(exc), "line": trace[-1][0] if trace else None,
                  "trace": trace})  # fmt: skip
    host.phase = "host"
    host.disarm_call()
    return target


def _answer(host: _Host, target: Any, driver: Any, request: dict[str, Any]) -> None:
    """One call: the driver (ours) with the strategy's object, or the strategy's function itself."""
    host.output.reset()
    args = request["args"]
    host.arm_call(request["cpu_seconds"], request["wall_seconds"])
    host.phase = "user"
    try:
        value = driver(target, *args) if driver is not None else target(*args)
    except MemoryError as exc:
        _die_of_memory(host, exc)
    except BaseException as exc:
        host.phase = "host"
        host.disarm_call()
        trace, message = host.trace_of(exc.__traceback__), _describe(exc)
        del exc  # the strategy's frames (and what they hold) go now, not at the next call
        host.send({"kind": "crashed", "message": message, "line": trace[-1][0] if trace else None, "trace": trace})
        return
    host.phase = "host"
    host.disarm_call()
    host.send({"kind": "ok", "value": value})


def _die_of_memory(host: _Host, exc: MemoryError) -> None:
    host.reserve = None  # room to build the report
    trace = host.trace_of(exc.__traceback__)
    host.die({"kind": "memory", "line": trace[-1][0] if trace else None, "trace": trace})


def main() -> None:
    """``serve``, with any failure of the host's own code written to the stderr pipe (the parent shows it when
    the host dies without a reply) rather than to the strategy's output capture."""
    try:
        serve()
    except BaseException:
        import traceback

        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        os._exit(70)


if __name__ == "__main__":
    main()
