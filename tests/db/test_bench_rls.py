"""bench.rls runs end to end on a tiny club and keeps its metric names (a contract)."""

from __future__ import annotations

import json

import pytest

from bench.rls import run


def test_bench_rls_prints_its_metrics_and_the_trader_sees_no_other_fills(
    scratch_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(scratch_url, traders=3, fills=5, repeat=3)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    metrics = {line["metric"]: line["value"] for line in lines}
    for query in ("books", "fills_page"):
        for suffix in ("owner_ms", "trader_ms", "ratio"):
            assert metrics[f"rls_{query}_{suffix}"] > 0
    assert metrics["rls_other_traders_fills_visible"] == 0
