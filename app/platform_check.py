"""Before Qt starts on Linux/X11: are the system libraries its xcb platform plugin loads installed?

Qt 6.5+ needs ``libxcb-cursor0`` and a few other xcb libraries that many desktops lack. The pip wheel cannot
declare them (the .deb does: packaging/linux/nfpm.yaml), and without them Qt aborts with its own "could not
load the Qt platform plugin "xcb"" text, which names no package. Here ``ldd`` reads the plugin's missing
libraries (about 20 ms) and the app prints one line naming the Debian/Ubuntu packages and the apt command.
This machine lacked libxcb-icccm4 and libxcb-keysyms1 when it was written.

Pure functions (tested with a canned ldd output) plus ``platform_problem``, which run() calls.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LDD_TIMEOUT_S = 10.0

# The libraries PySide6's libqxcb.so (and the Qt libraries it pulls in) load from the system, by soname, with
# the Debian/Ubuntu package that ships each. The xcb ones are those a desktop may lack; the .deb depends on
# them (packaging/linux/nfpm.yaml, checked against this table by tests/gui/test_platform_check.py).
SONAME_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}

# Without ldd (rare: it ships with libc), these are looked up one by one (the ones Qt 6.5+ needs that desktops lack).
FALLBACK_SONAMES = (
    "libxcb-cursor.so.0",
    "libxkbcommon-x11.so.0",
    "libxcb-icccm.so.4",
    "libxcb-image.so.0",
    "libxcb-keysyms.so.1",
    "libxcb-randr.so.0",
    "libxcb-render-util.so.0",
    "libxcb-shape.so.0",
    "libxcb-xinerama.so.0",
    "libxcb-xkb.so.1",
)

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found\s*$", re.MULTILINE)


def uses_xcb(environ: Mapping[str, str], qt_args: Sequence[str] = (), platform: str = sys.platform) -> bool:
    """True when Qt would load its xcb plugin: Linux, an X display, and no other platform chosen (by
    $QT_QPA_PLATFORM or a ``-platform`` argument)."""
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    args = list(qt_args)
    for i, arg in enumerate(args):
        if arg in ("-platform", "--platform") and i + 1 < len(args):
            return args[i + 1].startswith("xcb")
        if arg.startswith(("-platform=", "--platform=")):
            return arg.split("=", 1)[1].startswith("xcb")
    chosen = environ.get("QT_QPA_PLATFORM", "")
    return not chosen or chosen.startswith("xcb")


def missing_sonames(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as "not found", each once, in the order it lists them."""
    seen: list[str] = []
    for soname in _NOT_FOUND.findall(ldd_output):
        if soname not in seen:
            seen.append(soname)
    return seen


def packages_for(sonames: Sequence[str]) -> list[str]:
    """The Debian/Ubuntu packages that provide ``sonames`` (an unknown one is named as it is), each once."""
    packages: list[str] = []
    for soname in sonames:
        package = SONAME_PACKAGES.get(soname, soname)
        if package not in packages:
            packages.append(package)
    return packages


def missing_message(sonames: Sequence[str]) -> str:
    """The one line to print: what is missing, and the command that installs it."""
    packages = packages_for(sonames)
    return (
        f"StratForge cannot open its window: Qt's X11 platform plugin needs {', '.join(sonames)}, which this system "
        f"lacks. Install them with: sudo apt install {' '.join(packages)} (Debian/Ubuntu package names), "
        "or run on Wayland with QT_QPA_PLATFORM=wayland."
    )


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so (in a venv or in the frozen bundle: the same place relative to PySide6)."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def run_ldd(library: Path) -> str | None:
    """``ldd library``'s output, or None when ldd is not there or fails."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=LDD_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def missing_by_lookup(find: Callable[[str], str | None] = ctypes.util.find_library) -> list[str]:
    """Without ldd: the fallback list looked up through the dynamic linker's cache."""
    return [soname for soname in FALLBACK_SONAMES if find(soname.removeprefix("lib").split(".so")[0]) is None]


def platform_problem(
    environ: Mapping[str, str] | None = None,
    qt_args: Sequence[str] = (),
    *,
    platform: str = sys.platform,
    plugin: Callable[[], Path | None] = xcb_plugin,
    ldd: Callable[[Path], str | None] = run_ldd,
    lookup: Callable[[], list[str]] = missing_by_lookup,
) -> str | None:
    """The one-line message when Qt's xcb plugin would fail to load for missing system libraries, else None."""
    env = os.environ if environ is None else environ
    if not uses_xcb(env, qt_args, platform):
        return None
    library = plugin()
    if library is None:
        return None  # not a PySide6 layout we know: let Qt speak for itself
    output = ldd(library)
    missing = missing_sonames(output) if output is not None else lookup()
    return missing_message(missing) if missing else None
