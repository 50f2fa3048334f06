"""The sandbox reply format (core.strategy.sandbox.wire): what it carries, what it refuses, and that no
forged reply makes the parent raise anything but WireError, allocate from a declared size, recurse, or
wait past a deadline."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
import fcntl
import io
import json
import math
import os
import random
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from core.strategy.sandbox.wire import (
    CappedDrain,
    FrameReader,
    PipeClosed,
    WireError,
    WireLimits,
    decode,
    encode,
    write_frame,
)

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # not in every environment's test extras; the seeded fuzz below always runs
    given = None

pytestmark = pytest.mark.timeout(60)

DEFAULT = WireLimits()
HEADER = struct.Struct("<4sHHII")
ENTRY = struct.Struct("<BB6s4qQQ")


# ------------------------------------------------------------------------------------------------
# helpers


def same(a: Any, b: Any) -> bool:
    """Equality that tells NaN, -0.0 and arrays apart the way a round trip must preserve them."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=")
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
        )
    if isinstance(a, float):
        if type(b) is not float:
            return False
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple):
        return type(b) is list and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def roundtrip(value: Any) -> Any:
    return decode(encode(value))


def forge(
    doc: bytes | str,
    arrays: list[dict[str, Any]] = (),  # type: ignore[assignment]
    *,
    magic: bytes = b"SFW1",
    version: int = 1,
    flags: int = 0,
    doc_len: int | None = None,
    count: int | None = None,
    tail: bytes = b"",
) -> bytes:
    """A payload written by hand, the way an attacker would: every field is settable, and array
    entries default to the canonical layout (code 1, 1-d, data of the declared length)."""
    doc = doc.encode("utf-8") if isinstance(doc, str) else doc
    table_end = HEADER.size + ENTRY.size * len(arrays)
    position = table_end + len(doc)
    entries, body = [], [doc]
    for spec in arrays:
        code = spec.get("code", 1)
        shape = list(spec.get("shape", [len(spec.get("data", b"")) // 8]))
        ndim = spec.get("ndim", len(shape))
        data = spec["data"] if "data" in spec else bytes(8 * math.prod(shape))
        offset = spec.get("offset", (position + 7) & ~7)
        body.append(spec.get("pad", bytes(max(offset - position, 0))))
        body.append(data)
        dims = [*shape, 0, 0, 0, 0][:4]
        entries.append(
            ENTRY.pack(code, ndim, spec.get("reserved", bytes(6)), *dims, offset, spec.get("nbytes", len(data)))
        )
        position = offset + len(data)
    header = HEADER.pack(
        magic, version, flags, len(doc) if doc_len is None else doc_len, len(arrays) if count is None else count
    )
    return b"".join([header, *entries, *body, tail])


def refused(data: Any, *words: str, limits: WireLimits = DEFAULT) -> str:
    """Decode must raise WireError (nothing else) and the message must name the problem."""
    with pytest.raises(WireError) as caught:
        decode(data, limits)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


def encode_refused(value: Any, *words: str, limits: WireLimits = DEFAULT) -> str:
    with pytest.raises(WireError) as caught:
        encode(value, limits=limits)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


# ------------------------------------------------------------------------------------------------
# round trips

SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.0,
    0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    5e-324,
    1.7976931348623157e308,
    1e300,
    "",
    "plain",
    "héllo ✓ 🎉 日本",
    '\x00\n\t"\\ \x7f \u2028',
    "\\ud800 is text here",  # a backslash and letters, not an escape
    '{"$a": 0}',  # the array marker in user text is just text
]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_round_trip(value: Any) -> None:
    assert same(value, roundtrip(value))
    assert same({"k": [value]}, roundtrip({"k": (value,)}))


def test_containers_round_trip_tuples_as_lists_and_order_kept() -> None:
    value = {
        "z": 1,
        "a": [1, (2, 3), [], {}, [[[]]]],
        "nested": {"deeper": {"deepest": [None, {"x": "y"}]}},
        "": "empty key",
    }
    out = roundtrip(value)
    assert out["a"] == [1, [2, 3], [], {}, [[[]]]]
    assert list(out) == ["z", "a", "nested", ""]
    assert out["nested"] == value["nested"]
    assert roundtrip((1, 2)) == [1, 2]


def test_dollar_keys_are_escaped_so_user_dicts_never_pass_for_markers() -> None:
    value = {"$a": 0, "$": 1, "$$": 2, "$$a": 3, "$$$x": {"$a": [0]}, "a$": 4}
    assert roundtrip(value) == value
    assert roundtrip([{"$a": 0}]) == [{"$a": 0}]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(10, dtype=np.float64),
        np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324]),
        np.arange(12, dtype=np.int64).reshape(3, 4) - 6,
        np.array([-128, 0, 127], dtype=np.int8),
        np.array([True, False, True]),
        np.zeros(0),
        np.zeros((3, 0), dtype=np.int64),
        np.zeros((0, 5), dtype=bool),
        np.array(2.5),
        np.array(7, dtype=np.int64),
        np.arange(2 * 3 * 4 * 5, dtype=np.int8).reshape(2, 3, 4, 5),
        np.arange(6, dtype=">f8"),  # big-endian: sent little-endian
        np.arange(6, dtype=">i8").reshape(2, 3),
        np.arange(20.0)[::3],  # not contiguous
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array([2**63 - 1, -(2**63)], dtype=np.int64),
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_arrays_round_trip_read_only_and_little_endian(array: np.ndarray) -> None:
    out = roundtrip({"x": array})["x"]
    assert type(out) is np.ndarray
    assert out.shape == array.shape
    assert out.dtype == array.dtype.newbyteorder("<") or out.dtype == array.dtype
    assert out.dtype.byteorder in "<|=" and out.dtype.isnative
    assert np.array_equal(out, array, equal_nan=array.dtype.kind == "f")
    assert not out.flags.writeable
    assert out.flags.aligned
    if array.dtype.kind == "f" and array.size:
        assert list(np.signbit(out.ravel())) == list(np.signbit(array.ravel()))


