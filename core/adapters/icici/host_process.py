"""The parent's side of the broker host: start the child, send it requests, wait for answers with a deadline.

One ``BreezeHost`` per ICICI Direct session. Requests are JSON lines on the child's stdin; a reader thread matches
answers to waiting callers by id and hands events (``order`` notifications) to a callback. A call that misses its
deadline raises BrokerUnavailable (the request may have reached ICICI); a child that died raises BrokerUnavailable
for every call in flight and every call after it, until the owner starts a new host.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.broker.errors import BrokerUnavailable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0  # the SDK's import downloads the whole security master (several MB) before anything else


@dataclass(frozen=True)
class HostConfig:
    """How to start the host: its working folder (where breeze_connect writes ``logs/``), the environment entries
    to add or replace (tests route HTTPS through the stand-in's proxy and trust its CA), and the command.

    ``command``: see ``default_command``.
    """

    work_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] = field(default_factory=lambda: default_command())
    start_timeout_s: float = START_TIMEOUT_S
    call_timeout_s: float = 10.0


FROZEN_COMMAND = "icici-broker-host"


def default_command() -> list[str]:
    """This interpreter running the host module; in a frozen build (PyInstaller), which has no ``-m``, the app's
    own executable with the ``icici-broker-host`` command, which its command line hands to ``host.main``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, FROZEN_COMMAND]
    return [sys.executable, "-m", "core.adapters.icici.host"]


class HostError(Exception):
    """The host answered that the request failed; ``kind`` is ``transport`` (outcome unknown), ``sdk`` or ``usage``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class BreezeHost:
    """A running broker host. Thread-safe; ``close()`` ends the child."""

    def __init__(self, config: HostConfig, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._ready = threading.Event()
        self._dead = threading.Event()
        self._fatal: str | None = None
        self.start_s: float | None = None  # spawn to "ready", measured
        self.import_s: float | None = None  # the SDK's import alone, as the child measured it
        config.work_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(config.env)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_project_root(), env.get("PYTHONPATH"))))
        started = time.monotonic()
        self._process = subprocess.Popen(
            list(config.command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=config.work_dir,
            env=env,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._stderr_tail: list[str] = []
        self._reader = threading.Thread(target=self._read, name="breeze-host-reader", daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain_stderr, name="breeze-host-stderr", daemon=True).start()
        if not self._ready.wait(config.start_timeout_s) or self._fatal is not None:
            reason = self._fatal or f"it did not start within {config.start_timeout_s:g} s"
            self.close()
            log.warning("ICICI broker host failed to start: %s; its last output: %s", reason, self._stderr_tail[-5:])
            raise BrokerUnavailable(
                "ICICI Direct could not be reached to start the connection; check the network and try again."
            )
        self.start_s = time.monotonic() - started

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return not self._dead.is_set() and self._process.poll() is None

    def request(self, op: str, timeout_s: float | None = None, **fields: Any) -> Any:
        """Send one request and wait for its answer; HostError when the host reports a failure."""
        if not self.alive:
            raise BrokerUnavailable("ICICI Direct's connection has stopped; reconnect the broker account.")
        rid = next(self._ids)
        done = threading.Event()
        slot: dict[str, Any] = {}
        with self._lock:
            self._waiting[rid] = (done, slot)
        line = json.dumps({"id": rid, "op": op, **fields}, separators=(",", ":"))
        try:
            assert self._process.stdin is not None
            with self._lock:
                self._process.stdin.write(line + "\n")
                self._process.stdin.flush()
        except (OSError, ValueError):
            with self._lock:
                self._waiting.pop(rid, None)
            raise BrokerUnavailable("ICICI Direct's connection has stopped; reconnect the broker account.") from None
        timeout = self.config.call_timeout_s if timeout_s is None else timeout_s
        if not done.wait(timeout):
            with self._lock:
                self._waiting.pop(rid, None)
            raise BrokerUnavailable(f"ICICI Direct did not answer within {timeout:g} s; the outcome is unknown.")
        if slot.get("dead"):
            raise BrokerUnavailable("ICICI Direct's connection stopped during the request; the outcome is unknown.")
        if not slot.get("ok"):
            raise HostError(str(slot.get("kind", "sdk")), str(slot.get("message", "")))
        return slot.get("result")

    def call(self, method: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """One SDK method, by name, with keyword arguments."""
        return self.request("call", timeout_s=timeout_s, method=method, kwargs=kwargs)

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                self._process.stdin.write('{"op":"exit"}\n')
                self._process.stdin.flush()
            except (OSError, ValueError):
                pass
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()  # a call ICICI never answers keeps a worker thread alive
                self._process.wait(timeout=5)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._dead.set()

    def _read(self) -> None:
        assert self._process.stdout is not None
        try:
            for line in self._process.stdout:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "event" in message:
                    self._handle_event(message)
                    continue
                with self._lock:
                    waiter = self._waiting.pop(message.get("id"), None)
                if waiter is not None:
                    waiter[1].update(message)
                    waiter[0].set()
        except (OSError, ValueError):
            pass
        finally:
            self._dead.set()
            self._ready.set()
            if self._fatal is None and self.start_s is None:
                self._fatal = "it stopped while starting"
            with self._lock:
                waiting, self._waiting = self._waiting, {}
            for done, slot in waiting.values():
                slot["dead"] = True
                done.set()

    def _handle_event(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "ready":
            self.import_s = message.get("import_s")
            self._ready.set()
        elif event == "fatal":
            self._fatal = str(message.get("message", "it failed to start"))
            self._ready.set()
        elif self._on_event is not None:
            try:
                self._on_event(message)
            except Exception:
                log.exception("ICICI host event handler failed")

    def _drain_stderr(self) -> None:
        """Keep the child's stderr pipe from filling; its last lines help diagnose a failed start."""
        assert self._process.stderr is not None
        try:
            for line in self._process.stderr:
                self._stderr_tail = [*self._stderr_tail, line.rstrip()][-20:]
        except (OSError, ValueError):
            pass

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)


def _project_root() -> str:
    """The folder holding the ``core`` package, so ``-m core.adapters.icici.host`` resolves from any cwd."""
    return str(Path(__file__).resolve().parents[3])
