"""The broker host: breeze_connect in a process of its own, spoken to in JSON lines over stdin/stdout.

Run as ``python -m core.adapters.icici.host`` by ``host_process.BreezeHost``, with the app's data folder as its
working directory (breeze_connect writes ``logs/`` there) and the environment the parent chose (in tests: an HTTPS
proxy and a CA that lead to the local stand-in). It imports the SDK (which downloads the security master at import
time), says ``ready``, then answers requests, each on a worker thread so that one call ICICI never answers (the SDK
passes no timeout to ``requests``) does not hold up the rest; the parent bounds every call with its own deadline.

Requests:  {"id": 7, "op": "call", "method": "get_order_list", "kwargs": {...}}
Answers:   {"id": 7, "ok": true, "result": <the SDK's return value>}
           {"id": 7, "ok": false, "kind": "transport" | "sdk" | "usage", "message": "..."}
Events:    {"event": "ready", "import_s": 1.2}   {"event": "order", "data": {...}}   {"event": "fatal", ...}

The SDK prints to stdout (``get_stock_script_list``); the protocol therefore keeps the original stdout to itself
and points file descriptor 1 at stderr before the SDK is imported.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from typing import Any, TextIO

# Every socket the SDK opens without a timeout (the import-time urlopen, the security master in
# generate_session) gives up after this long instead of never.
SOCKET_TIMEOUT_S = 30.0
MASTER_TIMEOUT_S = 60.0
# Calls in flight at once. Each runs on its own daemon thread: the SDK passes no timeout to requests (and urllib3
# then blocks with no limit, whatever socket.setdefaulttimeout says), so a call ICICI never answers keeps its thread
# until the host ends; a fixed pool would be used up by a few of them, while here only this cap is, and past it a
# request is refused unsent (the parent reads that as NotPlaced).
MAX_IN_FLIGHT = 32
SDK_LOGGERS = ("APILogger", "WebsocketLogger")  # the file loggers breeze_connect adds at import

# The SDK methods the parent may call: nothing else is reachable through the pipe.
ALLOWED_METHODS = frozenset(
    {
        "place_order",
        "modify_order",
        "cancel_order",
        "get_order_detail",
        "get_order_list",
        "get_trade_list",
        "get_trade_detail",
        "get_funds",
        "get_portfolio_positions",
        "get_portfolio_holdings",
        "get_customer_details",
    }
)


class Host:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._write_lock = threading.Lock()
        self._breeze: Any = None
        self._module: Any = None
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, default=str, separators=(",", ":"))
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def start(self) -> None:
        started = time.monotonic()
        from breeze_connect import breeze_connect as module  # network I/O, logs/

        self._module = module
        # breeze_connect logs every response at DEBUG into logs/apiLogs.log (the order book on every poll: some
        # megabytes of account data a day, kept forever). Errors are what a support case needs; the rest stays out.
        for name in SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        self.send({"event": "ready", "import_s": round(time.monotonic() - started, 3)})

    def serve(self, requests: TextIO) -> None:
        for line in requests:
            line = line.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                continue
            if request.get("op") == "exit":
                break
            if not self._slots.acquire(blocking=False):
                message = f"{MAX_IN_FLIGHT} calls to ICICI are still unanswered"
                self.send({"id": request.get("id"), "ok": False, "kind": "usage", "message": message})
                continue
            threading.Thread(target=self._answer, args=(request,), name="breeze-call", daemon=True).start()

    def _answer(self, request: dict[str, Any]) -> None:
        rid = request.get("id")
        try:
            result = self._dispatch(request)
        except UsageError as exc:
            self.send({"id": rid, "ok": False, "kind": "usage", "message": str(exc)})
        except Exception as exc:  # the SDK wraps every transport failure in a bare Exception
            self.send({"id": rid, "ok": False, "kind": _kind(exc), "message": _describe(exc)})
        else:
            self.send({"id": rid, "ok": True, "result": result})
        finally:
            self._slots.release()

    def _dispatch(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        if op == "login":
            return self._login(request["api_key"], request["api_secret"], request["session_token"])
        if op == "master":
            return self._master()
        if op == "subscribe_orders":
            return self._subscribe_orders()
        if op == "call":
            if self._breeze is None:
                raise UsageError("not logged in")
            method = request.get("method")
            if method not in ALLOWED_METHODS:
                raise UsageError(f"method {method!r} is not allowed")
            return getattr(self._breeze, method)(**request.get("kwargs", {}))
        raise UsageError(f"unknown op {op!r}")

    def _login(self, api_key: str, api_secret: str, session_token: str) -> dict[str, Any]:
        breeze = self._module.BreezeConnect(api_key=api_key)
        breeze.generate_session(api_secret=api_secret, session_token=session_token)
        self._breeze = breeze
        return {"user_id": breeze.user_id}

    def _master(self) -> str:
        """The security master's bytes (base64), fetched from the address the SDK itself uses."""
        from urllib.request import urlopen

        with urlopen(self._module.config.SECURITY_MASTER_URL, timeout=MASTER_TIMEOUT_S) as response:
            return base64.b64encode(response.read()).decode("ascii")

    def _subscribe_orders(self) -> Any:
        """Order notifications over the SDK's socket.io connection; each one is handed to the parent as an event."""
        if self._breeze is None:
            raise UsageError("not logged in")
        self._breeze.on_ticks = lambda data: self.send({"event": "order", "data": data})
        self._breeze.ws_connect()
        return self._breeze.subscribe_feeds(get_order_notification=True)


class UsageError(Exception):
    """A request the host refuses (unknown op, a method outside ALLOWED_METHODS, no session yet)."""


def _kind(exc: Exception) -> str:
    """``transport`` when the request may not have reached ICICI or its answer was lost; ``sdk`` otherwise."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    import requests

    for error in chain:
        if isinstance(error, (requests.RequestException, OSError, TimeoutError, ValueError)):
            return "transport"  # ValueError: an answer that was not JSON (a proxy's or a gateway's error page)
    return "sdk"


def _describe(exc: Exception) -> str:
    """The exception's class and first line: enough for a log, never a secret (the SDK's messages hold none)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:300]}"


def main() -> int:
    socket.setdefaulttimeout(SOCKET_TIMEOUT_S)
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever the SDK prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    host = Host(protocol_out)
    try:
        host.start()
    except BaseException as exc:
        host.send({"event": "fatal", "message": _describe(exc) if isinstance(exc, Exception) else type(exc).__name__})
        traceback.print_exc()
        return 1
    host.serve(sys.stdin)
    # Leave at once: a worker still waiting on a call ICICI never answered (the SDK sets no timeout) and the SDK's
    # socket.io threads would otherwise hold the interpreter's exit until the parent kills it.
    protocol_out.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
