"""Windows: a job object around the strategy process (:func:`apply_job_object`), via ctypes.

NOT TESTED ON WINDOWS: StratForge's automated tests run on Linux, where this module is only imported (it
must stay importable there: nothing Windows-specific is touched at import time). Treat it as a first version
to be tried on Windows before relying on it.

What a job gives: the process can create no other process (active-process limit 1), cannot commit more than
a memory cap, and dies when the job's last handle closes (the handle is kept in this module for the life of
the process, so that is at its exit). What it does not give: any limit on files or the network; Windows'
AppContainer could, but needs a launcher in the parent. Hence the level PARTIAL.
"""

from __future__ import annotations

import ctypes
import sys

from core.strategy.sandbox.confinement.report import ConfinementError, ConfinementLevel, ConfinementReport

DEFAULT_MEMORY_MB = 4096
MECHANISM = "job object (one process, memory cap, killed with its job)"
MISSING = (
    "Windows confinement does not limit files or the network: strategy code can read your files and reach the internet",
)

_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
_JOB_OBJECT_LIMIT_ACTIVE_PROCESS = 0x00000008
_JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
_JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION = 0x00000400
_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000

_job_handle: int | None = None  # kept open for the life of the process (closing it kills the process)


class _BasicLimits(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class _IoCounters(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64) for name in ("Reads", "Writes", "Others", "ReadBytes", "WriteBytes", "OtherBytes")
    ]


class _ExtendedLimits(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", _BasicLimits),
        ("IoInfo", _IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def probe_windows() -> ConfinementReport:
    """Job objects exist on every supported Windows (nested jobs since Windows 8)."""
    return ConfinementReport(ConfinementLevel.PARTIAL, (MECHANISM,), MISSING)


def apply_job_object(memory_mb: int = DEFAULT_MEMORY_MB) -> ConfinementReport:
    """Put this process in a new job: one active process, ``memory_mb`` of committed memory, killed with the
    job. Raises :class:`ConfinementError` if Windows refuses."""
    global _job_handle
    if sys.platform != "win32":
        raise ConfinementError("job objects exist only on Windows")
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateJobObjectW.restype = ctypes.c_void_p
    kernel32.GetCurrentProcess.restype = ctypes.c_void_p
    kernel32.SetInformationJobObject.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
    kernel32.AssignProcessToJobObject.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        raise ConfinementError(f"CreateJobObject failed: {ctypes.WinError(ctypes.get_last_error())}")
    limits = _ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = (
        _JOB_OBJECT_LIMIT_ACTIVE_PROCESS
        | _JOB_OBJECT_LIMIT_PROCESS_MEMORY
        | _JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
        | _JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    )
    limits.BasicLimitInformation.ActiveProcessLimit = 1
    limits.ProcessMemoryLimit = memory_mb * 1024 * 1024
    if not kernel32.SetInformationJobObject(
        job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(limits), ctypes.sizeof(limits)
    ):
        raise ConfinementError(f"SetInformationJobObject failed: {ctypes.WinError(ctypes.get_last_error())}")
    if not kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess()):
        raise ConfinementError(f"AssignProcessToJobObject failed: {ctypes.WinError(ctypes.get_last_error())}")
    _job_handle = int(job)
    return probe_windows()
