"""The operating system as the strategy sandbox's boundary.

The Python layers of the sandbox (source check, restricted built-ins, audit hook) can be got round from
inside the interpreter: ctypes, numpy's ``as_strided`` memory writes, pyarrow's file system, ``posix_spawn``,
pidfd signals, ``/proc/<parent>/environ``. This package makes the kernel refuse those things instead, in the
strategy process itself, before any strategy code is loaded, so that nothing Python-level has to hold.

* Linux (:mod:`.linux`): no_new_privs, Landlock (reads only beneath the read roots, no writes, no /proc, no
  TCP, signals and abstract sockets scoped to the process), and a seccomp allow-list (no new processes or
  programs, no sockets, no signals to others, no ptrace or cross-process memory, no kernel-administration
  calls). Level FULL with both; PARTIAL with one; NONE with neither.
* macOS (:mod:`.macos`, untested here): the child is started under ``sandbox-exec`` with a deny-by-default
  profile (:func:`child_command_prefix`); the child checks it holds.
* Windows (:mod:`.windows`, untested here): a job object (one process, memory cap); files and network are
  not limited, so PARTIAL.

The parent calls :func:`harden_parent` at start and :func:`probe_confinement` for Help > About; the strategy
process calls :func:`confine_current_process` once, after its imports and before strategy code.

Packages: ``landlockpy`` and ``seccompy`` (one author, Quad4; both pure Python, dependency-free, typed,
0BSD). Chosen over ``pyseccomp`` because that wraps the system's libseccomp (a shared library a user's
machine or our frozen bundle may lack) and has had no release since January 2021, and because seccompy
compiles the filter itself and still expresses everything needed here: argument conditions (equality,
masked equality for clone's flags and open's write bits, ordered comparison for madvise), per-call errno
(ENOSYS for clone3), KILL_PROCESS, TSYNC, and a foreign-architecture check that kills. landlockpy covers
every Landlock ABI (1-11) including network rules and scopes, degrading on older kernels. Both are young
(0.2.0, 2026), hence exact-minor pins; their code is small (about 25 kB together) and was read before
adoption, and the attacker tests in tests/strategy/confinement check the kernel's actual refusals rather
than trusting either library.

After confinement on Linux: ``/proc`` is unreadable (read what you need from ``/proc/self`` before), resource
limits can be read but not set (set them before), and an extension module that links a system library not
yet loaded cannot be imported (``sqlite3``, ``ssl``, ``curses``: their libraries lie outside the read roots;
numpy, pandas, pyarrow, numba and the allowed standard modules are unaffected). Import such modules first, or
add the library's folder to the read roots.

Single thread: on Linux the strategy process must be single-threaded when it calls
:func:`confine_current_process` unless the kernel's Landlock ABI is 8 or newer. pandas' import of pyarrow
starts a jemalloc background thread unless ``JE_ARROW_MALLOC_CONF=background_thread:false`` is in the
environment (:data:`SINGLE_THREAD_ENV`); OpenBLAS starts threads unless ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

from core.strategy.sandbox.confinement.confine import (
    child_command_prefix,
    confine_current_process,
    probe_confinement,
)
from core.strategy.sandbox.confinement.parent import harden_parent
from core.strategy.sandbox.confinement.report import ConfinementError, ConfinementLevel, ConfinementReport

# Environment for a strategy process that keeps its imports of numpy, pandas and pyarrow single-threaded.
SINGLE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}

__all__ = [
    "SINGLE_THREAD_ENV",
    "ConfinementError",
    "ConfinementLevel",
    "ConfinementReport",
    "child_command_prefix",
    "confine_current_process",
    "harden_parent",
    "probe_confinement",
]
