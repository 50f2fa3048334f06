"""One Breeze stand-in and one broker host per test module (a host costs about a second: the SDK's import)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.adapters.icici.broker import IciciBroker
from core.adapters.icici.link import IciciLink
from core.broker.links import Endpoints
from tests.adapters.icici.standin import BreezeStandIn, BreezeState

POLL_INTERVAL_S = 0.1
CALL_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def breeze(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BreezeStandIn]:
    # Polling ten times a second spends Breeze's 100 calls a minute in ten seconds: the limit's own test sets it.
    with BreezeStandIn(tmp_path_factory.mktemp("breeze"), BreezeState(rate_limit_per_minute=100_000)) as standin:
        yield standin


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("icici-data")


@pytest.fixture(scope="module")
def link(breeze: BreezeStandIn, work_dir: Path) -> IciciLink:
    return IciciLink(
        work_dir=work_dir,
        env=breeze.host_env(),
        poll_interval_s=POLL_INTERVAL_S,
        notified_poll_interval_s=POLL_INTERVAL_S,
        call_timeout_s=CALL_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def credentials(breeze: BreezeStandIn) -> dict[str, str]:
    return {"api_key": breeze.state.api_key, "api_secret": breeze.state.api_secret}


@pytest.fixture(scope="module")
def broker(breeze: BreezeStandIn, link: IciciLink, credentials: dict[str, str]) -> Iterator[IciciBroker]:
    session = {"session_token": breeze.issue_api_session()}
    opened = link.open_broker(credentials, session, Endpoints())
    try:
        yield opened
    finally:
        opened.close()
