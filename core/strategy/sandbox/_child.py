"""The sandbox's child process: runs one strategy call and reports back. Not imported by the application.

:mod:`core.strategy.sandbox.runner` starts ``python -I -B <this file>`` with a stripped environment,
sends a header and the pickled arguments on stdin, and reads one pickled reply from stdout. This file
uses the standard library only until the header says where the application's code lives.

Order of events, and why:

1. Keep the real stdout for the reply and point file descriptor 1 at stderr, so nothing the strategy
   (or a C library) prints can corrupt the reply.
2. Import the modules the strategy uses and unpickle the arguments *before* any limit applies: start-up
   cost is not the strategy's, and unpickling may need imports that are forbidden later.
3. Arm the limits: CPU (RLIMIT_CPU; SIGXCPU at the soft limit is caught to report the line, SIGKILL at
   the hard limit one second later is the backstop), memory (RLIMIT_AS on top of what is mapped now),
   no file growth (RLIMIT_FSIZE 0), no core dumps, and a wall-clock watchdog (faulthandler's C thread,
   which dumps the stack and exits even when the strategy is stuck inside a C call).
4. Install an audit hook (PEP 578) that refuses, from then on, every event not on its short list:
   opening files other than the Python installation's (read-only, for lazy imports and time-zone
   data), sockets, processes, ctypes, unpickling, compiling text (except dataclasses' and
   namedtuple's generated code and modules compiling their own text while being imported). This
   catches escape hatches the source check did not know about.
5. Execute the source with restricted built-ins and an import function that applies the same rules as
   the validator, call the entry function, send the reply, and leave with ``os._exit`` (no interpreter
   teardown, so no strategy code runs after the reply).

Replies are dicts of plain values; the parent unpickles them with an allow-list (see ``reply.py``).
"""

from __future__ import annotations

import builtins
import contextlib
import faulthandler
import importlib
import importlib.util
import math
import os
import pickle
import signal
import sys
import time
from types import FrameType, ModuleType, TracebackType
from typing import Any

try:
    import resource
except ImportError:  # not POSIX: the parent's wall clock is the only limit
    resource = None  # type: ignore[assignment]

_MEMORY_RESERVE_BYTES = 4 << 20  # freed first on MemoryError so the report itself can be built
_MESSAGE_CHARS = 2_000
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


class _Capture:
    """Stands in for sys.stdout/sys.stderr: keeps the first ``limit`` characters of what is printed."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.room = limit
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


class _Child:
    def __init__(self, reply_fd: int, header: dict[str, Any]) -> None:
        self.reply_fd = reply_fd
        self.filename: str = header["filename"]
        self.phase = "setup"  # "user" while strategy code may run; "reporting" once the reply is being sent
        self.output = _Capture(header["output_chars"])
        self.cpu_at_start = 0.0
        self.reserve: bytearray | None = None

    # ---- replies ----

    def send(self, reply: dict[str, Any]) -> None:
        reply.setdefault("output", self.output.text())
        reply.setdefault("cpu_seconds", _cpu_seconds() - self.cpu_at_start)
        data = memoryview(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        while data:
            data = data[os.write(self.reply_fd, data) :]

    def finish(self, reply: dict[str, Any]) -> None:
        self.phase = "reporting"
        try:
            if reply["kind"] == "ok":  # pickled on its own, so the parent can refuse it and still read the rest
                reply["value"] = pickle.dumps(reply["value"], protocol=pickle.HIGHEST_PROTOCOL)
            self.send(reply)
        except MemoryError:
            self.reserve = None
            self.send({"kind": "memory", "line": reply.get("line"), "output": ""})
        except Exception as exc:  # the value cannot be pickled (a strategy-defined class, a generator...)
            message = _describe(exc)
            message = f"the strategy's result cannot be sent back to the application ({message})"
            self.send({"kind": "crashed", "message": message, "line": None})
        os._exit(0)

    # ---- where in the strategy ----

    def line_of_frame(self, frame: FrameType | None) -> int | None:
        """The line the strategy was running: the innermost frame that belongs to the strategy's source."""
        while frame is not None:
            if frame.f_code.co_filename == self.filename:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def trace_of(self, tb: TracebackType | None) -> list[tuple[int, str]]:
        """(line, function) of each strategy frame in a traceback, outermost first."""
        trace = []
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                trace.append((tb.tb_lineno, tb.tb_frame.f_code.co_name))
            tb = tb.tb_next
        return trace

    # ---- limits ----

    def on_cpu_limit(self, signum: int, frame: FrameType | None) -> None:
        """SIGXCPU at the soft CPU limit: report where the strategy was, then leave at once."""
        if self.phase != "user":
            return  # the reply is already on its way; the hard limit remains the backstop
        self.finish({"kind": "cpu", "line": self.line_of_frame(frame)})

    def arm_limits(self, cpu_seconds: float, memory_mb: int, deadline: float) -> None:
        stderr = sys.__stderr__
        assert stderr is not None  # the runner always starts the child with a stderr pipe
        faulthandler.enable(file=stderr, all_threads=True)  # a crash in C code still names the line
        faulthandler.dump_traceback_later(max(deadline - time.monotonic(), 0.05), exit=True, file=stderr)
        if resource is None:
            return
        signal.signal(signal.SIGXCPU, self.on_cpu_limit)
        # Dumps the stack from C (works while a long C call holds the interpreter), then chains to the
        # Python handler above, which runs as soon as the interpreter gets control back.
        faulthandler.register(signal.SIGXCPU, file=stderr, all_threads=True, chain=True)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing a file fails with EFBIG instead of killing
        used = _cpu_seconds()
        soft = max(1, math.ceil(used + cpu_seconds))
        _set_limit(resource.RLIMIT_CPU, soft, soft + 1)
        mapped = _mapped_bytes()
        if mapped is not None:
            limit = mapped + memory_mb * 1024 * 1024
            _set_limit(resource.RLIMIT_AS, limit, limit)
        _set_limit(resource.RLIMIT_FSIZE, 0, 0)
        _set_limit(resource.RLIMIT_CORE, 0, 0)


