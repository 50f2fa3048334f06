"""The loopback redirect receiver of RFC 8252 section 7.3: a one-shot HTTP listener on 127.0.0.1.

The provider sends the browser back to ``http://127.0.0.1:<port>/callback?code=...&state=...``. The listener binds
the loopback address only (never 0.0.0.0: another machine must not be able to answer in the provider's place), on a
port the system picks unless one is configured, accepts exactly one request on the callback path, answers the
browser with a short page and closes. Anything else (a favicon, a probe on another path) gets a 404 and does not end
the wait. Waiting runs on the caller's thread (a worker, never the GUI's), in slices of at most 0.2 s so a cancel
from the dialog or the deadline ends it promptly.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

from core.accounts.oauth.errors import SignInCancelled, SignInTimedOut

CALLBACK_PATH = "/callback"
_POLL_S = 0.2
_PAGE = (
    b"<!doctype html><meta charset='utf-8'><title>StratForge</title>"
    b"<p style='font-family:sans-serif'>You can close this tab and return to StratForge.</p>"
)


class _OneShotServer(HTTPServer):
    # No SO_REUSEADDR (http.server sets it): on Windows it would let another process bind the same port and take
    # the redirect, code and all. A port in TIME_WAIT is simply not reused; the system's pick (port 0) never is.
    allow_reuse_address = False
    answer: dict[str, str] | None = None


class _Handler(BaseHTTPRequestHandler):
    server: _OneShotServer
    timeout = 5  # a browser's idle pre-connection must not hold the one-slot listener for ever

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.answer is not None:
            self.send_error(404)
            return
        # parse_qs keeps every repeat; a parameter given twice is refused below as malformed (first-wins would let
        # an appended parameter override nothing, but a stricter reading costs nothing).
        query = parse_qs(parts.query, keep_blank_values=True)
        self.server.answer = {k: v[0] if len(v) == 1 else "" for k, v in query.items()}
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_PAGE)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(_PAGE)

    def do_POST(self) -> None:
        self.send_error(405)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the authorization code, which must not reach a log."""


class LoopbackReceiver:
    """Bound on construction (so the redirect URI, with its port, is known before the browser opens); use as a
    context manager or call ``close``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback or ":" in host:  # IPv4 loopback only: http.server's HTTPServer is an AF_INET server
            raise ValueError(f"the redirect listener binds 127.0.0.x only, not {host!r}")
        self._server = _OneShotServer((host, port), _Handler, bind_and_activate=True)
        self._server.timeout = _POLL_S
        bound_host, bound_port = self.address
        self.redirect_uri = f"http://{bound_host}:{bound_port}{CALLBACK_PATH}"

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def wait(
        self,
        timeout_s: float,
        cancelled: threading.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> dict[str, str]:
        """The query parameters of the one redirect; SignInTimedOut after ``timeout_s``, SignInCancelled when
        ``cancelled`` is set. The listener is closed on return either way."""
        deadline = monotonic() + timeout_s
        try:
            while self._server.answer is None:
                if cancelled is not None and cancelled.is_set():
                    raise SignInCancelled("Sign-in cancelled.")
                if monotonic() >= deadline:
                    minutes = max(1, round(timeout_s / 60))
                    raise SignInTimedOut(
                        f"No answer came back from the browser within {minutes} minute(s); the sign-in was "
                        "abandoned. Try again."
                    )
                self._server.handle_request()  # returns after one request or _POLL_S
            return self._server.answer
        finally:
            self.close()

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