def test_arrays_anywhere_and_at_top_level() -> None:
    a, b = np.arange(3.0), np.ones((2, 2), dtype=np.int64)
    out = roundtrip({"first": [a, {"second": b}], "third": a})
    assert np.array_equal(out["first"][0], a) and np.array_equal(out["first"][1]["second"], b)
    assert np.array_equal(out["third"], a) and out["third"] is not out["first"][0]
    assert np.array_equal(roundtrip(a), a)


def test_decoded_arrays_are_read_only_even_over_a_writable_buffer() -> None:
    buffer = bytearray(encode([np.arange(4.0)]))
    out = decode(memoryview(buffer))[0]
    assert not out.flags.writeable
    with pytest.raises(ValueError):
        out[0] = 1.0


def test_numpy_scalars_travel_as_python_scalars() -> None:
    out = roundtrip([np.float64(1.25), np.int64(-3), np.bool_(True), np.float64("nan")])
    assert [type(x) for x in out] == [float, int, bool, float]
    assert out[:3] == [1.25, -3, True] and math.isnan(out[3])


def test_payload_layout_is_the_documented_one() -> None:
    payload = encode({"x": np.arange(3.0)})
    magic, version, flags, doc_len, count = HEADER.unpack_from(payload)
    assert (magic, version, flags, count) == (b"SFW1", 1, 0, 1)
    code, ndim, reserved, *dims, offset, nbytes = ENTRY.unpack_from(payload, HEADER.size)
    doc = payload[HEADER.size + ENTRY.size : HEADER.size + ENTRY.size + doc_len]
    assert json.loads(doc) == {"x": {"$a": 0}}
    assert (code, ndim, reserved, dims, nbytes) == (1, 1, bytes(6), [3, 0, 0, 0], 24)
    assert offset % 8 == 0 and offset + nbytes == len(payload)
    assert payload[offset:] == np.arange(3.0).astype("<f8").tobytes()


def test_text_limit_and_speed_are_measured_on_the_document() -> None:
    # max_text counts the UTF-8 bytes inside string literals: "é" is two
    assert roundtrip("éé") == "éé"
    limits = WireLimits(max_text=4)
    assert decode(encode("éé", limits=limits), limits) == "éé"
    encode_refused("ééé", "text", limits=limits)


