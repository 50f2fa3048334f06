"""The suite's guard: a call to the internet from any proxy-aware client fails at once, loopback calls do not."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request

import pytest
import requests


def test_an_internet_call_fails_fast_instead_of_leaving_the_machine() -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("https://api.ipify.org", timeout=5)
    with pytest.raises(OSError):
        urllib.request.urlopen("https://directlink.icicidirect.com/", timeout=5)
    assert time.monotonic() - started < 3


def test_a_local_stand_in_is_still_reached_directly() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = requests.get(f"http://127.0.0.1:{server.server_address[1]}/", timeout=5)
        assert response.status_code in (200, 404)
    finally:
        server.shutdown()
        server.server_close()
