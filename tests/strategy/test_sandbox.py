"""The strategy sandbox: source validation, and running strategies in confined, warm strategy hosts.

Every failure must come back as a clear StrategyError naming the strategy line, with this (parent)
process intact and no host process left behind. Tests of the host's own defences switch the validator off
(``SandboxLayers(validator=False)``) to prove the host holds on its own (defence in depth).
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.strategy.api import StrategyError
from core.strategy.sandbox import (
    Problem,
    SandboxLayers,
    StrategyCancelled,
    StrategyCrashed,
    StrategyOutOfMemory,
    StrategyRejected,
    StrategyTimedOut,
    run_sandboxed,
    validate_source,
)
from core.strategy.sandbox.pool import POOL
from tests.strategy import _hosts

posix_only = pytest.mark.skipif(os.name != "posix", reason="CPU and memory limits need POSIX rlimits")
VALIDATOR_OFF = SandboxLayers(validator=False)


def _sandbox_children() -> list[int]:
    """Strategy hosts at work: live (or unreaped) processes forked by the host template or started as fresh
    ``_host.py`` interpreters, except the warm idle hosts the pool keeps by design (the template itself is
    kept alive too, and is not a host)."""
    if not Path("/proc/self/task").exists():
        return []
    idle = {pooled.host.pid for _, pooled in list(POOL._idle.values())}  # the pool's idle hosts, by design
    return [pid for pid in _hosts.host_pids() if pid not in idle]


@pytest.fixture(autouse=True)
def no_child_left_behind() -> Iterator[None]:
    """After every test: the pool's idle hosts closed, and then no host process running or left a zombie."""
    yield
    POOL.close()
    if Path("/proc/self/task").exists():
        deadline = time.monotonic() + 5
        while _sandbox_children() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sandbox_children() == []


# ---- validation ---------------------------------------------------------------------------------------------


def test_report_lists_every_problem_with_its_line() -> None:
    source = "\n".join(
        [
            "import numpy as np",  # 1: fine
            "import os",  # 2
            "from subprocess import run",  # 3
            "def f(df):",  # 4
            "    data = open('/etc/passwd')",  # 5
            "    x = ().__class__.__bases__[0].__subclasses__()",  # 6
            "    return np.load('prices.npy')",  # 7
        ]
    )
    report = validate_source(source)
    assert not report.ok
    assert [p.line for p in report.problems] == [2, 3, 5, 6, 6, 6, 7]
    text = str(report).splitlines()
    assert text[0].startswith("line 2: import of 'os' is not allowed (allowed: math, numpy, pandas, ")
    assert text[1].startswith("line 3: import of 'subprocess' is not allowed")
    assert text[2] == "line 5: 'open' is not available in strategies (strategies may not read or write files)"
    assert {t.split("'")[1] for t in text[3:6]} == {".__class__", ".__bases__", ".__subclasses__"}
    assert text[6] == "line 7: '.load' is not allowed in strategies (it reads or writes files)"
    assert report.problems[0] == Problem(2, 0, report.problems[0].message)


