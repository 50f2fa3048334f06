"""Reading the sandbox child's reply without trusting it.

``pickle.loads`` on bytes from a process that runs untrusted code would hand that code the
application: a pickle can call any importable function (``os.system`` included). So the reply is
read with an unpickler that resolves only the classes and reconstruction functions that plain data
needs: Python's containers and scalars, dates, decimals, numpy arrays and scalars, and the pandas
objects a strategy plausibly returns (series, frames, indexes, timestamps, their dtypes and arrays).
Anything else is refused with a message naming the type.

What remains trusted is the reconstruction code of those types (numpy's and pandas' ``__setstate__``);
a child that gets past every other layer could still feed them malformed state. numpy refuses raw
bytes for object arrays; Arrow arrays are fully validated after reconstruction.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any

# (module, name) pairs a reply may reference. Found by pickling representative values (tests keep
# them honest: a pandas upgrade that renames a reconstruction function fails test_sandbox).
_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    [
        *(
            ("builtins", n)
            for n in (
                "complex",
                "list",
                "dict",
                "tuple",
                "set",
                "frozenset",
                "bytearray",
                "bytes",
                "str",
                "int",
                "float",
                "bool",
                "range",
                "slice",
                "Ellipsis",
                "NotImplemented",
            )
        ),
        *(("datetime", n) for n in ("date", "datetime", "time", "timedelta", "timezone")),
        ("decimal", "Decimal"),
        *(("collections", n) for n in ("OrderedDict", "deque", "Counter", "defaultdict")),
        ("zoneinfo", "ZoneInfo"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        *(
            ("pandas", n)
            for n in (
                "Series",
                "DataFrame",
                "Index",
                "RangeIndex",
                "DatetimeIndex",
                "TimedeltaIndex",
                "PeriodIndex",
                "CategoricalIndex",
                "MultiIndex",
                "Categorical",
                "CategoricalDtype",
                "DatetimeTZDtype",
                "PeriodDtype",
                "StringDtype",
                "BooleanDtype",
                "Int8Dtype",
                "Int16Dtype",
                "Int32Dtype",
                "Int64Dtype",
                "UInt8Dtype",
                "UInt16Dtype",
                "UInt32Dtype",
                "UInt64Dtype",
                "Float32Dtype",
                "Float64Dtype",
                "Period",
                "NA",
            )
        ),
        *(
            ("pandas.arrays", n)
            for n in (
                "ArrowStringArray",
                "BooleanArray",
                "DatetimeArray",
                "TimedeltaArray",
                "PeriodArray",
                "FloatingArray",
                "IntegerArray",
                "StringArray",
            )
        ),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.tslibs.nattype", "_nat_unpickle"),
        ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
        ("pandas.core.indexes.timedeltas", "_new_TimedeltaIndex"),
        ("pandas.core.indexes.period", "_new_PeriodIndex"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
        ("pyarrow.lib", "py_buffer"),
        ("pyarrow.lib", "type_for_alias"),
    ]
)

# Frequencies (``Day``, ``MonthEnd``...) travel inside date indexes; any of pandas' offset classes will do.
_OFFSETS_MODULE = "pandas._libs.tslibs.offsets"


class RefusedReply(pickle.UnpicklingError):
    """The reply names something outside the allow-list (the message names it)."""


def _safe_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` a reply may use: how a zoneinfo time zone pickles itself."""
    import zoneinfo

    if obj is zoneinfo.ZoneInfo and name == "_unpickle":
        return zoneinfo.ZoneInfo._unpickle  # type: ignore[attr-defined]
    raise RefusedReply(f"getattr({getattr(obj, '__name__', type(obj).__name__)}, {name!r})")


def _restore_arrow_array(*args: Any) -> Any:
    """pyarrow's array reconstruction, then a full validation: offsets and lengths from an untrusted
    process must not make later reads run past a buffer."""
    import pyarrow.lib

    array = pyarrow.lib._restore_array(*args)
    array.validate(full=True)
    return array


class _ReplyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _safe_getattr
        if (module, name) == ("pyarrow.lib", "_restore_array"):
            return _restore_arrow_array
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module == _OFFSETS_MODULE and "." not in name and not name.startswith("_"):
            found = getattr(importlib.import_module(module), name, None)
            base = importlib.import_module(module).BaseOffset
            if isinstance(found, type) and issubclass(found, base):
                return found
        raise RefusedReply(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise RefusedReply("a persistent reference")


def loads(data: bytes) -> Any:
    """Unpickle bytes from the sandbox child, resolving only allow-listed globals.

    Raises :class:`RefusedReply` naming the first type outside the allow-list."""
    return _ReplyUnpickler(io.BytesIO(data)).load()
