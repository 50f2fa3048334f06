"""The escape techniques: strategy sources an attacker would write, by category.

Each is the body of ``def run():`` (or, with ``full=True``, a whole source defining ``Evil``, a Strategy class
driven through ``core.backtest.sandboxed:run_detailed``). ``E`` (a module-level dict the test writes into the
source) holds what an attacker could guess or learn: paths, ports, pids. Bodies try the thing outright and
return what they got; a refusal raising is as good as a refusal returned, because the test judges the outcome
from outside (no secret in what came back, no side effect), never from the strategy's word.

``stopped``: the technique must end in a ``StrategyError`` (a loop, a bomb, a flood that must not finish).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from core.strategy.sandbox import StrategyCrashed, StrategyOutOfMemory, StrategyTimedOut

RUN_DETAILED = "core.backtest.sandboxed:run_detailed"


@dataclass(frozen=True)
class Technique:
    name: str
    category: str
    body: str
    full: bool = False  # body is a whole source with a Strategy class ``Evil`` (run through run_detailed)
    cpu: float = 5.0
    wall: float | None = None
    memory_mb: int = 512
    fresh: bool = False  # a FreshLauncher host (python -I -B _host.py, pytest its parent) instead of the template
    stopped: tuple[type[Exception], ...] = ()  # if set, the call must raise one of these (or be rejected)
    flood: bool = False  # the parent's RSS is watched closely (it always is, loosely)

    @property
    def entry(self) -> str:
        return "Evil" if self.full else "run"

    @property
    def driver(self) -> str | None:
        return RUN_DETAILED if self.full else None

    def source(self, env: dict[str, object]) -> str:
        head = f"E = {env!r}\n\n"
        if self.full:
            return head + textwrap.dedent(self.body)
        return head + "def run():\n" + textwrap.indent(textwrap.dedent(self.body).strip("\n"), "    ") + "\n"


def _t(name: str, category: str, body: str, **kwargs: object) -> Technique:
    return Technique(name, category, body, **kwargs)  # type: ignore[arg-type]


def _f(name: str, category: str, body: str, **kwargs: object) -> Technique:
    """A reply-forging technique: the frame-building helpers, then ``body``."""
    return _t(name, category, _FORGE + textwrap.dedent(body), **kwargs)


_FORGE = """
import os, struct, json
def payload(doc, n_arrays=0, table=b""):
    return struct.pack("<4sHHII", b"SFW1", 1, 0, len(doc), n_arrays) + table + doc
def frame(body):
    return b"SFWF" + struct.pack("<Q", len(body)) + body
def to_reply_fd(data):
    hit = []
    for fd in range(3, 11):
        try:
            os.write(fd, data)
            hit.append(fd)
        except OSError:
            pass
    return hit