def test_a_realistic_strategy_passes() -> None:
    source = '''
"""Buys dips. (Docstrings may mention __init__ or __class__: they are never looked up.)"""
import math
from collections import deque
from dataclasses import dataclass, field
from core.strategy.api import Param, Strategy
import numpy as np
import numpy.linalg
import pandas as pd


@dataclass
class Window:
    size: int
    values: deque = field(default_factory=deque)

    def __post_init__(self):
        self.values = deque(maxlen=self.size)

    def __len__(self):
        return len(self.values)


class Dips(Strategy):
    depth = Param(0.02, min=0.0, max=0.2)

    def __init__(self, **values):
        super().__init__(**values)
        self._seen = 0

    def init(self, data):
        open = data.open  # a strategy's own variable may be called open
        self.gap = self.indicator(np.log(data.close / open))

    def next(self, data):
        self._seen += 1
        if self.gap[-1] < -self.depth and math.isfinite(self.gap[-1]):
            self.order_target(fraction=1.0)


def summary(close):
    s = pd.Series(close)
    return float(s.rolling(3).mean().iloc[-1]), np.linalg.norm(close)
'''
    report = validate_source(source)
    assert report.ok, str(report)
    assert report.problems == ()


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("import os", 1, "import of 'os' is not allowed"),
        ("x = 1\nfrom subprocess import run", 2, "import of 'subprocess' is not allowed"),
        ("import numpy.lib.stride_tricks", 1, "import of 'numpy.lib.stride_tricks' is not allowed"),
        ("from numpy import ctypeslib", 1, "importing 'ctypeslib' from 'numpy' is not allowed"),
        ("from numpy import _core", 1, "'_core' is internal to 'numpy'"),
        ("from pandas import *", 1, "'from pandas import *' is not allowed"),
        ("from . import helpers", 1, "relative imports are not allowed"),
        ("import core.strategy.api", 1, "would give the strategy all of 'core'"),
        ("open('/etc/passwd')", 1, "'open' is not available in strategies"),
        ("__import__('os')", 1, "'__import__' is not allowed"),
        ("x = ().__class__.__bases__[0].__subclasses__()", 1, "'.__subclasses__' is not allowed"),
        ("g = (lambda: 0).__globals__", 1, "'.__globals__' is not allowed"),
        ("import numpy as np\ngetattr(np, 'load')", 2, "'getattr' is not available in strategies"),
        ("import numpy as np\nnp.load('x.npy')", 2, "'.load' is not allowed in strategies (it reads or writes files)"),
        ("import pandas as pd\npd.read_csv('x.csv')", 2, "'.read_csv' is not allowed in strategies"),
        ("def f(df):\n    df.to_csv('x.csv')", 2, "'.to_csv' is not allowed in strategies"),
        ("def f(df):\n    return df.query('a > 1')", 2, "'.query' is not allowed in strategies"),
        ("import numpy as np\nnp._core", 2, "'._core' is internal to its object"),
        ("import pandas as pd\npd.io.common", 2, "'.io' is not allowed in strategies"),
        ("import typing\ntyping.sys.modules", 2, "'.sys' is not allowed in strategies"),
        ("def f():\n    g = (x for x in [])\n    return g.gi_frame", 3, "'.gi_frame' is not allowed"),
        ("s = '{0.__class__}'.format(1)", 1, "text containing '__class__' is not allowed"),
        ("class A:\n    def __reduce__(self):\n        return 1", 2, "defining '__reduce__' is not allowed"),
        ("class A:\n    def __array_interface__(self):\n        return {}", 2, "defining '__array_interface__'"),
        ("X = type('X', (), {})", 1, "type() with three arguments"),
        ("async def f():\n    pass", 1, "async code is not supported"),
        ("def f(:\n    pass", 1, "syntax error"),
        ("x = 1\nreturn x", 2, "syntax error: 'return' outside function"),
    ],
)
def test_forbidden_code_is_reported_at_its_line(source: str, line: int, fragment: str) -> None:
    report = validate_source(source)
    assert not report.ok
    assert any(p.line == line and fragment in p.message for p in report.problems), str(report)


@pytest.mark.parametrize("source", ["\0", "(" * 500 + ")" * 500, "x = " + "-" * 100_000 + "1", "x" * 600_000])
def test_unreadable_sources_are_reported_not_raised(source: str) -> None:
    report = validate_source(source)
    assert not report.ok
    assert report.problems and all(p.message for p in report.problems)


# ---- running: success -----------------------------------------------------------------------------------------

NUMPY_STRATEGY = """
import numpy as np
from dataclasses import dataclass


@dataclass
class Crossing:
    bar: int
    price: float


def crossings(close, n):
    print("bars:", len(close))
    kernel = np.ones(n) / n
    mean = np.convolve(close, kernel, mode="valid")
    above = close[n - 1:] > mean
    bars = np.flatnonzero(above[1:] != above[:-1]) + n
    found = [Crossing(int(b), float(close[b])) for b in bars]
    return [(c.bar, c.price) for c in found], mean
"""


def test_a_numpy_strategy_returns_its_value_and_output() -> None:
    close = np.array([1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0])
    result = run_sandboxed(NUMPY_STRATEGY, "crossings", (close, 3))
    found, mean = result.value  # the tuple comes back as a list (plain data)
    assert found == [[3, 2.0], [5, 2.0]]
    np.testing.assert_allclose(mean, [2.0, 7 / 3, 2.0, 5 / 3, 2.0])
    assert result.output == "bars: 7\n"
    assert 0 <= result.cpu_seconds < 1
    assert result.wall_seconds > 0


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("import pandas as pd\n\ndef run():\n    return pd.Series([1.0, 2.0])\n", "Series"),
        ("import pandas as pd\n\ndef run():\n    return {'frame': pd.DataFrame({'a': [1]})}\n", "DataFrame"),
        ("import pandas as pd\n\ndef run():\n    return [pd.Timestamp('2024-01-02')]\n", "Timestamp"),
        ("from decimal import Decimal\n\ndef run():\n    return Decimal('1.5')\n", "Decimal"),
        ("def run():\n    return {1, 2}\n", "set"),
    ],
)
def test_pandas_objects_decimals_and_sets_are_not_plain_data(source: str, what: str) -> None:
    """Replies carry plain data only (``wire``): richer objects are a clear error, not a silent conversion."""
    with pytest.raises(StrategyCrashed, match="cannot be sent back to the application") as caught:
        run_sandboxed(source, "run")
    assert "not plain data" in str(caught.value) or what.lower() in str(caught.value).lower()


