"""Before Qt starts on X11: missing xcb libraries are named, with the packages and the apt command, in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.platform_check import (
    SONAME_PACKAGES,
    missing_by_lookup,
    missing_message,
    missing_sonames,
    packages_for,
    platform_problem,
    uses_xcb,
)

REPO = Path(__file__).resolve().parents[2]
PLUGIN = Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so")

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd6b3f5000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f91853f5000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f91853e6000)
\tlibxcb-keysyms.so.1 => not found
\tlibQt6Gui.so.6 => /venv/PySide6/Qt/lib/libQt6Gui.so.6 (0x00007f9183000000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
"""


def test_the_missing_libraries_are_read_from_ldd_once_each_in_order() -> None:
    assert missing_sonames(LDD_OUTPUT) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_sonames("\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n") == []


def test_sonames_map_to_the_debian_packages_that_ship_them() -> None:
    sonames = ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0", "libglib-2.0.so.0", "libgthread-2.0.so.0", "libodd.so.3"]
    assert packages_for(sonames) == ["libxcb-cursor0", "libxkbcommon-x11-0", "libglib2.0-0", "libodd.so.3"]


def test_the_message_is_one_line_with_the_apt_command() -> None:
    message = missing_message(missing_sonames(LDD_OUTPUT))
    assert "\n" not in message
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 " in message


@pytest.mark.parametrize(
    ("environ", "qt_args", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, (), "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, (), "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, (), "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, (), "linux", False),
        ({"DISPLAY": ":0"}, ("-platform", "offscreen"), "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, ("-platform", "xcb"), "linux", True),
        ({}, (), "linux", False),  # no X display: Qt would not try xcb's libraries for a window here
        ({"DISPLAY": ":0"}, (), "darwin", False),
        ({"DISPLAY": ":0"}, (), "win32", False),
    ],
)
def test_only_an_xcb_start_is_checked(
    environ: dict[str, str], qt_args: tuple[str, ...], platform: str, expected: bool
) -> None:
    assert uses_xcb(environ, qt_args, platform) is expected


def test_platform_problem_reads_the_plugins_ldd_output() -> None:
    problem = platform_problem({"DISPLAY": ":0"}, platform="linux", plugin=lambda: PLUGIN, ldd=lambda _p: LDD_OUTPUT)
    assert problem == missing_message(["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    complete = "\tlibxcb-cursor.so.0 => /lib/libxcb-cursor.so.0 (0x1)\n"
    assert platform_problem({"DISPLAY": ":0"}, platform="linux", plugin=lambda: PLUGIN, ldd=lambda _p: complete) is None
    offscreen = {"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}
    assert platform_problem(offscreen, platform="linux", plugin=lambda: PLUGIN, ldd=lambda _p: LDD_OUTPUT) is None


def test_without_ldd_the_known_libraries_are_looked_up() -> None:
    present = {"xcb-cursor", "xkbcommon-x11", "xcb-image", "xcb-randr", "xcb-render-util", "xcb-shape", "xcb-xkb"}
    missing = missing_by_lookup(lambda name: f"lib{name}.so" if name in present else None)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"]
    problem = platform_problem(
        {"DISPLAY": ":0"}, platform="linux", plugin=lambda: PLUGIN, ldd=lambda _p: None, lookup=lambda: missing
    )
    assert problem is not None and "libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0" in problem


def test_every_xcb_package_the_deb_depends_on_is_one_the_check_can_name() -> None:
    nfpm = (REPO / "packaging" / "linux" / "nfpm.yaml").read_text()
    depends = nfpm.split("depends:", 1)[1]
    declared = re.findall(r"^\s+-\s+(lib[\w.+-]+)", depends.split("recommends:", 1)[0], re.MULTILINE)
    x11 = [package for package in declared if package.startswith(("libxcb", "libxkbcommon"))]
    assert x11, "the .deb declares the xcb libraries"
    assert set(x11) <= set(SONAME_PACKAGES.values())


def test_the_app_prints_the_one_line_and_exits_1_where_libraries_are_missing(tmp_path: Path) -> None:
    """On this machine, if it lacks any of them (the check itself decides; skipped where all are installed)."""
    environ = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    environ["DISPLAY"] = ":99"
    expected = platform_problem(environ, platform=sys.platform)
    if expected is None:
        pytest.skip("every library Qt's xcb plugin needs is installed here")
    script = "import sys; from app.application import run; sys.exit(run(['--data-dir', sys.argv[1]]))"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        env={**environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == expected
    assert "could not load the Qt platform plugin" not in done.stderr
