"""Running attacker code in confined processes: a template child that imports like a strategy host, then
forks one worker per group of techniques; each worker confines itself and runs its techniques in turn.

The template is ``sys.executable -I -c <script>``: it imports numpy, pandas and pyarrow (once: that is most
of a child's start-up time), then forks the workers all at once and collects what each printed and how it
ended. Each worker calls ``confine_current_process(read_roots)`` and runs its techniques, each reporting one
JSON line: ``blocked`` (with the OSError), ``succeeded`` (with the value) or ``error``. Nothing of the
sandbox's Python layers is present: the confinement package is imported without running the
``core.strategy.sandbox`` package's ``__init__`` (stub parent packages), so only the kernel can refuse.

The template is the workers' parent, and its environment holds a secret (removed from ``os.environ`` before
forking, so the workers do not simply inherit it): the one ``/proc/<parent>/environ`` attacks look for.
Strategy hosts are forked from a template in the application too.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
WORKER_ALARM_S = 30  # a worker that hangs dies of SIGALRM
TEMPLATE_TIMEOUT_S = 90.0
SIGSYS = 31
SECRET_VARIABLE = "STRATFORGE_TEST_SECRET"
# Like the strategy host: single-threaded imports (Landlock ABI < 8 confines only the calling thread).
CHILD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}

# (name, body, after): a technique's code, and an expression whose value is reported after the attempt.
Source = tuple[str, str, str]


def read_roots() -> list[str]:
    """What the strategy host may read (as core/strategy/sandbox/runner.py's ``_read_roots``): the Python
    installation, site-packages, the packages' folders, the time-zone database."""
    import importlib.util

    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(site.getsitepackages())
    for module in ("numpy", "pandas", "pyarrow", "zoneinfo", "tzdata", "dateutil", "pytz"):
        spec = importlib.util.find_spec(module)
        if spec is not None:
            roots.update(spec.submodule_search_locations or ())
    roots.update(p for p in (sysconfig.get_config_var("TZPATH") or "").split(os.pathsep) if p)
    return sorted({os.path.realpath(r) for r in roots if os.path.isabs(r) and os.path.exists(r)})


TEMPLATE = textwrap.dedent(
    """
    import sys, types
    for _name, _path in {stubs!r}:
        _module = types.ModuleType(_name)
        _module.__path__ = [_path]
        sys.modules[_name] = _module
    import ctypes, errno, fcntl, faulthandler, json, os, resource, selectors, signal, socket, subprocess
    import termios, threading, time, traceback, zoneinfo
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.fs
    import seccompy
    from core.strategy.sandbox.confinement import confine_current_process
    from core.strategy.sandbox.confinement.libc import prctl

    PLAN = json.loads(sys.argv[1])
    ENV = PLAN["env"]
    os.environ.pop({secret!r}, None)
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long

    def nr(name):
        return seccompy.syscall_nr(name)

    def raw(number, *args):
        '''syscall(2) with 64-bit arguments; OSError with the errno on failure.'''
        args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
        result = _libc.syscall(ctypes.c_long(number), *args)
        if result == -1:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return result

    def emit(record):
        sys.stdout.write("RESULT " + json.dumps(record) + "\\n")
        sys.stdout.flush()

    def attempt(name, technique, after):
        sys.stdout.write(f"ATTEMPT {{name}}\\n")
        sys.stdout.flush()
        try:
            value = technique()
            record = {{"name": name, "outcome": "succeeded", "detail": repr(value)[:300]}}
        except OSError as exc:
            record = {{"name": name, "outcome": "blocked", "errno": exc.errno,
                       "detail": f"{{type(exc).__name__}}: {{exc}}"[:300]}}
        except BaseException:
            record = {{"name": name, "outcome": "error", "detail": traceback.format_exc()[-600:]}}
        try:
            record["after"] = repr(after()) if after else None
        except BaseException as exc:
            record["after"] = f"unavailable: {{exc!r}}"
        emit(record)

    def worker(group):
        signal.alarm({alarm})
        resource.setrlimit(resource.RLIMIT_CPU, (60, 61))  # like the host: a CPU limit set before confinement
        if PLAN["confine"]:
            report = confine_current_process(ENV["read_roots"], keep_fds=group["keep_fds"])
            emit({{"name": "__confined__", "outcome": "succeeded", "detail": report.level.value}})
        exec(compile(group["code"], "<techniques>", "exec"), globals())

    sys.stdout.flush()
    sys.stderr.flush()
    _streams = {{}}
    for _key, _group in PLAN["groups"].items():
        _out, _err = os.pipe(), os.pipe()
        _pid = os.fork()
        if _pid == 0:
            os.dup2(_out[1], 1)
            os.dup2(_err[1], 2)
            for _fd in (*_out, *_err):
                os.close(_fd)
            try:
                worker(_group)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        os.close(_out[1])
        os.close(_err[1])
        _streams[_key] = (_pid, _out[0], _err[0])
    for _fd in PLAN["close_after_fork"]:
        os.close(_fd)
    _chunks = {{fd: [] for _, out, err in _streams.values() for fd in (out, err)}}
    _selector = selectors.DefaultSelector()
    for _fd in _chunks:
        _selector.register(_fd, selectors.EVENT_READ)
    while _selector.get_map():
        for _key, _ in _selector.select():
            _data = os.read(_key.fd, 65536)
            if _data:
                _chunks[_key.fd].append(_data)
            else:
                _selector.unregister(_key.fd)
                os.close(_key.fd)
    _results = {{}}
    for _key, (_pid, _out, _err) in _streams.items():
        _, _status = os.waitpid(_pid, 0)
        _results[_key] = {{"rc": os.waitstatus_to_exitcode(_status),
                          "out": b"".join(_chunks[_out]).decode(errors="replace"),
                          "err": b"".join(_chunks[_err]).decode(errors="replace")}}
    sys.stdout.write(json.dumps(_results))
    """
)


@dataclass
class WorkerRun:
    """What one worker reported: its exit code (negative: killed by that signal), its per-technique records
    by name, the techniques it started (ATTEMPT lines), and its output for failure messages."""

    rc: int | str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempted: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def describe(self) -> str:
        return f"rc={self.rc}\nstdout (tail): {self.stdout[-1500:]}\nstderr (tail): {self.stderr[-2500:]}"


def group_code(techniques: Sequence[Source]) -> str:
    """One worker's code: each technique as a function, attempted in turn."""
    parts = []
    for index, (name, body, after) in enumerate(techniques):
        function = f"_technique_{index}"
        parts.append(f"def {function}():\n" + textwrap.indent(textwrap.dedent(body).strip() or "pass", "    "))
        after_function = "None"
        if after:
            after_function = f"lambda: {after}"
        parts.append(f"attempt({name!r}, {function}, {after_function})")
    return "\n".join(parts) + "\n"


def _parse(rc: int | str, out: str, err: str) -> WorkerRun:
    run = WorkerRun(rc=rc, stdout=out, stderr=err)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT ") :])
            run.records[record["name"]] = record
        elif line.startswith("ATTEMPT "):
            run.attempted.append(line[len("ATTEMPT ") :])
    return run


def start_template(
    groups: dict[str, Sequence[Source]],
    env_data: dict[str, Any],
    *,
    confine: bool,
    secret: str,
    pass_fds: Sequence[int] = (),
    keep_fds: dict[str, list[int]] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a template that forks one worker per group; :func:`finish_template` collects them. Started
    separately so that several templates run at once."""
    stubs = [
        ("core", str(REPO / "core")),
        ("core.strategy", str(REPO / "core" / "strategy")),
        ("core.strategy.sandbox", str(REPO / "core" / "strategy" / "sandbox")),
    ]
    plan = {
        "env": env_data,
        "confine": confine,
        "groups": {
            key: {"code": group_code(items), "keep_fds": (keep_fds or {}).get(key, [])} for key, items in groups.items()
        },
        "close_after_fork": list(pass_fds),
    }
    script = TEMPLATE.format(stubs=stubs, secret=SECRET_VARIABLE, alarm=WORKER_ALARM_S)
    return subprocess.Popen(
        [sys.executable, "-I", "-c", script, json.dumps(plan)],
        env={**CHILD_ENV, SECRET_VARIABLE: secret},
        pass_fds=tuple(pass_fds),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish_template(proc: subprocess.Popen[bytes]) -> dict[str, WorkerRun]:
    """Wait for a template (killing it after TEMPLATE_TIMEOUT_S) and parse its workers' reports."""
    try:
        out, err = proc.communicate(timeout=TEMPLATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    try:
        results = json.loads(out)
    except json.JSONDecodeError:
        failure = WorkerRun(rc=f"template failed ({proc.returncode})", stderr=err.decode(errors="replace"))
        return {"__template__": failure}
    return {key: _parse(r["rc"], r["out"], r["err"]) for key, r in results.items()}