def test_plain_results_come_back_as_plain_data() -> None:
    source = """
import numpy as np


def run(n):
    return {"ints": list(range(n)), "pair": (1, "a"), "nested": {"x": [None, True, 1.5]}, "arr": np.arange(n)}
"""
    value = run_sandboxed(source, "run", (3,)).value
    assert value["ints"] == [0, 1, 2] and value["pair"] == [1, "a"] and value["nested"] == {"x": [None, True, 1.5]}
    np.testing.assert_array_equal(value["arr"], np.arange(3))


# ---- running: failures ----------------------------------------------------------------------------------------


def test_an_exception_names_the_strategy_line() -> None:
    source = "\n".join(
        [
            "def ratio(a, b):",  # 1
            "    return a / b",  # 2
            "",  # 3
            "",  # 4
            "def run(values):",  # 5
            "    print('starting')",  # 6
            "    return [ratio(v, v - 2) for v in values]",  # 7
        ]
    )
    with pytest.raises(StrategyCrashed) as caught:
        run_sandboxed(source, "run", ([1, 2, 3],))
    error = caught.value
    assert str(error) == "ZeroDivisionError: division by zero (line 2 of the strategy)"
    assert error.line == 2
    assert error.trace == ((7, "run"), (2, "ratio"))  # the strategy's frames, outermost first
    assert error.output == "starting\n"
    assert isinstance(error, StrategyError)


@posix_only
def test_an_infinite_loop_is_stopped_by_the_cpu_limit_naming_its_line() -> None:
    source = "def run():\n    n = 0\n    while True:\n        n += 1\n"
    with pytest.raises(StrategyTimedOut) as caught:
        run_sandboxed(source, "run", cpu_seconds=1, wall_seconds=20)  # a busy test machine must not turn it "wall"
    assert caught.value.limit == "cpu"
    assert caught.value.line in (3, 4)  # the loop: its test or its body
    assert str(caught.value) == f"the strategy used more than 1 s of CPU (it was at line {caught.value.line})"


@posix_only
def test_a_long_c_call_is_killed_at_the_hard_limit_and_still_named() -> None:
    # One LAPACK call of ~10 s: the interpreter never regains control, so only the kernel's SIGKILL
    # stops it, and the line comes from the stack dump faulthandler writes at the soft limit.
    source = (
        "import numpy as np\n"
        "\n"
        "def run():\n"
        "    a = np.random.default_rng(0).random((3000, 3000))\n"
        "    return np.linalg.eigvals(a)\n"
    )
    with pytest.raises(StrategyTimedOut) as caught:
        run_sandboxed(source, "run", cpu_seconds=1, wall_seconds=20)
    assert caught.value.limit == "cpu"
    assert caught.value.line == 5


def test_the_wall_clock_stops_a_strategy_with_cpu_to_spare() -> None:
    source = "def run():\n    x = 0\n    while True:\n        x = (x + 1) % 7\n"
    started = time.monotonic()
    with pytest.raises(StrategyTimedOut) as caught:
        run_sandboxed(source, "run", cpu_seconds=30, wall_seconds=1.5)
    assert 1.4 < time.monotonic() - started < 15  # stopped by the wall clock, long before 30 s of CPU
    assert caught.value.limit == "wall"
    assert caught.value.line in (3, 4)
    assert str(caught.value).startswith("the strategy ran for more than 1.5 s (it was at line ")


def test_a_cancelled_run_stops_at_once_and_leaves_no_host() -> None:
    source = "def run():\n    x = 0\n    while True:\n        x = (x + 1) % 7\n"
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(StrategyCancelled):
            run_sandboxed(source, "run", cpu_seconds=30, wall_seconds=30, cancel=cancel)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10  # stopped by the cancel, not by its 30 s budgets
    assert _sandbox_children() == []  # the host was killed (the pool does not keep a failed host)


@posix_only
@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def run():\n    x = bytearray(10**10)\n    return len(x)\n", 2),
        ("def run():\n    hoard = []\n    while True:\n        hoard.append(bytearray(10**6))\n", 4),
        ("def run():\n    rows = []\n    while True:\n        rows.append([0.5] * 10_000)\n", 4),
    ],
)
def test_a_memory_bomb_is_stopped_naming_its_line(source: str, line: int) -> None:
    with pytest.raises(StrategyOutOfMemory) as caught:
        run_sandboxed(source, "run", memory_mb=256)
    assert caught.value.line == line
    assert str(caught.value) == f"the strategy needed more than 256 MB (at line {line})"