# ------------------------------------------------------------------------------------------------
# refused on encode


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


class Custom:
    pass


def recursive_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def recursive_dict() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["me"] = {"again": value}
    return value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"trades": [0, 1, 2, {1, 2}]}, ["result['trades'][3]", "a set is not plain data"]),
        ([frozenset()], ["result[0]", "frozenset"]),
        ({"b": b"x"}, ["result['b']", "bytes"]),
        ([bytearray(b"x")], ["bytearray"]),
        ({"d": decimal.Decimal("1.5")}, ["decimal.Decimal"]),
        ({"t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, ["datetime.datetime"]),
        ({"c": Custom()}, ["Custom"]),
        ([1j], ["complex"]),
        ({"k": {1: "x"}}, ["result['k']", "key of type int"]),
        ({("a",): 1}, ["key of type tuple"]),
        ({"x": 2**63}, ["result['x']", "64-bit"]),
        ([-(2**63) - 1], ["64-bit"]),
        ([10**5000], ["64-bit"]),
        ([np.float32(1.5)], ["numpy float32 scalar"]),
        ([np.int32(3)], ["numpy int32 scalar"]),
        ([np.datetime64("2024-01-01")], ["datetime64"]),
        ({"a": np.array([1, "x"], dtype=object)}, ["result['a']", "dtype object"]),
        ([np.zeros(2, dtype=[("a", "f8"), ("b", "i8")])], ["dtype"]),
        ([np.zeros(2, dtype="V8")], ["dtype |V8"]),
        ([np.array(["2024-01-01"], dtype="M8[D]")], ["datetime64"]),
        ([np.array(["ab"])], ["<U2"]),
        ([np.zeros(2, dtype=np.float32)], ["float32"]),
        ([np.zeros(2, dtype=np.uint8)], ["uint8"]),
        ([np.zeros(2, dtype=np.int32)], ["int32"]),
        ([np.zeros((1, 1, 1, 1, 1))], ["5 dimensions"]),
        ([np.ma.masked_array([1.0, 2.0], mask=[0, 1])], ["MaskedArray"]),
        ([Color.RED], ["Color"]),
        ([MyStr("x")], ["MyStr"]),
        ({"s": "lone \ud800 surrogate"}, ["result['s']", "surrogate"]),
        ({"key \udc00": 1}, ["(the key)", "surrogate"]),
        (recursive_list(), ["result[1]", "recursive"]),
        (recursive_dict(), ["result['me']['again']", "recursive"]),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, list) or not all(isinstance(w, str) for w in v) else "",
)
def test_refused_values_name_the_path_and_the_type(value: Any, words: list[str]) -> None:
    encode_refused(value, *words)


def test_encoder_applies_the_parents_limits() -> None:
    deep: Any = 1
    for _ in range(33):
        deep = [deep]
    encode_refused(deep, "deeper than the limit of 32")
    assert roundtrip(deep[0]) == deep[0]
    encode_refused([np.zeros(1)], "deeper", limits=WireLimits(max_depth=1))
    encode_refused([1, 2, 3], "items", limits=WireLimits(max_items=2))
    encode_refused("x" * 11, "text", limits=WireLimits(max_text=10))
    encode_refused([np.zeros(6), np.zeros(5)], "result[1]", "elements", limits=WireLimits(max_array_elements=10))
    encode_refused(np.zeros(100), "bytes", limits=WireLimits(max_bytes=500))


# ------------------------------------------------------------------------------------------------
# forged payloads: WireError and nothing else


VALID = encode({"m": {"s": 1.5, "n": [1, 2, "three"]}, "a": np.arange(5.0), "b": np.array([True, False])})


def test_forge_helper_writes_what_encode_writes() -> None:
    doc = b'{"a":{"$a":0},"b":[{"$a":1}]}'
    payload = forge(doc, [{"data": np.arange(3.0).tobytes()}, {"code": 2, "data": np.arange(2).tobytes()}])
    assert payload == encode({"a": np.arange(3.0), "b": [np.arange(2)]})


