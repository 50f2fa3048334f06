"""The SDK's import does a network call without a timeout: StratForge imports it late, off the caller's clock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.adapters.angel import sdk
from core.broker.errors import BrokerUnavailable


def test_naming_the_angel_link_does_not_import_the_sdk() -> None:
    code = (
        "import sys; from core.broker.links import link_adapter; link_adapter('angel'); "
        "import core.adapters.angel.broker; print('SmartApi' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)

    assert result.stdout.strip() == "False"


def test_a_hanging_import_costs_the_caller_its_deadline_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "angel_slow_sdk.py").write_text("import time\ntime.sleep(0.6)\nVALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importer = sdk._Importer("angel_slow_sdk")

    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="still starting"):
        sdk.load_sdk(0.1, importer)
    waited = time.monotonic() - started
    module = sdk.load_sdk(5, importer)

    assert waited < 0.5
    assert module.VALUE == 1 and sdk.load_sdk(0, importer) is module, "imported once, then at once"
