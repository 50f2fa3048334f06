"""One OAuth/OIDC stand-in for the package's tests (an RSA key pair costs ~0.1 s; a server, a thread)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.accounts_admin.club import club  # noqa: F401  (the test database as a club, for join requests)
from tests.oauth.standin import StandIn


@pytest.fixture(scope="package")
def provider_standin() -> Iterator[StandIn]:
    standin = StandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def standin(provider_standin: StandIn) -> Iterator[StandIn]:
    """The stand-in with its knobs and the signed-in person back at their defaults."""
    provider_standin.reset()
    yield provider_standin
    provider_standin.reset()
