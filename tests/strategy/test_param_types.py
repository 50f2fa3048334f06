"""A strategy's parameters have their values' types to a type checker: ``self.fast`` is an ``int``, not a ``Param``.

The type checker reads a small strategy exactly as an editor (or the AI's vetting) would, with the project's
mypy settings; one run serves every assertion (a cold run reads numpy's stubs: a few seconds).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from core.strategy.api import Param, Strategy

REPO = Path(__file__).resolve().parents[2]

SOURCE = textwrap.dedent(
    """\
    from core.strategy.api import BarData, Param, SignalStrategy, Strategy


    class Cross(Strategy):
        fast = Param(10, min=2, max=200)
        ratio = Param(0.5, min=0.0, max=1.0)
        long_only = Param(True)
        mode = Param("close", choices=("close", "open"))

        def next(self, data: BarData) -> None:
            reveal_type(self.fast)  # line 11
            reveal_type(self.ratio)
            reveal_type(self.long_only)
            reveal_type(self.mode)
            reveal_type(Cross.fast)  # line 15
            self.fast.upper()  # line 16: an int has no upper()


    class Signals(SignalStrategy):
        def next(self, data: BarData) -> None:
            reveal_type(self.size)  # line 21: the API's own Param
    """
)


def revealed(messages: dict[int, str], line: int) -> str:
    """The type ``reveal_type`` printed at ``line``, fully qualified (mypy 2 writes builtins without the module)."""
    note = messages[line]
    assert note.startswith('note: Revealed type is "') and note.endswith('"'), note
    name = note.removeprefix('note: Revealed type is "').removesuffix('"')
    return name if "." in name else f"builtins.{name}"


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """mypy's messages on SOURCE, by line."""
    folder = tmp_path_factory.mktemp("param_types")
    module = folder / "probe_strategy.py"
    module.write_text(SOURCE)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)  # mypy finds the core package from the working directory (the install is a path hook)
        stdout, stderr, _ = mypy_api.run([
            "--config-file", str(REPO / "pyproject.toml"),
            "--cache-dir", str(folder / "cache"),
            "--no-error-summary",
            "--no-warn-unused-configs",  # the project's per-package sections name packages this run does not check
            "--hide-error-context",
            str(module),
        ])  # fmt: skip
    assert not stderr, stderr
    messages: dict[int, str] = {}
    for line in stdout.splitlines():
        path, number, text = line.split(":", 2)
        if path != str(module):
            continue  # about core itself: the project's own mypy run reports those
        messages[int(number)] = messages.get(int(number), "") + text.strip()
    return messages


def test_an_int_param_reads_as_an_int_in_a_method(checked: dict[int, str]) -> None:
    assert revealed(checked, 11) == "builtins.int"


def test_float_bool_and_text_params_read_as_their_defaults_types(checked: dict[int, str]) -> None:
    assert revealed(checked, 12) == "builtins.float"
    assert revealed(checked, 13) == "builtins.bool"
    assert revealed(checked, 14) == "builtins.str"


def test_the_class_attribute_is_the_declaration(checked: dict[int, str]) -> None:
    assert revealed(checked, 15) in ("core.strategy.api.Param[int]", "core.strategy.api.Param[builtins.int]")


def test_using_a_value_as_another_type_is_reported(checked: dict[int, str]) -> None:
    assert checked[16] == 'error: "int" has no attribute "upper"  [attr-defined]'


def test_the_built_in_size_param_is_a_float(checked: dict[int, str]) -> None:
    assert revealed(checked, 21) == "builtins.float"


def test_nothing_else_is_reported(checked: dict[int, str]) -> None:
    assert set(checked) == {11, 12, 13, 14, 15, 16, 21}


def test_at_run_time_the_value_is_a_plain_instance_attribute() -> None:
    class Cross(Strategy):
        fast = Param(10, min=2, max=200)

    # the declaration leaves the class (no descriptor call when next() reads self.fast on every bar)
    assert "fast" not in vars(Cross) and Cross.params["fast"].name == "fast"
    strategy = Cross(fast=12)
    assert vars(strategy)["fast"] == 12 and strategy.fast == 12


def test_a_param_on_a_class_that_is_not_a_strategy_is_the_declaration_itself() -> None:
    class Holder:
        fast = Param(10)

    # (a type checker refuses the instance read: only a Strategy gives a Param a value)
    assert Holder.fast == Param(10) and Holder().fast == Param(10)
