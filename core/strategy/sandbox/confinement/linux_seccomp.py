"""The seccomp-BPF allow-list of the strategy process (Linux 3.17+, x86-64 and arm64), through ``seccompy``.

Deny by default: any system call not named here fails with EPERM, so a computation path we did not foresee
shows up as an ``OSError`` naming the call instead of a mystery crash. A few calls that only an attack makes
kill the process outright (:data:`KILL`). ``clone3`` fails with ENOSYS: its flags sit behind a pointer a
filter cannot read, and glibc then falls back to ``clone``, whose flags the filter can check.

The filter is the second wall next to Landlock (files, ports, signals); where Landlock is missing it is the
only one, which is why ``open`` is allowed read-only here too. The calls CPython, numpy, pandas and pyarrow
make while computing were found by tracing them (``strace -f``) after their imports, then rounded up by group.

Arguments the filter compares are full 64-bit words: a value with junk in the upper half (which the kernel
would ignore for an ``int`` argument) matches no allow rule and is denied, the safe direction.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

import seccompy
from seccompy import ArgCmp, CmpOp, Filter, FilterFlag

# ---- allowed unconditionally, by group -------------------------------------------------------------------
# fmt: off
ALLOW: dict[str, tuple[str, ...]] = {
    # Memory: the allocators (pymalloc, glibc, jemalloc, numpy's huge pages), dlopen of lazily imported
    # extension modules (mmap + mprotect PROT_EXEC of files Landlock let it open), thread stacks. Only the
    # process's own address space; mbind/get_mempolicy place its own pages on NUMA nodes.
    "memory": ("brk", "mmap", "munmap", "mremap", "mprotect", "msync", "mincore", "mbind", "get_mempolicy"),
    # Reading files Landlock allows, and reading/writing descriptors the process already holds (its pipes).
    # Opening is allowed read-only below (ALLOW_IF); nothing here creates, renames, removes, links, chmods,
    # chowns or times a file.
    "descriptors": (
        "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "lseek", "close", "close_range",
        "dup", "dup2", "dup3", "fstat", "newfstatat", "stat", "lstat", "statx", "access", "faccessat",
        "faccessat2", "getdents", "getdents64", "readlink", "readlinkat", "getcwd", "pipe", "pipe2",
    ),
    # Waiting on descriptors (selectors, the pipes' readiness): only the process's own descriptors.
    "waiting": ("poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
                "epoll_wait", "epoll_pwait", "epoll_pwait2"),
    # Threads and their synchronisation (the faulthandler watchdog, pyarrow's pool, threading): clone itself
    # is in ALLOW_IF, only for threads.
    "threads": ("futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "set_robust_list", "rseq",
                "set_tid_address", "sched_yield", "sched_getaffinity", "getcpu", "exit", "exit_group"),
    # Signals handled inside the process (faulthandler, SIGXCPU from the CPU limit, raise()); sending them
    # is in ALLOW_IF, only to itself. restart_syscall resumes a call a signal interrupted.
    "signals": ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
                "rt_sigtimedwait", "sigaltstack", "restart_syscall", "pause", "alarm", "getitimer", "setitimer"),
    # Clocks and sleeping (mostly answered by the vDSO without a system call).
    "time": ("clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "times",
             "getrusage"),
    # Facts about itself and the machine that carry no secret: ids, uname (platform), memory and CPU counts,
    # random bytes (numpy's generators, hash seeds), its own resource limits.
    "identity": ("getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
                 "getresuid", "getresgid", "getpgrp", "uname", "sysinfo", "getrandom", "getrlimit"),
}
# fmt: on

# ---- allowed only with given arguments (filled per process by _conditional_rules) --------------------------
# open flags that would write, create, truncate or make an unnamed temporary file (O_TMPFILE's own bit).
_WRITE_OPEN_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | 0o20000000
_CLONE_THREAD = 0x00010000
# Namespace flags, never allowed even on a thread: as root they would give the thread its own mounts/network.
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# ioctl requests that only ask about or set flags of the process's own descriptor: TCGETS (isatty, which
# Python's open() asks), TIOCGWINSZ (terminal size), FIONREAD (bytes waiting), FIONBIO (non-blocking),
# FIONCLEX/FIOCLEX (close-on-exec; os.set_inheritable). Not TIOCSTI (typing into a terminal) nor any device.
IOCTL_REQUESTS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
# fcntl commands on its own descriptors: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC.
# Not F_SETOWN/F_SETSIG (which aim SIGIO at another process), locks or leases.
FCNTL_COMMANDS = (0, 1, 2, 3, 4, 1030)
# prctl options that only read or name: PR_GET_DUMPABLE, PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP,
# PR_GET_NO_NEW_PRIVS, PR_SET_VMA (glibc names its own anonymous mappings).
PRCTL_OPTIONS = (3, 15, 16, 21, 39, 0x53564D41)
# madvise advice below MADV_HWPOISON (100): the ones at and above it act on physical pages and need root.
_MADV_HWPOISON = 100

# ---- killed on sight: only an attack calls these, so the process dies (SIGSYS) instead of being told no ----
# fmt: off
KILL = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "bpf", "open_by_handle_at",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "iopl", "ioperm",
)

# ---- denied with EPERM like everything unnamed; listed so the tests and readers see they are meant ----------
DENY = (
    # new processes and programs
    "fork", "vfork", "execve", "execveat",
    # every socket: no network, no unix socket to the desktop session, no netlink to the kernel
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "shutdown", "setsockopt", "getsockopt",
    # other processes (kill/tkill/tgkill to anyone but itself fall through to here too)
    "pidfd_open", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpriority",
    "sched_setaffinity", "sched_setscheduler", "migrate_pages", "move_pages", "kcmp",
    # the file system's shape and other namespaces
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "open_tree", "move_mount", "fsopen",
    "fsmount", "fspick", "mount_setattr", "openat2", "name_to_handle_at", "fanotify_init", "inotify_init1",
    # writing files by name
    "creat", "truncate", "ftruncate", "fallocate", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "chmod",
    "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime", "utimes",
    "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "memfd_create",
    # the kernel and the machine
    "keyctl", "add_key", "request_key", "perf_event_open", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "userfaultfd", "setrlimit", "personality", "syslog", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "swapon", "swapoff", "acct", "quotactl",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "capset",
    "shmget", "shmat", "msgget", "semget", "mq_open", "arch_prctl", "modify_ldt",
)
# fmt: on


def seccomp_available() -> bool:
    """Whether this kernel and processor can take the filter (seccompy knows x86-64 and arm64)."""
    try:
        return (
            seccompy.supported()
            and seccompy.action_supported(seccompy.Action.KILL_PROCESS)
            and seccompy.action_supported(seccompy.Action.ERRNO)
        )
    except (OSError, ValueError):
        return False


def _known(name: str) -> bool:
    """Whether the running architecture has this call (arm64 lacks open, fork, stat, ...)."""
    try:
        seccompy.syscall_nr(name)
    except ValueError:
        return False
    return True


def _conditional_rules(pid: int) -> Iterable[tuple[str, list[ArgCmp]]]:
    """(call, conditions) pairs, each allowed when all its conditions hold; several pairs per call are
    alternatives."""
    read_only = ArgCmp(1, CmpOp.MASKED_EQ, 0, mask=_WRITE_OPEN_FLAGS)
    # open(path, flags): flags are argument 1; openat(dirfd, path, flags): argument 2. Landlock decides which
    # paths; this keeps every open read-only even on a kernel without Landlock.
    yield "open", [read_only]
    yield "openat", [ArgCmp(2, CmpOp.MASKED_EQ, 0, mask=_WRITE_OPEN_FLAGS)]
    # Threads only: CLONE_THREAD set and no namespace flag. A fork (or posix_spawn's vfork) lacks CLONE_THREAD.
    yield "clone", [ArgCmp(0, CmpOp.MASKED_EQ, _CLONE_THREAD, mask=_CLONE_THREAD | _CLONE_NAMESPACES)]
    # Signals to itself only: kill(pid), tgkill(pid, tid) for its own threads, tkill of its main thread.
    for call in ("kill", "tgkill", "tkill"):
        yield call, [ArgCmp(0, CmpOp.EQ, pid)]
    # Reading its own limits (glibc's getrlimit is prlimit64(0, resource, NULL, old)); never setting one.
    yield "prlimit64", [ArgCmp(0, CmpOp.EQ, 0), ArgCmp(2, CmpOp.EQ, 0)]
    yield "prlimit64", [ArgCmp(0, CmpOp.EQ, pid), ArgCmp(2, CmpOp.EQ, 0)]
    for request in IOCTL_REQUESTS:
        yield "ioctl", [ArgCmp(1, CmpOp.EQ, request)]
    for command in FCNTL_COMMANDS:
        yield "fcntl", [ArgCmp(1, CmpOp.EQ, command)]
    for option in PRCTL_OPTIONS:
        yield "prctl", [ArgCmp(0, CmpOp.EQ, option)]
    yield "madvise", [ArgCmp(2, CmpOp.LT, _MADV_HWPOISON)]


def allowed_calls() -> tuple[str, ...]:
    """Every call the filter can allow on this architecture (some only with given arguments)."""
    names = {name for group in ALLOW.values() for name in group}
    names.update(call for call, _ in _conditional_rules(0))
    return tuple(sorted(name for name in names if _known(name)))


def build_filter(pid: int) -> Filter:
    """The filter for process ``pid`` (signals are allowed to that pid only), not yet loaded."""
    flags = FilterFlag.TSYNC if seccompy.flag_supported(FilterFlag.TSYNC) else FilterFlag.NONE
    filt = Filter(default=seccompy.Action.ERRNO | errno.EPERM, flags=flags)
    for name in KILL:
        if _known(name):
            filt.kill(name)
    if _known("clone3"):
        filt.errno("clone3", errno.ENOSYS)
    for group in ALLOW.values():
        for name in group:
            if _known(name):
                filt.allow(name)
    for name, conditions in _conditional_rules(pid):
        if _known(name):
            filt.allow(name, args=conditions)
    return filt


def apply_seccomp(pid: int) -> None:
    """Load the filter for good on this process (all its threads where the kernel supports TSYNC)."""
    build_filter(pid).load()