"""

# fmt: off
BUILTINS = [
    _t("np_ma_core_builtins_open", "builtins", """
        import numpy as np
        return np.ma.core.builtins.open(E["canary"]).read()
    """),
    _t("typing_sys_modules_os", "builtins", """
        import typing
        os = typing.sys.modules["os"]
        return os.read(os.open(E["canary"], os.O_RDONLY), 200).decode()
    """),
    _t("pd_compat_io_common_open", "builtins", """
        import pandas as pd
        with pd.io.common.get_handle(E["canary"], "r") as handles:
            return handles.handle.read()
    """),
    _t("subclasses_wrap_close_globals", "builtins", """
        for c in ().__class__.__bases__[0].__subclasses__():
            if c.__name__ == "_wrap_close":
                g = c.__init__.__globals__
                g["system"]("touch " + E["out"])
                return g["read"](g["open"](E["canary"], 0), 200).decode()
        return "no _wrap_close"
    """),
    _t("functools_namedtuple_sys", "builtins", """
        import functools
        os = functools.namedtuple.__globals__["_sys"].modules["os"]
        return os.read(os.open(E["canary"], os.O_RDONLY), 200).decode()
    """),
    _t("dataclasses_create_fn_exec", "builtins", """
        import dataclasses
        fn = dataclasses._create_fn("f", [], ["return __import__('os').open(" + repr(E["canary"]) + ", 0)"],
                                    globals={})
        os = dataclasses.sys.modules["os"]
        return os.read(fn(), 200).decode()
    """),
    _t("collections_sys_modules", "builtins", """
        import collections
        sp = collections._sys.modules["subprocess"] if "subprocess" in collections._sys.modules else None
        io = collections._sys.modules["io"]
        return [io.open(E["canary"]).read(), sp and sp.run(["touch", E["out"]])]
    """),
    _t("generator_frame_builtins", "builtins", """
        g = (x for x in [1])
        b = g.gi_frame.f_builtins
        return b["open"](E["canary"]).read()
    """),
    _t("builtins_dict_import", "builtins", """
        imp = __builtins__["__import__"] if isinstance(__builtins__, dict) else __builtins__.__import__
        return imp("os").popen("cat " + E["canary"]).read()
    """),
    _t("importlib_via_sys_modules", "builtins", """
        import typing
        importlib = typing.sys.modules["importlib"]
        shutil = importlib.import_module("shutil")
        return shutil.copy(E["canary"], E["out"])
    """),
]

AUDIT = [
    _t("addaudithook_noop", "audit", """
        import sys
        sys.addaudithook(lambda event, args: None)
        return open(E["canary"]).read()
    """),
    _t("sys_audit_replaced", "audit", """
        import sys, io
        sys.audit = lambda *a: None
        return io.open(E["canary"]).read()
    """),
    _t("gc_referrers_hook_closure", "audit", """
        import gc, sys
        flipped = []
        for obj in gc.get_objects():
            if type(obj).__name__ == "function" and obj.__name__ == "audit" and obj.__closure__:
                for cell in obj.__closure__:
                    if cell.cell_contents is False:
                        cell.cell_contents = True  # "busy": the hook then waves everything through
                        flipped.append(obj)
        for ref in gc.get_referrers(sys.addaudithook):
            flipped.append(type(ref).__name__)
        return [str(flipped), open(E["canary"]).read()]
    """),
    _t("hook_raising_base_exception", "audit", """
        import sys
        def hook(event, args):
            if event == "open":
                raise SystemExit  # tries to abort the host's own hook chain
        sys.addaudithook(hook)
        try:
            open(E["canary"]).read()
        except SystemExit:
            pass
        return open(E["canary"]).read()
    """),
    _t("pathlib_module_spoof", "audit", """
        import pathlib
        class P(pathlib.PurePosixPath):
            __module__ = "pathlib"
            def __str__(self):
                return pathlib.__file__  # what a hook checking str(path) would see: inside the read roots
            def __fspath__(self):
                return E["canary"]
        return open(P("x")).read()
    """),
    _t("settrace_profile_tamper", "audit", """
        import sys
        sys.settrace(lambda *a: None)
        sys.setprofile(lambda *a: None)
        import os
        return os.read(os.open(E["canary"], os.O_RDONLY), 100).decode()
    """),
]

NATIVE = [
    _t("posixsubprocess_fork_exec", "native", """
        import _posixsubprocess, os
        args = [b"/bin/sh", b"-c", ("touch " + E["out"]).encode()]
        pid = _posixsubprocess.fork_exec(args, [b"/bin/sh"], True, (), None, None, -1, -1, -1, -1, -1, -1,
                                         *os.pipe(), False, False, -1, None, None, None, -1, None, False)
        return pid
    """, fresh=True),
    _t("posix_spawn", "native", """
        import os
        return os.posix_spawn("/bin/sh", ["sh", "-c", "touch " + E["out"]], {})
    """),
    _t("os_fork", "native", """
        import os
        pid = os.fork()
        if pid == 0:
            open(E["out"], "w").write("child")
            os._exit(0)
        return pid
    """),
    _t("subprocess_run", "native", """
        import subprocess
        return subprocess.run(["cat", E["canary"]], capture_output=True).stdout.decode()
    """),
    _t("os_system", "native", """
        import os
        return os.system("touch " + E["out"])
    """),
    _t("pickle_reduce_system", "native", """
        import pickle
        return pickle.loads(b"cposix\\nsystem\\n(S'touch " + E["out"].encode() + b"'\\ntR.")
    """),
    _t("pyarrow_fs_read", "native", """
        import pyarrow.fs
        return pyarrow.fs.LocalFileSystem().open_input_stream(E["canary"]).read().decode()
    """),
    _t("pyarrow_fs_write", "native", """
        import pyarrow.fs
        with pyarrow.fs.LocalFileSystem().open_output_stream(E["out"]) as out:
            out.write(b"x")
        return "written"
    """),
    _t("pyarrow_csv_read", "native", """
        import pyarrow.csv
        return str(pyarrow.csv.read_csv(E["canary_csv"]).to_pydict())
    """),
    _t("pd_read_parquet", "native", """
        import pandas as pd
        return pd.read_parquet(E["canary_parquet"])["secret"].tolist()
    """),
    _t("pd_to_parquet", "native", """
        import pandas as pd
        pd.DataFrame({"a": [1]}).to_parquet(E["out"])
        return "written"
    """),
    _t("pd_read_csv", "native", """
        import pandas as pd
        return pd.read_csv(E["canary_csv"])["secret"].tolist()
    """),
    _t("np_fromfile", "native", """
        import numpy as np
        return np.fromfile(E["canary_bin"], dtype=np.uint8).tobytes().decode()
    """),
    _t("np_tofile", "native", """
        import numpy as np
        np.arange(3.0).tofile(E["out"])
        return "written"
    """),
    _t("np_memmap", "native", """
        import numpy as np
        read = np.memmap(E["canary_bin"], dtype=np.uint8, mode="r").tobytes().decode()
        np.memmap(E["out"], dtype=np.uint8, mode="w+", shape=(8,))
        return read
    """),
    _t("mmap_module", "native", """
        import mmap, os
        fd = os.open(E["canary"], os.O_RDONLY)
        return mmap.mmap(fd, 0, prot=mmap.PROT_READ)[:].decode()
    """),
]

MEMORY = [
    _t("as_strided_heap_read", "memory", """
        import numpy as np
        base = np.zeros(8, dtype=np.uint8)
        view = np.lib.stride_tricks.as_strided(base, shape=(1 << 20,), strides=(1,))
        return bytes(view).decode("latin-1")
    """),
    _t("array_interface_arbitrary_address", "memory", """
        import numpy as np
        class Fake:
            __array_interface__ = {"shape": (4096,), "typestr": "|u1", "data": (0x1000, True), "version": 3}
        return bytes(np.asarray(Fake())).decode("latin-1")
    """),
    _t("ctypeslib_system", "memory", """
        import numpy as np
        ctypes = np.ctypeslib.ctypes
        return ctypes.CDLL(None).system(("touch " + E["out"]).encode())
    """),
    _t("ctypes_syscall_openat", "memory", """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(257, -100, E["canary"].encode(), 0, 0)
        return os.read(fd, 200).decode() if fd >= 0 else "errno %d" % ctypes.get_errno()
    """),
    _t("ctypes_string_at_wild", "memory", """
        import ctypes
        return ctypes.string_at(0x10000, 64).decode("latin-1")
    """),
]

SECRETS = [
    _t("proc_ppid_environ", "secrets", """
        import os
        return [open("/proc/%d/environ" % os.getppid(), "rb").read().decode("latin-1"),
                open("/proc/%d/environ" % E["pytest_pid"], "rb").read().decode("latin-1")]
    """),
    _t("proc_parent_environ_fresh", "secrets", """
        import os
        return open("/proc/%d/environ" % os.getppid(), "rb").read().decode("latin-1")
    """, fresh=True),
    _t("proc_pytest_mem", "secrets", """
        pid = E["pytest_pid"]
        found = []
        with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb") as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if "rw" in perms:
                    lo, hi = (int(x, 16) for x in span.split("-"))
                    mem.seek(lo)
                    found.append(mem.read(min(hi - lo, 1 << 22)).decode("latin-1"))
        return "".join(found)
    """),
    _t("proc_canary_environ_and_mem", "secrets", """
        pid = E["canary_pid"]
        return open("/proc/%d/environ" % pid, "rb").read().decode("latin-1")
    """),
    _t("proc_self_dotdot", "secrets", """
        import os
        out = []
        for path in ("/proc/self/../%d/environ" % E["pytest_pid"], "/proc/self/root" + E["canary"],
                     "/proc/self/cwd/../../" + E["canary"], "/proc/%d/cwd/canary.txt" % E["pytest_pid"]):
            try:
                out.append(open(path, "rb").read().decode("latin-1"))
            except OSError as exc:
                out.append(repr(exc))
        return out
    """),
    _t("ssh_keys", "secrets", """
        import os, glob
        out = []
        for pattern in (os.path.expanduser("~/.ssh/*"), "/root/.ssh/*", "/home/*/.ssh/*", E["home"] + "/.ssh/*"):
            for path in glob.glob(pattern):
                try:
                    out.append(open(path).read())
                except OSError as exc:
                    out.append(repr(exc))
        out.append(open(E["home"] + "/.ssh/id_ed25519").read())
        return out
    """),
    _t("app_config_and_keyring", "secrets", """
        import os
        out = []
        for path in (E["data_dir"] + "/settings.json", E["data_dir"] + "/python_keyring/keyring_pass.cfg",
                     os.path.expanduser("~/.local/share/StratForge/settings.json"),
                     os.path.expanduser("~/.local/share/python_keyring/keyring_pass.cfg"),
                     os.path.expanduser("~/.local/share/keyrings/login.keyring")):
            try:
                out.append(open(path).read())
            except OSError as exc:
                out.append(repr(exc))
        return out
    """),
    _t("etc_shadow", "secrets", """
        return open("/etc/shadow").read() + open("/etc/passwd").read()
    """),
    _t("own_environment", "secrets", """
        import os
        return dict(os.environ)
    """),
    _t("list_outside_folder", "secrets", """
        import os
        return os.listdir(E["tmp"]) + os.listdir("/tmp") + os.listdir("/")
    """),
    _t("inherited_fd_scan", "secrets", """
        import os
        out = {}
        for fd in range(0, 64):
            if fd in (0, 1, 2):
                continue
            try:
                os.lseek(fd, 0, 0)
                out[str(fd)] = os.read(fd, 4096).decode("latin-1")
            except OSError as exc:
                out[str(fd)] = repr(exc)
        return out
    """),
]

WRITES = [
    _t("write_tmp", "writes", """
        open(E["tmp_out"], "w").write("escaped")
        return "written"
    """, fresh=True),
    _t("write_world_folder", "writes", """
        import os
        fd = os.open(E["out"], os.O_CREAT | os.O_WRONLY, 0o644)
        return os.write(fd, b"escaped")
    """),
    _t("write_data_dir", "writes", """
        open(E["data_dir"] + "/settings.json", "a").write("tampered")
        open(E["data_dir"] + "/x-" + E["marker"], "w").write("x")
        return "written"
    """),
    _t("write_site_packages_pth", "writes", """
        open(E["purelib"] + "/zz-" + E["marker"] + ".pth", "w").write("import os; os.system('id')\\n")
        return "written"
    """),
    _t("poison_app_pycache", "writes", """
        pycache = E["core_dir"] + "/_" + "_pycache_" + "_"
        open(pycache + "/config-" + E["marker"] + ".pyc", "wb").write(b"\\0" * 16)
        return "written"
    """),
    _t("mkfifo", "writes", """
        import os
        os.mkfifo(E["out"])
        return "made"
    """),
    _t("symlink", "writes", """
        import os
        os.symlink("/etc/shadow", E["out"])
        return "linked"
    """),
    _t("unlink_rename_victim", "writes", """
        import os
        out = []
        for action in (lambda: os.rename(E["victim"], E["out"]), lambda: os.unlink(E["victim"]),
                       lambda: os.truncate(E["victim"], 0), lambda: os.chmod(E["canary"], 0o777)):
            try:
                out.append(action())
            except OSError as exc:
                out.append(repr(exc))
        return str(out)
    """),
]

NETWORK = [
    _t("tcp_connect_listener", "network", """
        import socket
        s = socket.create_connection(("127.0.0.1", E["tcp_port"]), timeout=2)
        s.sendall(b"hello")
        return "connected"
    """),
    _t("tcp6_connect", "network", """
        import socket
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("::ffff:127.0.0.1", E["tcp_port"]))
        return "connected"
    """),
    _t("udp_sendto", "network", """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return s.sendto(b"hello", ("127.0.0.1", E["udp_port"]))
    """),
    _t("unix_socket_path", "network", """
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(E["unix_path"])
        return "connected"
    """),
    _t("abstract_unix_socket", "network", """
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\\0" + E["abstract_name"])
        return "connected"
    """),
    _t("netlink_socket", "network", """
        import socket
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
        s.bind((0, 0))
        return "bound"
    """),
    _t("packet_socket", "network", """
        import socket
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0x0300)
        return s.recv(2048).hex()
    """),
    _t("dns_lookup", "network", """
        import socket
        return str(socket.getaddrinfo("example.com", 443))
    """),
]

PROCESSES = [
    _t("kill_canary", "processes", """
        import os
        os.kill(E["canary_pid"], 9)
        return "killed"
    """),
    _t("stop_canary_group", "processes", """
        import os, signal
        os.killpg(E["canary_pid"], signal.SIGSTOP)
        return "stopped"
    """),
    _t("killpg_zero", "processes", """
        import os
        os.killpg(0, 9)
        return "killed own group"
    """),
    _t("signal_pytest", "processes", """
        import os, signal
        os.kill(E["pytest_pid"], signal.SIGUSR2)
        return "signalled"
    """),
    _t("signal_parent_fresh", "processes", """
        import os, signal
        os.kill(os.getppid(), signal.SIGUSR2)
        return "signalled"
    """, fresh=True),
    _t("kill_template_parent", "processes", """
        import os
        os.kill(os.getppid(), 9)
        return "killed the template"
    """),
    _t("pidfd_via_syscall", "processes", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = libc.syscall(434, E["canary_pid"], 0)
        sent = libc.syscall(424, pidfd, 9, None, 0)
        return [pidfd, sent, ctypes.get_errno()]
    """),
    _t("ptrace_attach", "processes", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(101, 16, E["canary_pid"], 0, 0)
    """),
    _t("process_vm_readv", "processes", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(64)
        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        local = iovec(ctypes.addressof(buf), 64)
        remote = iovec(0x400000, 64)
        n = libc.syscall(310, E["canary_pid"], ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        return [n, buf.raw.decode("latin-1")]
    """),
    _t("setsid_double_fork", "processes", """
        import os, time
        os.setsid()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        return "forked"
    """),
    _t("prctl_tricks", "processes", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return [libc.prctl(4, 1, 0, 0, 0), libc.prctl(0x59616D61, -1, 0, 0, 0), libc.prctl(36, 1, 0, 0, 0),
                libc.prctl(1, 9, 0, 0, 0), libc.prctl(38, 0, 0, 0, 0)]
    """),
]

REPLIES = [
    _f("forge_ok_frame_then_hang", "replies", """
        doc = json.dumps({"kind": "ok", "value": "forged", "output": "", "cpu_seconds": 0.0}).encode()
        hit = to_reply_fd(frame(payload(doc)))
        while True:
            pass
    """, cpu=2),
    _f("forge_garbage_then_return", "replies", """
        to_reply_fd(b"garbage that is no frame at all" * 10)
        return "normal"
    """),
    _f("forge_oversized_length", "replies", """
        to_reply_fd(b"SFWF" + struct.pack("<Q", 1 << 62))
        return "normal"
    """),
    _f("forge_truncated_frame_then_exit", "replies", """
        to_reply_fd(b"SFWF" + struct.pack("<Q", 1000) + b"0123456789")
        os._exit(0)
    """),
    _f("forge_deep_json", "replies", """
        doc = b'{"kind": "ok", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        to_reply_fd(frame(payload(doc)))
        return "normal"
    """),
    _f("forge_structured_dtype_entry", "replies", """
        entry = struct.pack("<BB6s4qQQ", 99, 1, b"", 1 << 40, 0, 0, 0, 128, 1 << 50)
        doc = b'{"kind": "ok", "value": {"$a": 0}}'
        to_reply_fd(frame(payload(doc, 1, entry)))
        return "normal"
    """),
    _f("forge_bad_fields_then_hang", "replies", """
        doc = json.dumps({"kind": "crashed", "line": -5, "message": "x" * 200_000, "trace": "no"}).encode()
        to_reply_fd(frame(payload(doc)))
        import time
        time.sleep(600)
    """, wall=3),
]

FLOODS = [
    _t("stderr_flood_1gib", "floods", """
        import os
        chunk = b"E" * (1 << 20)
        for _ in range(1024):
            os.write(2, chunk)
        return "flooded"
    """, cpu=30, wall=45, flood=True),
    _t("stdout_fd1_flood_1gib", "floods", """
        import os
        chunk = b"O" * (1 << 20)
        for _ in range(1024):
            os.write(1, chunk)
        return "flooded"
    """, cpu=30, wall=45, flood=True),
    _t("print_100mb", "floods", """
        print("P" * 100_000_000)
        return "printed"
    """, flood=True),
    _t("huge_return_value", "floods", """
        return "R" * 60_000_000
    """, flood=True),
]

EXHAUSTION = [
    _t("python_memory_bomb", "exhaustion", """
        hoard = []
        while True:
            hoard.append(bytearray(10**6))
    """, memory_mb=256, stopped=(StrategyOutOfMemory,)),
    _t("numpy_memory_bomb", "exhaustion", """
        import numpy as np
        return float(np.ones((100_000, 100_000)).sum())
    """, memory_mb=256, stopped=(StrategyOutOfMemory, StrategyCrashed)),
    _t("while_true", "exhaustion", """
        n = 0
        while True:
            n += 1
    """, cpu=1, wall=20, stopped=(StrategyTimedOut,)),
    _t("long_c_call_linalg", "exhaustion", """
        import numpy as np
        a = np.random.default_rng(0).random((3000, 3000))
        return np.linalg.eigvals(a).tolist()
    """, cpu=1, wall=20, stopped=(StrategyTimedOut,)),
    _t("thread_bomb", "exhaustion", """
        import threading, time
        n = 0
        try:
            while n < 5000:
                threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
                n += 1
        except RuntimeError as exc:
            return [n, repr(exc)]
        return n
    """),
    _t("fd_exhaustion", "exhaustion", """
        import os
        fds = []
        try:
            while len(fds) < 100_000:
                fds.extend(os.pipe())
        except OSError as exc:
            return [len(fds), repr(exc)]
        return len(fds)
    """),
    _t("recursion", "exhaustion", """
        def f(n):
            return f(n + 1) + 1
        return f(0)
    """, stopped=(StrategyCrashed,)),
    _t("deep_nested_value", "exhaustion", """
        x = []
        for _ in range(1_000_000):
            x = [x]
        return x
    """, stopped=(StrategyCrashed,)),
]

TIME = [
    _t("disarm_itimer_then_loop", "time", """
        import signal
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)
        while True:
            pass
    """, cpu=1, wall=30, stopped=(StrategyTimedOut,)),
    _t("block_sigprof_then_loop", "time", """
        import signal, faulthandler
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
        faulthandler.unregister(signal.SIGPROF)
        while True:
            pass
    """, cpu=1, wall=30, stopped=(StrategyTimedOut,)),
    _t("cancel_watchdog_then_hang", "time", """
        import faulthandler, time
        faulthandler.cancel_dump_traceback_later()
        time.sleep(3600)
    """, wall=1.5, stopped=(StrategyTimedOut,)),
    _t("disarm_itimer_real_then_hang", "time", """
        import signal, time
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(3600)
    """, wall=1.5, stopped=(StrategyTimedOut,)),
    _t("cancel_watchdog_ignore_signals_block_read", "time", """
        import faulthandler, os, signal
        faulthandler.cancel_dump_traceback_later()
        faulthandler.disable()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        for sig in (signal.SIGPROF, signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        r, w = os.pipe()
        return os.read(r, 1)
    """, wall=1.5, stopped=(StrategyTimedOut,)),
]

_STRATEGY_HEAD = """
import numpy as np
from core.strategy.api import Strategy

"""

DRIVER = [
    _t("strategy_init_reads_canary", "driver", _STRATEGY_HEAD + """
class Evil(Strategy):
    def init(self, data):
        import os
        secret = os.read(os.open(E["canary"], os.O_RDONLY), 200).decode()
        print(secret)
        raise ValueError(secret)

    def next(self, data):
        pass
""", full=True),
    _t("strategy_next_kills_canary", "driver", _STRATEGY_HEAD + """
class Evil(Strategy):
    def init(self, data):
        pass

    def next(self, data):
        import os
        os.kill(E["canary_pid"], 9)
""", full=True),
    _t("strategy_next_disarms_timer_and_loops", "driver", _STRATEGY_HEAD + """
class Evil(Strategy):
    def init(self, data):
        import signal
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)

    def next(self, data):
        while True:
            pass
""", full=True, cpu=1, wall=30, stopped=(StrategyTimedOut,)),
    _t("strategy_writes_from_init", "driver", _STRATEGY_HEAD + """
class Evil(Strategy):
    def init(self, data):
        import numpy
        numpy.arange(3.0).tofile(E["tmp_out"])

    def next(self, data):
        pass
""", full=True),
]

# fmt: on

TECHNIQUES = [*BUILTINS, *AUDIT, *NATIVE, *MEMORY, *SECRETS, *WRITES, *NETWORK, *PROCESSES, *REPLIES, *FLOODS,
              *EXHAUSTION, *TIME, *DRIVER]  # fmt: skip
assert len({t.name for t in TECHNIQUES}) == len(TECHNIQUES)