def test_every_truncation_of_a_valid_payload_is_refused() -> None:
    assert same(decode(VALID)["m"], {"s": 1.5, "n": [1, 2, "three"]})
    for end in range(len(VALID)):
        refused(VALID[:end])
    refused(VALID + b"\0", "end at")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"", ["truncated"]),
        (b"PK\x03\x04" + bytes(40), ["does not start with"]),
        (b"\x80\x04\x95" + bytes(40), ["does not start with"]),  # a pickle
        (forge(b"1", version=2), ["version 2"]),
        (forge(b"1", flags=1), ["flags 1"]),
        (forge(b"1", doc_len=2**32 - 1), ["truncated"]),
        (forge(b"1", count=2**32 - 1), ["arrays"]),
        (forge(b"1", count=3), ["truncated"]),
        (forge(b""), ["malformed"]),
        (forge(b"[1,2"), ["malformed"]),
        (forge(b"[1] x"), ["malformed"]),
        (forge(b"nan"), ["malformed"]),
        (forge(b"[Infinity, -Infinity, NaN]"), []),  # accepted: checked below
    ],
)
def test_forged_headers(payload: bytes, words: list[str]) -> None:
    if not words:
        out = decode(payload)
        assert math.isinf(out[0]) and math.isinf(out[1]) and math.isnan(out[2])
        return
    refused(payload, *words)


def test_forged_array_tables() -> None:
    doc = b'{"$a":0}'
    ok = forge(doc, [{"data": bytes(16)}])
    assert decode(ok).shape == (2,)
    refused(forge(doc, [{"data": bytes(16), "nbytes": 24}]), "declares 24 bytes")
    refused(forge(doc, [{"shape": [1000], "data": bytes(16), "nbytes": 8000}]), "past the reply")
    refused(forge(doc, [{"shape": [2**20], "data": b"", "nbytes": 2**23}]), "past the reply")
    refused(forge(doc, [{"shape": [2**40], "data": b"", "nbytes": 2**43}]), "elements")
    refused(forge(doc, [{"shape": [-1], "data": b"", "nbytes": 0}]), "negative")
    refused(forge(doc, [{"shape": [2**62, 2**62, 2**62, 2**62], "data": b""}]), "elements")
    refused(forge(doc, [{"shape": [2**31, 2**31, 4], "data": b""}]), "elements")
    refused(forge(doc, [{"shape": [-(2**62), -4], "data": b""}]), "negative")
    refused(forge(doc, [{"shape": [2], "ndim": 5, "data": bytes(16)}]), "malformed table entry")
    refused(forge(doc, [{"shape": [2, 0, 0, 7], "ndim": 1, "data": bytes(16)}]), "malformed table entry")
    refused(forge(doc, [{"data": bytes(16), "reserved": b"\0\0\0\0\0\1"}]), "malformed table entry")
    refused(forge(doc, [{"shape": [0, 2**62], "data": b""}]), "dimension above")
    assert decode(forge(doc, [{"shape": [0, 10**6], "data": b""}])).shape == (0, 10**6)
    refused(forge(doc, [{"code": 4, "shape": [8], "data": b"\0\1\0\2\0\0\0\0"}]), "bool", "0 and 1")
    assert decode(forge(doc, [{"code": 4, "shape": [8], "data": b"\0\1" * 4}])).tolist() == [False, True] * 4
    for code in (0, 5, 255, ord("O"), ord("V"), ord("M"), ord("d")):
        refused(forge(doc, [{"code": code, "data": bytes(16)}]), f"unknown dtype code {code}")


def test_forged_offsets_overlap_gaps_and_padding() -> None:
    doc = b'[{"$a":0},{"$a":1}]'
    first = HEADER.size + 2 * ENTRY.size + len(doc)
    aligned = (first + 7) & ~7
    base = [{"data": bytes(16)}, {"data": bytes(16)}]
    assert len(decode(forge(doc, base))) == 2
    refused(forge(doc, [{"data": bytes(16)}, {"data": bytes(16), "offset": aligned, "pad": b""}]), "overlapping")
    refused(forge(doc, [{"data": bytes(16), "offset": aligned + 1, "pad": bytes(aligned + 1 - first)}]), "offset")
    refused(
        forge(doc, [{"data": bytes(16), "offset": aligned + 8, "pad": bytes(aligned + 8 - first)}, base[1]]), "offset"
    )
    if aligned > first:
        refused(forge(doc, [{"data": bytes(16), "pad": b"\1" * (aligned - first)}, base[1]]), "padding")
    refused(forge(doc, [{"data": bytes(16), "offset": 0, "pad": b""}, base[1]]), "offset")


