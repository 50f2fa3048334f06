"""A fake system browser: follows the authorization URL to the stand-in and its redirect to the loopback listener,
on a thread of its own (a real browser runs beside the app), optionally tampering with either leg like an attacker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

Rewrite = Callable[[str], str]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


class FakeBrowser:
    """``open_browser`` for the flow. ``authorize`` rewrites the URL sent to the provider, ``redirect`` the
    provider's redirect before it reaches the loopback; ``silent`` never answers (a closed tab)."""

    def __init__(self, *, authorize: Rewrite | None = None, redirect: Rewrite | None = None, silent: bool = False):
        self.authorize = authorize
        self.redirect = redirect
        self.silent = silent
        self.opened: list[str] = []
        self.redirects: list[str] = []
        self.loopback_status: list[int] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        if not self.silent:
            thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return True

    def _visit(self, url: str) -> None:
        try:
            if self.authorize:
                url = self.authorize(url)
            answer = requests.get(url, allow_redirects=False, timeout=5)
            location = answer.headers.get("Location")
            if answer.status_code != 302 or not location:
                self.loopback_status.append(-answer.status_code)  # an error page at the provider: no redirect
                return
            self.redirects.append(location)
            if self.redirect:
                location = self.redirect(location)
            self.loopback_status.append(requests.get(location, timeout=5).status_code)
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