# ---- the audit hook ----


def _audit_hook(filename: str, read_roots: tuple[str, ...]) -> Any:
    """The hook installed right before strategy code runs, for the rest of the process's life.

    Built as a closure and handed straight to ``sys.addaudithook``: nothing the strategy can reach
    holds a reference to it or a switch to turn it off (listing objects through ``gc`` is refused).
    ``busy`` lets the hook's own ``sys._getframe`` calls through; no strategy code runs meanwhile."""
    busy = False

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
            return "unpickle data"
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

    return audit


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
    """Whether text being compiled is library code's own, not the strategy's.

    Two cases: the generated methods of dataclasses and namedtuple (the caller is that module; field
    names are checked identifiers), and any compile during an import (modules run their own constant
    strings through ``ast`` or ``typing`` at import time, e.g. ``np.ma`` loading lazily). Everything
    else (``eval`` reached through a library, pandas' ``eval``/``query``, ``typing.get_type_hints``
    on text) is refused. ``frame`` is the frame that called compile/exec/eval."""
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
    """The process's virtual size now (Linux); the memory limit is this plus the strategy's allowance."""
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
    """The shared rules module, loaded by path so that the application's packages are not imported."""
    spec = importlib.util.spec_from_file_location("_stratforge_sandbox_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_driver(spec: str | None) -> Any:
    """The application function that runs the strategy's object (the parent checked it is a trusted one).

    Imported now, before the limits, like any start-up cost; a module-level ``before_limits()`` gets the
    chance to warm caches (compiled code) that it could not read once the audit hook is on."""
    if not spec:
        return None
    module_name, _, function_name = spec.partition(":")
    module = importlib.import_module(module_name)
    warm = getattr(module, "before_limits", None)
    if callable(warm):
        warm()
    return getattr(module, function_name)


def _guarded_import_for(rules: ModuleType) -> Any:
    real_import = builtins.__import__

    def _guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> ModuleType:
        """The strategy's ``import``: the validator's rules, applied again at run time.

        C code importing lazily while a strategy frame is current (numpy's ``x.sum()`` loading
        ``numpy._core._methods``) also lands here, because the C API looks ``__import__`` up in the
        current frame's built-ins. It passes ``fromlist`` as a list, which an import statement never does
        (``import x`` passes None, ``from x import y`` a tuple), so those imports pass; the audit hook
        still judges whatever the imported code then does."""
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


def _strategy_builtins(rules: ModuleType) -> dict[str, Any]:
    """The real built-ins minus the forbidden ones and every special name except class creation."""
    safe = {
        name: value
        for name, value in vars(builtins).items()
        if name not in rules.FORBIDDEN_BUILTINS and (not name.startswith("__") or name == "__build_class__")
    }
    safe["__import__"] = _guarded_import_for(rules)
    return safe


def main() -> None:
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    header = pickle.load(stdin)
    child = _Child(reply_fd, header)
    try:
        sys.path[:] = header["sys_path"]
        rules = _load_rules(header["rules_path"])
        for module in header["preload"]:
            with contextlib.suppress(ImportError):  # the strategy's own import reports it, with its line
                __import__(module)
        driver = _load_driver(header.get("driver"))
        args = pickle.load(stdin)
        code = compile(header["source"], child.filename, "exec", dont_inherit=True)
        namespace: dict[str, Any] = {"__builtins__": _strategy_builtins(rules), "__name__": "strategy"}
    except Exception as exc:
        child.finish({"kind": "internal", "message": _describe(exc)})
    sys.stdin = None
    sys.stdout = sys.stderr = child.output
    child.arm_limits(header["cpu_seconds"], header["memory_mb"], header["deadline"])
    child.reserve = bytearray(_MEMORY_RESERVE_BYTES)
    child.cpu_at_start = _cpu_seconds()
    entry = header["entry"]
    sys.addaudithook(_audit_hook(child.filename, tuple(header["read_roots"])))
    child.phase = "user"
    try:
        exec(code, namespace)
        target = namespace.get(entry)
        if not callable(target):
            raise NameError(f"the strategy defines no {'class or function' if driver else 'function'} named '{entry}'")
        value = driver(target, *args) if driver is not None else target(*args)
    except MemoryError as exc:
        child.reserve = None  # room to build the report
        trace = child.trace_of(exc.__traceback__)
        del exc
        namespace.clear()  # drop the strategy's data (and what its frames held)
        child.finish({"kind": "memory", "line": trace[-1][0] if trace else None, "trace": trace})
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the strategy's errors too
        trace = child.trace_of(exc.__traceback__)
        line = trace[-1][0] if trace else None
        child.finish({"kind": "crashed", "message": _describe(exc), "line": line, "trace": trace})
    child.phase = "reporting"
    faulthandler.cancel_dump_traceback_later()
    child.finish({"kind": "ok", "value": value})


if __name__ == "__main__":
    main()