@pytest.mark.parametrize(
    ("doc", "arrays", "words"),
    [
        (b'{"a":1,"a":2}', 0, ["duplicate key 'a'"]),
        (b'[{"$$x":1,"$$x":2}]', 0, ["duplicate"]),
        (b'{"$a":0}', 0, ["array 0", "beyond its 0 arrays"]),
        (b'{"$a":1}', 2, ["out of order"]),
        (b'[{"$a":0},{"$a":0}]', 2, ["out of order"]),
        (b"[1]", 1, ["declares 1 arrays", "refers to 0"]),
        (b'[{"$a":0}]', 2, ["declares 2 arrays", "refers to 1"]),
        (b'{"$a":0,"x":1}', 1, ["marker with other keys"]),
        (b'{"$a":"0"}', 1, ["array '0'"]),
        (b'{"$a":true}', 1, ["array True"]),
        (b'{"$a":0.0}', 1, ["array 0.0"]),
        (b'{"$a":[0]}', 1, ["array"]),
        (b'{"$b":0}', 0, ["unknown marker key '$b'"]),
        (b'{"$":0}', 0, ["unknown marker key '$'"]),
        (b'{"\\u0024a":0}', 0, ["beyond its 0 arrays"]),
        (b'{"\\u0024b":0}', 0, ["unknown marker"]),
        (b'"\\ud800"', 0, ["surrogate"]),
        (b'["x\\\\\\uDFFF"]', 0, ["surrogate"]),
        (b'"\\ud83d\\ude00"', 0, ["surrogate"]),  # a valid pair, but the encoder writes UTF-8
        (b'"\xff"', 0, ["UTF-8"]),
        (b'"\xed\xa0\x80"', 0, ["UTF-8"]),  # a surrogate encoded as UTF-8 (CESU)
        (b'"\xc0\xaf"', 0, ["UTF-8"]),  # overlong
        (b"[" + b"1" * 100_000 + b"]", 0, ["100,000 digits"]),
        (b"-" + b"9" * 100_000, 0, ["digits"]),
        (b"1." + b"0" * 100_000, 0, ["100,002 characters"]),
        (b"1e999", 0, ["out of float range"]),
        (b"9223372036854775808", 0, ["64-bit"]),
        (b"[" * 100_000 + b"]" * 100_000, 0, ["deeper"]),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 0, ["deeper"]),
        (b"[" * 100_000, 0, ["unbalanced"]),
        (b"[" * 33 + b"]" * 33, 0, ["deeper than the limit of 32"]),
        (b'"\x01"', 0, ["malformed"]),  # raw control character
        (b"\xef\xbb\xbf1", 0, ["malformed"]),  # a BOM
        (b"1\x00", 0, ["malformed"]),
    ],
)
def test_forged_documents(doc: bytes, arrays: int, words: list[str]) -> None:
    refused(forge(doc, [{"data": bytes(8)} for _ in range(arrays)]), *words)


def test_escaped_backslash_before_u_is_text_not_a_surrogate() -> None:
    assert decode(forge(b'"\\\\ud800"')) == "\\ud800"
    assert decode(forge(b'{"\\u0024\\u0024a":1}')) == {"$a": 1}  # an escaped "$$a" is the user key "$a"


