"""What a confined strategy process must still be able to do: compute with numpy, pandas and pyarrow,
import more from its read roots, read time-zone data, run threads (the faulthandler watchdog among them),
write to the pipe it kept, allocate memory, read clocks and random bytes, and signal itself.

Each is (name, body, after) like an attack technique, but must succeed; ``EXPECTED`` holds the value some
of them must return (its ``repr``).
"""

from __future__ import annotations

from tests.strategy.confinement._harness import Source

WORKS: list[Source] = [
    (
        "rolling_and_ewm",
        "s = pd.Series(np.arange(100, dtype=float))\n"
        "return (float(s.rolling(10).mean().iloc[-1]), round(float(s.ewm(span=10).mean().iloc[-1]), 4),"
        " int(pd.DataFrame({'a': s, 'b': s * 2}).rolling(5).sum().iloc[-1].sum()))",
        "",
    ),
    (
        "lazy_pandas_submodule",
        "loaded_before = 'pandas.tseries.holiday' in sys.modules\nimport pandas.tseries.holiday\n"
        "return (loaded_before, pandas.tseries.holiday.USFederalHolidayCalendar().holidays('2024-01-01',"
        " '2024-12-31').size)",
        "",
    ),
    (
        "lazy_extension_module",
        "loaded_before = 'pyarrow._csv' in sys.modules\nimport pyarrow.csv\n"
        "return (loaded_before, pyarrow.csv.read_csv(pa.BufferReader(b'a\\n1\\n2')).num_rows)",
        "",
    ),
    (
        "lazy_stdlib_module",
        # statistics loads the _statistics extension module from lib-dynload
        "loaded_before = '_statistics' in sys.modules\nimport statistics\n"
        "return (loaded_before, statistics.median_grouped([1, 2, 2, 3, 4]))",
        "",
    ),
    (
        "zoneinfo_new_york",
        "import datetime\nzone = zoneinfo.ZoneInfo('America/New_York')\n"
        "winter = datetime.datetime(2024, 1, 15, tzinfo=zone).utcoffset()\n"
        "summer = pd.Timestamp('2024-07-01 12:00', tz='America/New_York').utcoffset()\n"
        "return (winter.total_seconds() / 3600, summer.total_seconds() / 3600)",
        "",
    ),
    (
        "thread_start_join",
        "box = []\nthread = threading.Thread(target=lambda: box.append(sum(range(1000))))\n"
        "thread.start()\nthread.join(5)\nreturn box",
        "",
    ),
    (
        "faulthandler_watchdog",
        "faulthandler.dump_traceback_later(30)\ntime.sleep(0.01)\nfaulthandler.cancel_dump_traceback_later()\n"
        "return 'ok'",
        "",
    ),
    ("write_kept_pipe", "return os.write(ENV['pipe_fd'], b'written-after-confinement')", ""),
    (
        "unkept_descriptor_closed",
        "try:\n    os.fstat(ENV['unkept_fd'])\nexcept OSError as exc:\n    return errno.errorcode[exc.errno]\n"
        "return 'still open'",
        "",
    ),
    (
        "pyarrow_compute_threads",
        "table = pa.table({'x': np.arange(100000)})\n"
        "return (pc.sum(table['x']).as_py(), int(table.to_pandas(use_threads=True)['x'].sum()))",
        "",
    ),
    (
        "signal_itself",
        "hits = []\nsignal.signal(signal.SIGUSR1, lambda *_: hits.append(1))\n"
        "signal.raise_signal(signal.SIGUSR1)\nos.kill(os.getpid(), signal.SIGUSR1)\n"
        "signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)\nreturn len(hits)",
        "",
    ),
    (
        "clocks_and_randomness",
        "start = time.monotonic()\ntime.sleep(0.01)\n"
        "return (time.time() > 1.7e9, time.monotonic() > start, time.process_time() > 0, len(os.urandom(16)),"
        " bool(np.isfinite(np.random.default_rng().normal())), time.localtime().tm_year > 2000)",
        "",
    ),
    (
        "allocate_memory",
        "big = np.ones(20_000_000)\ntotal = float(big.sum())\ndel big\nbuf = bytearray()\n"
        "for _ in range(200):\n    buf += bytes(100_000)\nreturn (total, len(buf))",
        "",
    ),
    ("read_own_limits", "return resource.getrlimit(resource.RLIMIT_CPU)", ""),
    ("kernel_says_confined", "return (prctl(21), prctl(39))  # PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS", ""),
    (
        "format_traceback",
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    return 'ZeroDivisionError' in traceback.format_exc()",
        "",
    ),
    ("cpu_count", "return os.cpu_count() is not None and os.cpu_count() >= 1", ""),
]

EXPECTED = {
    "rolling_and_ewm": "(94.5, 94.5, 1455)",
    "lazy_pandas_submodule": "(False, 11)",
    "lazy_extension_module": "(False, 2)",
    "lazy_stdlib_module": "(False, 2.25)",
    "zoneinfo_new_york": "(-5.0, -4.0)",
    "thread_start_join": "[499500]",
    "faulthandler_watchdog": "'ok'",
    "write_kept_pipe": "25",
    "unkept_descriptor_closed": "'EBADF'",
    "pyarrow_compute_threads": "(4999950000, 4999950000)",
    "signal_itself": "3",
    "clocks_and_randomness": "(True, True, True, 16, True, True)",
    "allocate_memory": "(20000000.0, 20000000)",
    "read_own_limits": "(60, 61)",
    "kernel_says_confined": "(2, 1)",
    "format_traceback": "True",
    "cpu_count": "True",
}
