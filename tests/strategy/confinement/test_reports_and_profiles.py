"""The parts that need no confined process: what the probe reports (on this machine and on kernels
without Landlock or seccomp), the one-line summary, the read-root check, the macOS profile's text and the
Windows module's import (neither can run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.strategy.sandbox.confinement import (
    ConfinementError,
    ConfinementLevel,
    ConfinementReport,
    child_command_prefix,
    probe_confinement,
)
from core.strategy.sandbox.confinement.roots import checked_read_roots

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="Linux probe")


@linux_only
def test_the_probe_says_what_this_kernel_offers() -> None:
    from core.strategy.sandbox.confinement.linux import report_for
    from core.strategy.sandbox.confinement.linux_landlock import landlock_abi
    from core.strategy.sandbox.confinement.linux_seccomp import seccomp_available

    report = probe_confinement()
    assert report == report_for(landlock_abi(), seccomp_available())
    assert probe_confinement() is report, "cached"


@linux_only
def test_a_kernel_with_landlock_6_and_seccomp_is_full() -> None:
    from core.strategy.sandbox.confinement.linux import report_for

    report = report_for(6, True)
    assert report.level is ConfinementLevel.FULL
    assert report.mechanisms == (
        "inherited descriptors closed",
        "no_new_privs",
        "landlock abi 6 (files, tcp, signals, abstract sockets)",
        "seccomp allow-list",
    )
    assert report.missing == ()


@linux_only
def test_kernels_lacking_a_mechanism_are_partial_and_say_so() -> None:
    from core.strategy.sandbox.confinement.linux import report_for

    no_landlock = report_for(0, True)
    assert no_landlock.level is ConfinementLevel.PARTIAL
    assert no_landlock.missing == ("the kernel has no Landlock: file reads are not confined",)
    old_landlock = report_for(3, True)
    assert old_landlock.level is ConfinementLevel.FULL
    assert "landlock abi 3 (files)" in old_landlock.mechanisms
    assert len(old_landlock.missing) == 2  # no port rules (ABI 4), no scopes (ABI 6): the filter covers both
    no_seccomp = report_for(7, False)
    assert no_seccomp.level is ConfinementLevel.PARTIAL
    assert no_seccomp.missing[0].startswith("the kernel has no seccomp filter")
    assert report_for(0, False).level is ConfinementLevel.NONE


def test_the_summary_is_one_line_for_help_about() -> None:
    report = ConfinementReport(ConfinementLevel.PARTIAL, ("a", "b"), ("no c",))
    assert report.summary() == "Strategy confinement: partial (a; b). Not enforced: no c"
    assert ConfinementReport(ConfinementLevel.NONE, (), ()).summary() == "Strategy confinement: none"


@pytest.mark.parametrize("root", ["/", "/proc", "/proc/1", "/sys/kernel", "/dev"])
def test_a_read_root_exposing_kernel_interfaces_is_refused(root: str) -> None:
    with pytest.raises(ConfinementError, match="would expose"):
        checked_read_roots([root])


def test_read_roots_are_resolved_and_missing_ones_skipped(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert checked_read_roots([str(link), str(real), str(tmp_path / "missing")]) == (str(real.resolve()),)
    with pytest.raises(ConfinementError, match="not an absolute path"):
        checked_read_roots(["relative/path"])


@pytest.mark.skipif(sys.platform == "darwin", reason="elsewhere than macOS the prefix is empty")
def test_no_command_prefix_outside_macos() -> None:
    assert child_command_prefix(["/usr/lib"]) == []


def test_the_macos_profile_denies_by_default_and_quotes_paths() -> None:
    from core.strategy.sandbox.confinement.macos import sandbox_profile

    profile = sandbox_profile(['/opt/py "3"/lib', "/usr/share/zoneinfo"], "/usr/bin/python3")
    lines = profile.splitlines()
    assert lines[:2] == ["(version 1)", "(deny default)"]
    assert '(subpath "/opt/py \\"3\\"/lib")' in profile
    assert "network" not in profile and "process-fork" not in profile and "file-write*" not in profile
    assert "(allow signal (target self))" in profile
    with pytest.raises(ConfinementError, match="control character"):
        sandbox_profile(["/tmp/a\nb"], "/usr/bin/python3")


def test_the_windows_module_imports_anywhere_and_reports_partial() -> None:
    from core.strategy.sandbox.confinement import windows

    report = windows.probe_windows()
    assert report.level is ConfinementLevel.PARTIAL
    assert "files" in report.missing[0]
    if sys.platform != "win32":
        with pytest.raises(ConfinementError):
            windows.apply_job_object()