def test_depth_items_and_text_limits_on_forged_documents() -> None:
    assert decode(forge(b"[" * 32 + b"]" * 32)) is not None
    refused(forge(b"[" + b"0," * 99 + b"0]"), "100 items", limits=WireLimits(max_items=99))
    assert len(decode(forge(b"[" + b"0," * 98 + b"0]"), WireLimits(max_items=99))) == 99
    refused(forge(b"[" + b"[]," * 99 + b"[]]"), "items", limits=WireLimits(max_items=99))
    refused(forge(b'["' + b"x" * 101 + b'"]'), "101 bytes of text", limits=WireLimits(max_text=100))
    # brackets and commas inside strings count for nothing
    assert decode(forge(b'["' + b"[,{" * 1000 + b'"]'), WireLimits(max_items=2, max_depth=1))
    refused(forge(b"[1]" + b" " * 100), "bytes", limits=WireLimits(max_bytes=100))
    refused(forge(b"[1,2" + b" " * 100), "unbalanced", limits=WireLimits(max_text=50))


def test_not_bytes_at_all() -> None:
    for value in ("SFW1", None, 12, [1], np.zeros(3)[::2]):
        with pytest.raises(WireError):
            decode(value)  # type: ignore[arg-type]
    assert decode(memoryview(np.frombuffer(VALID, dtype=np.uint8)))["m"]["s"] == 1.5


def test_forged_sizes_allocate_nothing_like_what_they_declare() -> None:
    forged = [
        forge(b'{"$a":0}', [{"shape": [2**28], "data": b"", "nbytes": 2**31}]),
        forge(b"1", doc_len=2**32 - 1, count=2**32 - 1),
        forge(b"[" + b"0," * 50_000 + b"0]"),
        forge(b"[" * 40 + b"]" * 40 + b" " * 200_000),
    ]
    tracemalloc.start()
    try:
        for payload in forged:
            tracemalloc.reset_peak()
            with contextlib.suppress(WireError):
                decode(payload, WireLimits(max_items=1000))
            assert tracemalloc.get_traced_memory()[1] < 3 * len(payload) + 1_000_000
    finally:
        tracemalloc.stop()


def mutations(payload: bytes, rng: random.Random) -> Iterator[bytes]:
    """Bit flips, byte overwrites with boundary values, insertions and deletions, and rewritten
    header and table integers."""
    for _ in range(300):
        data = bytearray(payload)
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(5)
            at = rng.randrange(len(data)) if data else 0
            if kind == 0 and data:
                data[at] ^= 1 << rng.randrange(8)
            elif kind == 1 and data:
                data[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, ord("["), ord('"'), ord("$"), ord("\\")])
            elif kind == 2:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
            elif kind == 3:
                del data[at : at + rng.randint(1, 9)]
            else:
                field = rng.randrange(0, max(min(len(data), 16 + 56 * 3) - 8, 1))
                data[field : field + 8] = struct.pack("<q", rng.choice([-1, 0, 1, 2**31, 2**62, -(2**63), 7, 9]))
        yield bytes(data)


def decode_only_wire_errors(data: bytes, limits: WireLimits = DEFAULT) -> None:
    with contextlib.suppress(WireError):
        decode(data, limits)


def test_seeded_fuzz_of_mutated_payloads() -> None:
    rng = random.Random(20240607)
    seeds = [
        VALID,
        encode({"$a": [1, "$$", {"$b": np.zeros((2, 3), dtype=np.int8)}], "x": [np.array(1.5), np.zeros(0)]}),
        encode([[[[{"k": "v" * 20}]]]] * 3),
        encode("text with \\u escapes \x01 and é"),
    ]
    for seed in seeds:
        for data in mutations(seed, rng):
            decode_only_wire_errors(data)
            decode_only_wire_errors(data, WireLimits(max_depth=3, max_items=10, max_text=20, max_array_elements=4))