def test_invalid_code_is_rejected_before_anything_runs() -> None:
    with pytest.raises(StrategyRejected) as caught:
        run_sandboxed("import os\n\ndef run():\n    return os.getcwd()\n", "run")
    assert [p.line for p in caught.value.report.problems] == [1]
    assert "line 1: import of 'os' is not allowed" in str(caught.value)


def test_a_missing_entry_function_is_rejected() -> None:
    with pytest.raises(StrategyRejected, match="defines no function named 'run'"):
        run_sandboxed("def other():\n    return 1\n", "run")


def test_arguments_must_be_picklable() -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        run_sandboxed("def run(x):\n    return x\n", "run", (lambda: 0,))


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("class Signal:\n    pass\n\ndef run():\n    return Signal()\n", "cannot be sent back"),
        ("def run():\n    return (x for x in [1])\n", "cannot be sent back"),
    ],
)
def test_a_result_that_cannot_travel_is_a_clear_error(source: str, fragment: str) -> None:
    with pytest.raises(StrategyCrashed, match=fragment):
        run_sandboxed(source, "run")


# ---- the host's own defences (the validator is switched off) ----------------------------


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("import os\ndef run():\n    return os.getcwd()", "ImportError: import of 'os' is not allowed"),
        ("def run():\n    return __import__('subprocess')", "ImportError: import of 'subprocess' is not allowed"),
        ("def run():\n    return open('/etc/passwd').read()", "NameError: name 'open' is not defined (line 2"),
        ("def run():\n    return getattr(1, 'real')", "NameError: name 'getattr' is not defined"),
        (
            "def run():\n"
            "    for c in ().__class__.__bases__[0].__subclasses__():\n"
            "        if c.__name__ == '_wrap_close':\n"
            "            return c.__init__.__globals__['system']('true')\n",
            "tried to start a process",
        ),
        ("import numpy as np\ndef run():\n    return np.load('/etc/passwd')", "tried to open '/etc/passwd'"),
        ("import pandas as pd\ndef run():\n    return pd.read_csv('/etc/passwd')", "tried to open '/etc/passwd'"),
        ("import numpy as np\ndef run():\n    return np.ma.core.builtins.eval('1 + 1')", "compile code from text"),
        (
            "import pandas as pd\ndef run():\n    return pd.DataFrame({'a': [1]}).eval('a + 1')",
            "compile code from text",
        ),
        (
            "import typing\ndef run():\n    os = typing.sys.modules['os']\n    return os.kill(os.getppid(), 9)",
            "'os.kill'",
        ),
        ("import pandas as pd\ndef run():\n    return pd.compat.pyarrow.pa.util.socket.socket()", "use the network"),
        (
            "import pandas as pd\ndef run():\n    return pd.io.pickle.pickle.loads(b'cbuiltins\\nlen\\n.')",
            "unpickle data",
        ),
        ("def run():\n    g = (x for x in [1])\n    return g.gi_frame.f_back", "reach Python's internals"),
    ],
)
def test_the_child_blocks_escapes_the_source_check_missed(source: str, fragment: str) -> None:
    with pytest.raises(StrategyCrashed) as caught:
        run_sandboxed(source, "run", layers=VALIDATOR_OFF)
    assert fragment in str(caught.value)
    assert caught.value.line is not None


def test_the_child_cannot_write_files(tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    source = f"import pandas as pd\ndef run():\n    pd.DataFrame({{'a': [1]}}).to_csv({str(target)!r})\n"
    with pytest.raises(StrategyCrashed, match="tried to write to"):
        run_sandboxed(source, "run", layers=VALIDATOR_OFF)
    assert not target.exists()


def test_the_child_does_not_inherit_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATFORGE_TEST_SECRET", "hunter2")
    source = "import typing\ndef run():\n    return dict(typing.sys.modules['os'].environ)\n"
    env = run_sandboxed(source, "run", layers=VALIDATOR_OFF).value
    assert "STRATFORGE_TEST_SECRET" not in env
    assert "hunter2" not in env.values()


def test_a_child_killed_by_a_signal_is_a_crash_naming_the_line() -> None:
    source = "import typing\ndef run():\n    x = 1\n    typing.sys.modules['os'].abort()\n"
    with pytest.raises(StrategyCrashed) as caught:
        run_sandboxed(source, "run", layers=VALIDATOR_OFF)
    assert "stopped unexpectedly: Fatal Python error: Aborted" in str(caught.value)
    assert caught.value.line == 4
