"""``GeminiStandIn``: a local HTTP server that the real google-genai client talks to, scripted per test.

It speaks the Gemini API's wire format for ``generateContent`` as google-genai sends and expects it:

* request: ``POST /v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key`` and a JSON body
  of ``contents`` (role + parts), ``systemInstruction`` and ``generationConfig`` (``responseMimeType``,
  ``responseJsonSchema``, ``temperature``);
* success: ``{"candidates": [{"content": {"role": "model", "parts": [{"text": ...}]}, "finishReason": "STOP"}],
  "usageMetadata": {...}, "modelVersion": ..., "responseId": ...}``;
* errors: ``{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED", "details": [...]}}``, a
  wrong key answered as Gemini does (400 INVALID_ARGUMENT, reason API_KEY_INVALID), an unknown model 404.

Each request takes the next scripted :class:`Reply` (``queue``); with none left it answers 500 so a test that
asks more often than it scripted fails loudly. Every request is recorded (``requests``) for assertions. A
reply may be delayed (``delay_s``) to provoke client timeouts; ``stop()`` ends such a delay at once, so a test
never waits for a sleeping handler.

    with GeminiStandIn() as gemini:
        gemini.queue(strategy_reply(code=CODE))
        client = genai.Client(api_key=gemini.key, http_options=types.HttpOptions(base_url=gemini.base_url))
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

STANDIN_KEY = "AIzaStandIn-0123456789abcdefghijklmnop"  # 39 characters, like a real key
_PATH = re.compile(r"^/(?P<version>v1beta|v1)/models/(?P<model>[^/:]+):generateContent$")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status, a JSON body (or raw bytes), extra headers, a delay before answering."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """What the client sent: the path, the headers (names lower-cased) and the parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        match = _PATH.match(self.path)
        return match.group("model") if match else None

    @property
    def system_text(self) -> str:
        parts = (self.body.get("systemInstruction") or {}).get("parts") or []
        return "".join(p.get("text", "") for p in parts)

    @property
    def turns(self) -> list[tuple[str, str]]:
        """(role, text) of every message of ``contents``, in order."""
        return [
            (c.get("role", ""), "".join(p.get("text", "") for p in c.get("parts", [])))
            for c in self.body.get("contents", [])
        ]

    @property
    def generation_config(self) -> dict[str, Any]:
        return self.body.get("generationConfig") or {}


# ---- reply builders --------------------------------------------------------------------------------------------


def text_reply(text: str, *, finish_reason: str = "STOP", delay_s: float = 0.0) -> Reply:
    """A successful generateContent answer whose only part is ``text``."""
    return Reply(200, _candidates(text, finish_reason), delay_s=delay_s)


def json_reply(answer: dict[str, Any], **kwargs: Any) -> Reply:
    """A structured-output answer: ``answer`` serialised as the part's text, as Gemini sends it."""
    return text_reply(json.dumps(answer), **kwargs)


def strategy_answer(
    code: str,
    *,
    class_name: str = "",
    explanation: str = "Buys when the signal says so and sells when it fades.",
    parameters: list[dict[str, Any]] | None = None,
    symbols: list[str] | None = None,
    timeframe: str = "1Min",
    family: str = "trend",
) -> dict[str, Any]:
    """The JSON object a generate/modify answer carries (the schema's fields)."""
    return {
        "class_name": class_name,
        "code": code,
        "explanation": explanation,
        "parameters": parameters or [],
        "symbols": symbols or [],
        "timeframe": timeframe,
        "family": family,
    }


def strategy_reply(code: str, **kwargs: Any) -> Reply:
    return json_reply(strategy_answer(code, **kwargs))


def error_reply(
    code: int,
    status: str,
    message: str,
    *,
    retry_after: str | None = None,
    retry_delay: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> Reply:
    """An error answer in Google's format; ``retry_after`` sets the header, ``retry_delay`` a RetryInfo detail."""
    listed = list(details or [])
    if retry_delay is not None:
        listed.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if listed:
        error["details"] = listed
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Reply(code, {"error": error}, headers)


def rate_limited(*, retry_after: str | None = None, retry_delay: str | None = None) -> Reply:
    return error_reply(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        retry_after=retry_after,
        retry_delay=retry_delay,
    )


def blocked_reply(reason: str = "SAFETY") -> Reply:
    """No candidates at all: the prompt was blocked."""
    return Reply(200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 12}})


def _candidates(text: str, finish_reason: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish_reason, "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 1200, "candidatesTokenCount": 300, "totalTokenCount": 1500},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "standin-response",
    }


# ---- the server ----------------------------------------------------------------------------------------------


class GeminiStandIn:
    """Start with ``start()``/``with``. ``queue(...)`` scripts replies; ``requests`` records what arrived.

    ``models`` are the model names it knows (others get 404); ``key`` the only key it accepts."""

    def __init__(self, key: str = STANDIN_KEY, models: tuple[str, ...] = ("gemini-2.5-flash",)) -> None:
        self.key = key
        self.models = models
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._http.daemon_threads = True
        self._http.block_on_close = False  # a handler still "thinking" must not hold up stop()
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="gemini-standin", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    # ---- lifecycle ----

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- handling ----

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            match = _PATH.match(request.path)
            if request.method != "POST" or match is None:
                return error_reply(404, "NOT_FOUND", f"no route for {request.method} {request.path}")
            if request.headers.get("x-goog-api-key") != self.key:
                return error_reply(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
                )
            if match.group("model") not in self.models:
                return error_reply(
                    404,
                    "NOT_FOUND",
                    f"models/{match.group('model')} is not found for API version {match.group('version')}",
                )
            if not self._replies:
                return error_reply(500, "INTERNAL", "the stand-in has no scripted reply left for this request")
            return self._replies.popleft()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._handle("POST")

            def do_GET(self) -> None:
                self._handle("GET")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except json.JSONDecodeError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = standin._next_reply(RecordedRequest(method, self.path, headers, body))
                if reply.delay_s and standin._stopping.wait(reply.delay_s):
                    return  # stopping: drop the connection instead of answering
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body or {}).encode()
                with contextlib.suppress(OSError):  # the client may have timed out and gone
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