if given is not None:
    plain_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(st.characters(exclude_categories=["Cs"])),
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(st.sampled_from('$a\\"é'), max_size=4), children, max_size=5)
        ),
        max_leaves=30,
    )
    fuzz = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))

    @fuzz
    @given(st.binary(max_size=600))
    def test_hypothesis_arbitrary_bytes_raise_only_wire_error(data: bytes) -> None:
        decode_only_wire_errors(data)
        decode_only_wire_errors(b"SFW1" + data)
        decode_only_wire_errors(forge(data))

    @fuzz
    @given(st.data())
    def test_hypothesis_mutated_payloads_raise_only_wire_error(data: Any) -> None:
        payload = data.draw(st.sampled_from([VALID, encode({"$$a": [np.arange(3), "x"], "n": None})]))
        edits = data.draw(st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(0, 255)), max_size=6))
        mutated = bytearray(payload)
        for at, byte in edits:
            mutated[at] = byte
        cut = data.draw(st.integers(0, len(mutated)))
        decode_only_wire_errors(bytes(mutated[:cut]) + data.draw(st.binary(max_size=16)))

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(plain_values)
    def test_hypothesis_plain_values_round_trip(value: Any) -> None:
        assert same(value, roundtrip(value))

    @fuzz
    @given(st.text(st.sampled_from('[]{}",:0123456789.eE-+$a\\u ntrufalsNIy'), max_size=200))
    def test_hypothesis_json_like_documents_raise_only_wire_error(doc: str) -> None:
        decode_only_wire_errors(forge(doc.encode()))
        decode_only_wire_errors(forge(doc.encode(), [{"data": bytes(8)}]))

else:  # pragma: no cover

    def test_hypothesis_is_missing() -> None:
        pytest.skip("hypothesis is not installed; the seeded fuzz above still ran")


# ------------------------------------------------------------------------------------------------
# FrameReader and write_frame


def frame(payload: bytes, *, magic: bytes = b"SFWF", length: int | None = None) -> bytes:
    return struct.pack("<4sQ", magic, len(payload) if length is None else length) + payload


def test_frames_round_trip_back_to_back(pipe: tuple[int, int]) -> None:
    r, w = pipe
    for payload in (b"", b"one", VALID):
        write_frame(w, payload)
    reader = FrameReader(r)
    deadline = time.monotonic() + 5
    assert [reader.read(deadline) for _ in range(3)] == [b"", b"one", VALID]


def test_a_silent_peer_meets_the_deadline(pipe: tuple[int, int]) -> None:
    r, _ = pipe
    reader = FrameReader(r)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.read(start + 0.2)
    assert 0.19 <= time.monotonic() - start < 1.0
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.read(start - 1)  # already past: one look, no wait
    assert time.monotonic() - start < 0.1


def test_read_resumes_after_a_timeout(pipe: tuple[int, int]) -> None:
    r, w = pipe
    reader = FrameReader(r)
    whole = frame(b"payload-bytes" * 1000)
    pieces = [whole[:5], whole[5:12], whole[12:100], whole[100:]]
    for piece in pieces[:-1]:
        os.write(w, piece)
        with pytest.raises(TimeoutError, match="of"):
            reader.read(time.monotonic() + 0.05)
    os.write(w, pieces[-1])
    assert reader.read(time.monotonic() + 5) == b"payload-bytes" * 1000


def test_an_oversized_frame_is_refused_without_reading_it(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"x" * 1000, length=1001) + b"!")
    reader = FrameReader(r, WireLimits(max_bytes=1000))
    with pytest.raises(WireError, match="1,001 bytes"):
        reader.read(time.monotonic() + 5)
    assert os.read(r, 2000) == b"x" * 1000 + b"!"  # the payload is still in the pipe
    with pytest.raises(WireError):
        reader.read(time.monotonic() + 5)  # and the reader stays refused


def test_a_huge_declared_length_is_refused(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"", length=2**64 - 1))
    with pytest.raises(WireError, match="more than the limit"):
        FrameReader(r).read(time.monotonic() + 5)


def test_garbage_on_the_pipe_is_not_a_frame(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"Traceback (most recent call last):\n")
    with pytest.raises(WireError, match="does not carry a reply frame"):
        FrameReader(r).read(time.monotonic() + 5)


@pytest.mark.parametrize(
    ("written", "mid_frame", "words"),
    [
        (b"", False, "at a frame boundary"),
        (frame(b"done"), False, "at a frame boundary"),
        (b"SFW", True, "3 of 12 header bytes"),
        (frame(b"0123456789")[:-4], True, "6 of 10 payload bytes"),
    ],
)
def test_eof_says_where_it_happened(pipe: tuple[int, int], written: bytes, mid_frame: bool, words: str) -> None:
    r, w = pipe
    os.write(w, written)
    os.close(w)
    reader = FrameReader(r)
    if written.endswith(b"done"):
        assert reader.read(time.monotonic() + 5) == b"done"
    with pytest.raises(EOFError, match=words) as caught:
        reader.read(time.monotonic() + 5)
    assert isinstance(caught.value, PipeClosed) and caught.value.mid_frame is mid_frame
    with pytest.raises(EOFError):
        reader.read(time.monotonic() + 5)


