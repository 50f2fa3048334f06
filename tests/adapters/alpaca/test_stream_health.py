"""A market-data stream Alpaca keeps refusing says so, once per change, and retries slowly: the real alpaca-py
StockDataStream against the stand-in, which refuses a second connection on the account with 406 and wrong keys
with 402."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.adapters.alpaca.stream_health import Severity, StreamHealth, StreamStatus
from core.market.live import LiveBars
from tests.adapters.alpaca.test_bar_feed import LoopThread, wait_until
from tests.alpaca_standin import AlpacaStandIn


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    running = LoopThread()
    yield running
    running.close()


class Reports:
    def __init__(self) -> None:
        self.seen: list[StreamStatus] = []
        self._lock = threading.Lock()

    def __call__(self, status: StreamStatus) -> None:
        with self._lock:
            self.seen.append(status)

    def severities(self) -> list[Severity]:
        with self._lock:
            return [s.severity for s in self.seen]


def feed(alpaca: AlpacaStandIn, reports: Reports, key: str | None = None, secret: str | None = None) -> AlpacaBarFeed:
    return AlpacaBarFeed(
        key or alpaca.key_id, secret or alpaca.secret_key, LiveBars(None), url_override=alpaca.data_stream_url,
        on_status=reports, slow_retry_s=0.2,
    )  # fmt: skip


def test_a_406_is_reported_once_while_it_lasts_and_its_end_when_the_other_connection_goes(
    alpaca: AlpacaStandIn, loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.adapters.alpaca.stream_health")
    holder_reports, reports = Reports(), Reports()
    holder, second = feed(alpaca, holder_reports), feed(alpaca, reports)
    holder_run = loop_thread.start(holder.run())
    loop_thread.run(holder.subscribe(["AAPL"]))
    assert alpaca.wait_for_bar_subscribers("AAPL")

    second_run = loop_thread.start(second.run())
    loop_thread.run(second.subscribe(["MSFT"]))
    assert wait_until(lambda: alpaca.data_connection_refusals >= 4, timeout=15)  # retried, at the slow pace
    assert reports.severities() == [Severity.WARNING]
    assert second.status.message == (
        "Market data: another connection is using the club's Alpaca account (406); retrying every 0.2 s"
    )

    loop_thread.run(holder.stop())
    holder_run.result(10)
    assert alpaca.wait_for_bar_subscribers("MSFT", timeout=15)
    assert wait_until(lambda: reports.severities() == [Severity.WARNING, Severity.OK])
    assert second.status.ok and holder_reports.seen == []  # the holder never had trouble: nothing said
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("stream_health")]
    assert logged == [s.message for s in reports.seen]  # one line per change, none per retry
    loop_thread.run(second.stop())
    second_run.result(10)


def test_wrong_keys_are_reported_after_three_refusals_in_a_row(alpaca: AlpacaStandIn, loop_thread: LoopThread) -> None:
    reports = Reports()
    refused = feed(alpaca, reports, key="wrong-key", secret="wrong-secret")
    running = loop_thread.start(refused.run())
    loop_thread.run(refused.subscribe(["AAPL"]))
    assert wait_until(lambda: refused.health.auth_failures >= 5, timeout=15)
    assert reports.severities() == [Severity.ERROR]
    assert reports.seen[0].message.startswith("Market data: Alpaca refused the club's keys 3 times in a row")
    assert alpaca.data_connections_accepted == 0
    loop_thread.run(refused.stop())
    running.result(10)


def test_one_refusal_then_a_connection_is_not_news() -> None:
    heard: list[StreamStatus] = []
    health = StreamHealth("Market data", heard.append)
    health.refused(ValueError("auth failed"))
    health.connected()
    health.refused(ValueError("auth failed"))
    health.refused(ValueError("auth failed"))
    assert heard == [] and health.status.ok and not health.slow_retry


def test_an_error_alpaca_py_keeps_retrying_for_another_reason_is_not_classified_as_a_refusal() -> None:
    health = StreamHealth("Market data")
    for _ in range(5):
        health.refused(ValueError("connected message not received"))
    assert health.status.ok and health.auth_failures == 0
