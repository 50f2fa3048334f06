"""The attack techniques: what each tries by raw means, what must happen (refused, or the process killed),
and which side effect the test looks for afterwards.

A body is Python run in the child after confinement, with ``ENV`` (the world's data), ``raw(nr(...), ...)``
for raw system calls, and the usual modules imported. It returns on success and raises OSError when refused.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.strategy.confinement._world import CANARY_TEXT, World

Record = dict[str, Any]
# A side-effect check: None when nothing happened, else what did.
Check = Callable[[World, Record], str | None]


@dataclass(frozen=True)
class Technique:
    name: str
    category: str
    body: str
    check: Check | None = None
    kills: bool = False  # seccomp kills the process (SIGSYS) instead of refusing
    errnos: tuple[int, ...] = (errno.EPERM, errno.EACCES)  # what a refusal may say
    after: str = ""  # expression evaluated in the child after the attempt (its repr goes to the check)
    control: bool = False  # safe to run unconfined, where it must succeed (proves the attack is real)
    canary: bool = False  # gets a canary process of its own (ENV["pids"][name])


def absent(path_of: Callable[[World], Any]) -> Check:
    def check(world: World, record: Record) -> str | None:
        path = path_of(world)
        return f"{path} was created" if os.path.lexists(path) else None

    return check


def present(path_of: Callable[[World], Any]) -> Check:
    def check(world: World, record: Record) -> str | None:
        path = path_of(world)
        return None if os.path.exists(path) else f"{path} was removed"

    return check


def no_canary_text(world: World, record: Record) -> str | None:
    return "the canary's content reached the child" if CANARY_TEXT in record.get("detail", "") else None


def no_secret(world: World, record: Record) -> str | None:
    text = record.get("detail", "") + str(record.get("after", ""))
    return "the parent's secret reached the child" if world.secret in text else None


def canary_alive(name: str) -> Check:
    def check(world: World, record: Record) -> str | None:
        return None if world.canary_alive(name) else f"canary process of {name} was killed or stopped"

    return check


def listener_untouched(which: str) -> Check:
    def check(world: World, record: Record) -> str | None:
        hits = getattr(world, which).hits
        return f"the {which} listener saw {hits} connection(s)" if hits else None

    return check


def canary_unchanged(world: World, record: Record) -> str | None:
    stat = world.canary.stat()
    if world.canary.read_text() != CANARY_TEXT:
        return "the canary's content changed"
    if stat.st_mode & 0o777 != 0o600 or stat.st_uid != os.getuid() or stat.st_mtime != world.canary_mtime:
        return f"the canary's mode/owner/time changed: {oct(stat.st_mode)}, uid {stat.st_uid}, {stat.st_mtime}"
    return None


def all_of(*checks: Check) -> Check:
    def check(world: World, record: Record) -> str | None:
        for one in checks:
            found = one(world, record)
            if found:
                return found
        return None

    return check


def _t(name: str, category: str, body: str, **kwargs: Any) -> Technique:
    return Technique(name, category, body, **kwargs)


FILES = [
    _t("read_canary_open", "files", "return open(ENV['canary']).read()", check=no_canary_text, control=True),
    _t(
        "read_canary_os_read",
        "files",
        "fd = os.open(ENV['canary'], os.O_RDONLY)\nreturn os.read(fd, 200)",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "read_canary_raw_openat",
        "files",
        "fd = raw(nr('openat'), -100, ENV['canary'].encode(), os.O_RDONLY, 0)\nreturn os.read(fd, 200)",
        check=no_canary_text,
        control=True,
    ),
    _t("list_outside_dir", "files", "return os.listdir(ENV['tmp'])", control=True),
    _t("read_etc_shadow", "files", "return open('/etc/shadow').read(20)", control=True),
    _t(
        "write_tmp",
        "files",
        "open('/tmp/stratforge-confinement-' + ENV['token'] + '-write_tmp', 'w').write('x')",
        check=absent(lambda w: w.tmp_marker("write_tmp")),
        control=True,
    ),
    _t(
        "write_in_read_root",
        "files",
        "open(ENV['root_dir'] + '/_confinement_probe_' + ENV['token'] + '_write_in_read_root', 'w').write('x')",
        check=absent(lambda w: w.in_root("write_in_read_root")),
        control=True,
    ),
    _t(
        "create_os_open",
        "files",
        "return os.open(ENV['tmp'] + '/out_create_os_open', os.O_CREAT | os.O_WRONLY, 0o644)",
        check=absent(lambda w: w.out("create_os_open")),
        control=True,
    ),
    _t(
        "create_raw_openat",
        "files",
        "return raw(nr('openat'), -100, (ENV['tmp'] + '/out_create_raw_openat').encode(), "
        "os.O_CREAT | os.O_WRONLY, 0o644)",
        check=absent(lambda w: w.out("create_raw_openat")),
        control=True,
    ),
    _t("append_canary", "files", "open(ENV['canary'], 'a').write('tampered')", check=canary_unchanged),
    _t(
        "truncate_file",
        "files",
        "os.truncate(ENV['victims']['truncate'], 0)",
        check=lambda w, r: None if w.victims["truncate"].read_text() == "victim" else "victim truncated",
        control=True,
    ),
    _t(
        "unlink_file",
        "files",
        "os.unlink(ENV['victims']['unlink'])",
        check=present(lambda w: w.victims["unlink"]),
        control=True,
    ),
    _t(
        "rename_file",
        "files",
        "os.rename(ENV['victims']['rename'], ENV['tmp'] + '/out_rename_file')",
        check=present(lambda w: w.victims["rename"]),
        control=True,
    ),
    _t(
        "mkdir_outside",
        "files",
        "os.mkdir(ENV['tmp'] + '/out_mkdir_outside')",
        check=absent(lambda w: w.out("mkdir_outside")),
        control=True,
    ),
    _t(
        "symlink_outside",
        "files",
        "os.symlink(ENV['canary'], ENV['tmp'] + '/out_symlink_outside')",
        check=absent(lambda w: w.out("symlink_outside")),
        control=True,
    ),
    _t(
        "hardlink_into_root",
        "files",
        "os.link(ENV['canary'], ENV['root_dir'] + '/_confinement_probe_' + ENV['token'] + '_hardlink_into_root')",
        check=absent(lambda w: w.in_root("hardlink_into_root")),
        control=True,
    ),
    _t("chmod_canary", "files", "os.chmod(ENV['canary'], 0o777)", check=canary_unchanged),
    _t("chown_canary", "files", "os.chown(ENV['canary'], 4242, 4242)", check=canary_unchanged),
    _t("utime_canary", "files", "os.utime(ENV['canary'], (0, 0))", check=canary_unchanged),
    _t(
        "mkfifo_outside",
        "files",
        "os.mkfifo(ENV['tmp'] + '/out_mkfifo_outside')",
        check=absent(lambda w: w.out("mkfifo_outside")),
        control=True,
    ),
    _t(
        "write_inherited_fd",
        "files",
        "return os.write(ENV['inherited_fd'], b'leak')",
        check=lambda w, r: "the inherited descriptor was written" if w.inherited.read_text() else None,
        errnos=(errno.EBADF,),
        control=True,
    ),
    _t("open_by_handle_at", "kill_open_by_handle_at", "raw(nr('open_by_handle_at'), -100, 0, 0)", kills=True),
]

PROC = [
    _t(
        "read_parent_environ",
        "proc",
        "return open(f'/proc/{os.getppid()}/environ', 'rb').read()",
        check=no_secret,
        control=True,
    ),
    _t(
        "read_parent_environ_raw",
        "proc",
        "fd = raw(nr('openat'), -100, f'/proc/{os.getppid()}/environ'.encode(), os.O_RDONLY, 0)\n"
        "return os.read(fd, 100000)",
        check=no_secret,
        control=True,
    ),
    _t("read_parent_mem", "proc", "return open(f'/proc/{os.getppid()}/mem', 'rb')", control=True),
    _t("write_self_mem", "proc", "return open('/proc/self/mem', 'r+b')", control=True),
    _t("list_proc", "proc", "return os.listdir('/proc')[:3]", control=True),
]

LIBRARIES = [
    _t(
        "pandas_read_csv",
        "libraries",
        "return pd.read_csv(ENV['canary_csv']).to_dict()",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "numpy_fromfile",
        "libraries",
        "return np.fromfile(ENV['canary_bin'], dtype=np.uint8).tobytes()",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "numpy_memmap",
        "libraries",
        "return bytes(np.memmap(ENV['canary_bin'], mode='r'))",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "numpy_tofile",
        "libraries",
        "np.arange(3).tofile(ENV['tmp'] + '/out_numpy_tofile')",
        check=absent(lambda w: w.out("numpy_tofile")),
        control=True,
    ),
    _t(
        "numpy_save_in_root",
        "libraries",
        "np.save(ENV['root_dir'] + '/_confinement_probe_' + ENV['token'] + '_numpy_save_in_root.npy', np.arange(3))",
        check=absent(lambda w: w.in_root("numpy_save_in_root.npy")),
        control=True,
    ),
    _t(
        "pyarrow_fs_read",
        "libraries",
        "return pyarrow.fs.LocalFileSystem().open_input_stream(ENV['canary']).read()",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "pyarrow_fs_write",
        "libraries",
        "with pyarrow.fs.LocalFileSystem().open_output_stream(ENV['tmp'] + '/out_pyarrow_fs_write') as f:\n"
        "    f.write(b'x')",
        check=absent(lambda w: w.out("pyarrow_fs_write")),
        control=True,
    ),
    _t(
        "pyarrow_fs_delete",
        "libraries",
        "pyarrow.fs.LocalFileSystem().delete_file(ENV['victims']['pa_delete'])",
        check=present(lambda w: w.victims["pa_delete"]),
        control=True,
    ),
    _t(
        "pyarrow_csv_read",
        "libraries",
        "import pyarrow.csv\nreturn pyarrow.csv.read_csv(ENV['canary_csv'])",
        check=no_canary_text,
        control=True,
    ),
    _t(
        "pandas_to_parquet",
        "libraries",
        "pd.DataFrame({'a': [1]}).to_parquet(ENV['tmp'] + '/out_pandas_to_parquet')",
        check=absent(lambda w: w.out("pandas_to_parquet")),
        control=True,
    ),
]

PROCESSES = [
    _t(
        "os_fork",
        "processes",
        "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nreturn os.waitpid(pid, 0)",
        control=True,
    ),
    _t(
        "posix_spawn",
        "processes",
        "marker = '/tmp/stratforge-confinement-' + ENV['token'] + '-posix_spawn'\n"
        "pid = os.posix_spawn(sys.executable, [sys.executable, '-c', f'open({marker!r}, \"w\")'], {})\n"
        "return os.waitpid(pid, 0)",
        check=absent(lambda w: w.tmp_marker("posix_spawn")),
        control=True,
    ),
    _t(
        "subprocess_run",
        "processes",
        "marker = '/tmp/stratforge-confinement-' + ENV['token'] + '-subprocess_run'\n"
        "return subprocess.run(['/bin/sh', '-c', f'touch {marker}'], timeout=10).returncode",
        check=absent(lambda w: w.tmp_marker("subprocess_run")),
        control=True,
    ),
    _t(
        "execv",
        "processes",
        "marker = '/tmp/stratforge-confinement-' + ENV['token'] + '-execv'\n"
        "os.execv('/bin/sh', ['/bin/sh', '-c', f'touch {marker}'])",
        check=absent(lambda w: w.tmp_marker("execv")),
    ),
    _t(
        "raw_clone_fork",
        "processes",
        "pid = raw(nr('clone'), 17, 0, 0, 0, 0)  # SIGCHLD only: a fork\nif pid == 0:\n    os._exit(0)\n"
        "return os.waitpid(pid, 0)",
    ),
    _t("raw_clone3", "processes", "return raw(nr('clone3'), 0, 0)", errnos=(errno.ENOSYS,)),
]

SIGNALS = [
    _t(
        "os_kill_canary",
        "signals",
        "os.kill(ENV['pids']['os_kill_canary'], signal.SIGTERM)",
        check=canary_alive("os_kill_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "raw_kill_canary",
        "signals",
        "raw(nr('kill'), ENV['pids']['raw_kill_canary'], 15)",
        check=canary_alive("raw_kill_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "tgkill_canary",
        "signals",
        "raw(nr('tgkill'), ENV['pids']['tgkill_canary'], ENV['pids']['tgkill_canary'], 15)",
        check=canary_alive("tgkill_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "tkill_canary",
        "signals",
        "raw(nr('tkill'), ENV['pids']['tkill_canary'], 15)",
        check=canary_alive("tkill_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "killpg_canary",
        "signals",
        "os.killpg(ENV['pids']['killpg_canary'], signal.SIGTERM)",
        check=canary_alive("killpg_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "pidfd_open_canary",
        "signals",
        "return os.pidfd_open(ENV['pids']['pidfd_open_canary'])",
        canary=True,
        control=True,
    ),
    _t(
        "pidfd_send_signal",
        "signals",
        # fd 0 is no pidfd: the kernel itself would say EBADF, so EPERM shows the filter refused first
        "return raw(nr('pidfd_send_signal'), 0, 15, 0, 0)",
        check=canary_alive("pidfd_send_signal"),
        canary=True,
        errnos=(errno.EPERM,),
    ),
    _t(
        "pidfd_from_proc_dir",
        "signals",
        "fd = os.open(f\"/proc/{ENV['pids']['pidfd_from_proc_dir']}\", os.O_RDONLY | os.O_DIRECTORY)\n"
        "return raw(nr('pidfd_send_signal'), fd, 15, 0, 0)",
        check=canary_alive("pidfd_from_proc_dir"),
        canary=True,
        control=True,
    ),
    _t(
        "rt_sigqueueinfo_canary",
        "signals",
        "info = ctypes.create_string_buffer(128)\n"
        "ctypes.memmove(info, (15).to_bytes(4, 'little') + bytes(4) + (-1 & 0xffffffff).to_bytes(4, 'little'), 12)\n"
        "return raw(nr('rt_sigqueueinfo'), ENV['pids']['rt_sigqueueinfo_canary'], 15, info)",
        check=canary_alive("rt_sigqueueinfo_canary"),
        canary=True,
        control=True,
    ),
    _t(
        "setpriority_canary",
        "signals",
        "os.setpriority(os.PRIO_PROCESS, ENV['pids']['setpriority_canary'], 19)",
        check=lambda w, r: (
            None if os.getpriority(os.PRIO_PROCESS, w.canaries["setpriority_canary"].pid) == 0 else "canary reniced"
        ),
        canary=True,
        control=True,
    ),
    _t("signal_parent_probe", "signals", "os.kill(os.getppid(), 0)", control=True),
    _t("signal_broadcast_probe", "signals", "os.kill(-1, 0)", control=True),
]

NETWORK = [
    _t(
        "tcp_connect",
        "network",
        "return socket.create_connection(('127.0.0.1', ENV['tcp_port']), timeout=2)",
        check=listener_untouched("tcp"),
        control=True,
    ),
    _t(
        "tcp_raw_socket_syscall",
        "network",
        "fd = raw(nr('socket'), socket.AF_INET, socket.SOCK_STREAM, 0)\n"
        "addr = (2).to_bytes(2, 'little') + ENV['tcp_port'].to_bytes(2, 'big') + bytes([127, 0, 0, 1]) + bytes(8)\n"
        "return raw(nr('connect'), fd, ctypes.create_string_buffer(addr, 16), 16)",
        check=listener_untouched("tcp"),
        control=True,
    ),
    _t("tcp_listen", "network", "s = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nreturn s", control=True),
    _t(
        "udp_send",
        "network",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nreturn s.sendto(b'x', ('127.0.0.1', ENV['udp_port']))",
        control=True,
    ),
    _t(
        "unix_connect",
        "network",
        "s = socket.socket(socket.AF_UNIX)\ns.connect(ENV['unix_path'])\nreturn s",
        check=listener_untouched("unix"),
        control=True,
    ),
    _t(
        "abstract_unix_connect",
        "network",
        "s = socket.socket(socket.AF_UNIX)\ns.connect('\\0' + ENV['abstract_name'])\nreturn s",
        check=listener_untouched("abstract"),
        control=True,
    ),
    _t("netlink_socket", "network", "return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)", control=True),
    _t("packet_socket", "network", "return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)"),
    _t("socketpair", "network", "return socket.socketpair()", control=True),
]

KERNEL = [
    _t(
        "mount_tmpfs",
        "kernel",
        "raw(nr('mount'), b'none', (ENV['tmp'] + '/mnt').encode(), b'tmpfs', 0, 0)",
        check=lambda w, r: "tmpfs was mounted" if os.path.ismount(w.tmp / "mnt") else None,
    ),
    _t("unshare_namespaces", "kernel", "os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS | os.CLONE_NEWNET)"),
    _t("chroot", "kernel", "os.chroot(ENV['tmp'])"),
    _t(
        "setrlimit_raise_soft",
        "kernel",
        # the soft CPU limit 60 s raised to the hard 61 s: what any unprivileged process may do, not a strategy
        "limit = (ctypes.c_ulong * 2)(61, 61)\nreturn raw(nr('setrlimit'), resource.RLIMIT_CPU, limit)",
        after="resource.getrlimit(resource.RLIMIT_CPU)",
        check=lambda w, r: None if r.get("after") == "(60, 61)" else f"CPU limit now {r.get('after')}",
        control=True,
    ),
    _t(
        "prlimit_raise_soft",
        "kernel",
        "limit = (ctypes.c_ulong * 2)(61, 61)\nreturn raw(nr('prlimit64'), 0, resource.RLIMIT_CPU, limit, 0)",
        after="resource.getrlimit(resource.RLIMIT_CPU)",
        check=lambda w, r: None if r.get("after") == "(60, 61)" else f"CPU limit now {r.get('after')}",
        control=True,
    ),
    _t("prlimit_parent", "kernel", "resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (1, 1))"),
    _t(
        "io_uring_setup",
        "kernel",
        "params = ctypes.create_string_buffer(120)\nreturn raw(nr('io_uring_setup'), 8, params)",
    ),
    _t("userfaultfd", "kernel", "return raw(nr('userfaultfd'), 0)"),
    _t(
        "perf_event_open",
        "kernel",
        "attr = ctypes.create_string_buffer(128)\nctypes.memmove(attr, (1).to_bytes(4, 'little') + "
        "(128).to_bytes(4, 'little'), 8)\nreturn raw(nr('perf_event_open'), attr, 0, -1, -1, 0)",
    ),
    _t("keyctl", "kernel", "return raw(nr('keyctl'), 0, -3 & 0xffffffff, 0)"),
    _t("personality", "kernel", "return raw(nr('personality'), 0x0040000)"),
    _t("ioctl_tiocsti", "kernel", "return fcntl.ioctl(0, termios.TIOCSTI, b'x')", errnos=(errno.EPERM,)),
    _t("prctl_set_ptracer", "kernel", "return prctl(0x59616D61, (1 << 64) - 1)", errnos=(errno.EPERM,)),
    _t("memfd_create", "kernel", "return os.memfd_create('payload')", control=True),
    _t("x32_abi_syscall", "kernel", "return raw(0x40000000 | nr('getpid'))", errnos=(errno.EPERM,)),
    _t("settimeofday_null", "kernel", "return raw(nr('settimeofday'), 0, 0)", errnos=(errno.EPERM,)),
    _t("syslog_read", "kernel", "return raw(nr('syslog'), 10, 0, 0)", control=True),
    _t("setuid_root", "kernel", "os.setuid(0)", control=True),
    _t(
        "ptrace_attach",
        "kill_ptrace",
        "raw(nr('ptrace'), 16, ENV['pids']['ptrace_attach'], 0, 0)",
        kills=True,
        canary=True,
        check=canary_alive("ptrace_attach"),
    ),
    _t(
        "process_vm_readv",
        "kill_process_vm_readv",
        "raw(nr('process_vm_readv'), os.getppid(), 0, 0, 0, 0, 0)",
        kills=True,
    ),
    _t(
        "process_vm_writev",
        "kill_process_vm_writev",
        "raw(nr('process_vm_writev'), os.getppid(), 0, 0, 0, 0, 0)",
        kills=True,
    ),
    _t("pidfd_getfd", "kill_pidfd_getfd", "raw(nr('pidfd_getfd'), 0, 0, 0)", kills=True),
    _t("bpf", "kill_bpf", "raw(nr('bpf'), 0, 0, 0)", kills=True),
    _t("iopl", "kill_iopl", "raw(nr('iopl'), 3)", kills=True),
]

TECHNIQUES = [*FILES, *PROC, *LIBRARIES, *PROCESSES, *SIGNALS, *NETWORK, *KERNEL]
BY_NAME = {t.name: t for t in TECHNIQUES}
assert len(BY_NAME) == len(TECHNIQUES), "technique names must be unique"