def test_large_frame_through_a_nonblocking_pipe(pipe: tuple[int, int]) -> None:
    r, w = pipe
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    payload = encode({"equity": np.random.default_rng(1).random(1_000_000)})
    writer = threading.Thread(target=write_frame, args=(w, payload), daemon=True)
    writer.start()
    received = FrameReader(r).read(time.monotonic() + 20)
    writer.join(5)
    assert received == payload
    assert np.array_equal(decode(received)["equity"], np.random.default_rng(1).random(1_000_000))


def test_no_deadline_waits_for_the_frame(pipe: tuple[int, int]) -> None:
    r, w = pipe
    timer = threading.Timer(0.1, write_frame, args=(w, b"late"))
    timer.start()
    try:
        assert FrameReader(r).read(None) == b"late"
    finally:
        timer.join(5)


# ------------------------------------------------------------------------------------------------
# CappedDrain


def write_all_then_close(fd: int, chunks: Callable[[], Iterator[bytes]]) -> threading.Thread:
    def run() -> None:
        try:
            for chunk in chunks():
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_50_mb_writer_never_blocks_and_memory_stays_bounded() -> None:
    r, w = os.pipe()
    block = b"m" * (1 << 20)
    head, tail = b"HEAD" * 100, b"TAIL" * 100

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(50):
            yield block
        yield tail

    tracemalloc.start()
    try:
        drain = CappedDrain(r, keep_bytes=64 * 1024)
        writer = write_all_then_close(w, chunks)
        writer.join(20)
        assert not writer.is_alive(), "the writer blocked"
        drain.close(timeout=5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert drain.total_bytes == 50 * (1 << 20) + len(head) + len(tail)
    kept = drain.text()
    assert len(kept) <= 64 * 1024 + 100
    assert kept.startswith(head.decode()) and kept.endswith(tail.decode())
    dropped = drain.total_bytes - 64 * 1024
    assert f"{dropped:,} bytes dropped" in kept
    assert peak < 4 * (1 << 20)


def test_small_output_is_kept_whole_and_bad_bytes_replaced() -> None:
    r, w = os.pipe()
    drain = CappedDrain(r, keep_bytes=100)
    write_all_then_close(w, lambda: iter([b"warning: \xff\xfe spilled\n"])).join(5)
    drain.close(timeout=5)
    assert drain.text() == "warning: \ufffd\ufffd spilled\n"
    assert drain.total_bytes == 20


def test_drains_a_file_object_and_closes_it() -> None:
    r, w = os.pipe()
    file = os.fdopen(r, "rb")
    drain = CappedDrain(file, keep_bytes=10)
    write_all_then_close(w, lambda: iter([b"0123456789abcdefghij"])).join(5)
    drain.close(timeout=5)
    assert drain.text() == "01234\n[… 10 bytes dropped …]\nfghij"
    assert file.closed


def test_close_returns_while_the_writer_keeps_the_pipe_open() -> None:
    r, w = os.pipe()
    try:
        drain = CappedDrain(r)
        os.write(w, b"still running")
        start = time.monotonic()
        drain.close(timeout=0.1)
        assert time.monotonic() - start < 1.5
        assert drain.text() == "still running"
    finally:
        os.close(w)


def test_keep_nothing() -> None:
    r, w = os.pipe()
    drain = CappedDrain(io.FileIO(r, "rb"), keep_bytes=0)
    write_all_then_close(w, lambda: iter([b"abc"])).join(5)
    drain.close(timeout=5)
    assert drain.text() == "\n[… 3 bytes dropped …]\n" and drain.total_bytes == 3


# ------------------------------------------------------------------------------------------------
# speed (generous bounds so that a loaded CI machine passes; the numbers are printed)

