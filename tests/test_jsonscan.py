"""The streaming JSON check: it agrees with json.loads, in bounded memory, on any size."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli.archive.jsonscan import (
    FILE_VERSION_MAX_CHARS,
    MAX_DEPTH,
    JsonInfo,
    scan_json,
)

BAD = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
keys = st.sampled_from(["file_version", "model", "fields", "pk", "beers"]) | st.text(max_size=12)
rows = st.fixed_dictionaries(
    {"model": st.text(max_size=10), "fields": scalars}, optional={"pk": st.integers()}
)
values = st.recursive(
    scalars | rows,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)


def _scan(data: bytes, window: int = 64, read_size: int = 7) -> JsonInfo:
    return scan_json(io.BytesIO(data).read, window=window, read_size=read_size)


def _reference(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return BAD


def _agrees(data: bytes, window: int, read_size: int) -> None:
    expected = _reference(data)
    info = _scan(data, window, read_size)
    assert info.valid == (expected is not BAD), (data, info)
    if expected is BAD:
        assert info.error
        return
    if isinstance(expected, dict):
        assert (info.kind, info.items) == ("object", len(expected))
        assert info.has_file_version == ("file_version" in expected)
        if "file_version" in expected:
            fv = expected["file_version"]
            # kept when short; a value larger than the window is read piecewise, not kept
            kept = len(json.dumps(fv)) <= FILE_VERSION_MAX_CHARS
            larger = len(json.dumps(fv, indent=2, ensure_ascii=False)) * 6 >= window
            assert info.file_version == (fv if kept else None) or (
                larger and info.file_version is None
            )
    elif isinstance(expected, list):
        assert (info.kind, info.items) == ("array", len(expected))
        is_rows = all(
            isinstance(v, dict) and isinstance(v.get("model"), str) and "fields" in v
            for v in expected
        )
        assert info.dumpdata_rows == is_rows
    else:
        assert info.kind == "scalar"


@settings(max_examples=300, deadline=None)
@given(
    value=values,
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
    window=st.sampled_from([64, 128, 1 << 18]),
    read_size=st.integers(min_value=1, max_value=97),
)
def test_it_agrees_with_json_loads_on_any_document_read_in_any_pieces(
    value: Any, indent: int | None, ascii_only: bool, window: int, read_size: int
) -> None:
    data = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass"
    )
    _agrees(data, window, read_size)


@settings(max_examples=300, deadline=None)
@given(value=values, data=st.data())
def test_it_agrees_with_json_loads_on_cut_and_damaged_documents(value: Any, data: Any) -> None:
    text = json.dumps(value).encode("utf-8", "surrogatepass")
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    _agrees(text[:cut], 64, 5)
    if text:
        at = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        byte = data.draw(st.sampled_from(b'{}[]",:0-.eE \\tnx\x00\xff'))
        _agrees(text[:at] + bytes([byte]) + text[at + 1 :], 64, 5)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_the_encodings_json_loads_accepts_are_accepted(encoding: str) -> None:
    info = _scan(json.dumps({"file_version": "2.0.0", "name": "K\u00f6lsch"}).encode(encoding))
    assert info.valid and info.file_version == "2.0.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b'{"a": 1} {"b": 2}', "Extra data"),
        (b'{"a": 1,}', "property name"),
        (b"[1 2]", "delimiter"),
        (b'{"file_version": "2.0.0", "beers": [{"id": 1}, {"id"', "truncated"),
        (b'["\xff"]', "not valid text"),
        (b'["a\x01"]', "control character"),
    ],
)
def test_invalid_documents_say_what_is_wrong(data: bytes, message: str) -> None:
    for window in (64, 1 << 18):
        info = _scan(data, window)
        assert not info.valid
        assert message in (info.error or ""), info.error


def _lazy(parts: Iterator[bytes]) -> Any:
    """A read(n) over generated pieces: the document never exists in memory whole."""
    buf = bytearray()

    def read(n: int) -> bytes:
        while len(buf) < n:
            piece = next(parts, b"")
            if not piece:
                break
            buf.extend(piece)
        out = bytes(buf[:n])
        del buf[:n]
        return out

    return read


def _big_dump(rows: int, big_string: int, big_row: int) -> Iterator[bytes]:
    """{"file_version": "2.0.0", "gravity_logs": [rows...], "notes": "<big string>",
    "tilts": [<one row of big_row bytes>]}, produced piece by piece."""
    yield b'{"file_version": "2.0.0", "gravity_logs": ['
    row = json.dumps({"id": 1, "gravity": 1.0123, "temp": 66.1, "log_time": "2026-11-27"})
    block = ",".join([row] * 1000).encode()
    for i in range(rows // 1000):
        yield (b"," if i else b"") + block
    yield b'], "notes": "'
    for _ in range(big_string // 65536):
        yield b"x\\n\\u00e9" * 10922 + b"xxxx"
    yield b'", "tilts": [{"model": "gravity.tilt", "fields": {"log": ['
    cell = b"[1.5, 2.5, 3.5],"
    for _ in range(big_row // len(cell) // 1000):
        yield cell * 1000
    yield b"[0]]}}]}"


def test_a_large_dump_is_checked_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        info = scan_json(_lazy(_big_dump(rows=30_000, big_string=2 << 20, big_row=2 << 20)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.valid, info.error
    assert (info.kind, info.has_file_version, info.file_version, info.items) == (
        "object",
        True,
        "2.0.0",
        4,
    )
    # ~6 MB of JSON, with a 2 MiB string and a 2 MiB element: a few windows, not the document
    assert peak < 8 * 1024 * 1024, peak


def test_a_top_level_dumpdata_list_larger_than_the_window_is_streamed() -> None:
    rows = [{"model": "app.beer", "pk": i, "fields": {"name": f"Batch {i}"}} for i in range(500)]
    data = json.dumps(rows).encode()
    info = _scan(data, window=64)
    assert (info.kind, info.dumpdata_rows, info.items) == ("array", True, 500)
    bad = json.dumps([*rows, {"model": 3, "fields": {}}]).encode()
    assert _scan(bad, window=64).dumpdata_rows is False


def test_a_large_row_is_still_judged_as_a_dumpdata_row() -> None:
    rows = [{"model": "app.beer", "pk": 1, "fields": {"notes": "n" * 500}}]
    assert _scan(json.dumps(rows).encode(), window=64).dumpdata_rows is True
    no_fields = [{"model": "app.beer", "pk": 1, "notes": "n" * 500}]
    assert _scan(json.dumps(no_fields).encode(), window=64).dumpdata_rows is False


def test_nesting_deeper_than_the_c_decoder_goes_is_valid() -> None:
    deep = b"[" * 3000 + b"]" * 3000  # the C decoder stops at the recursion limit (1000)
    info = _scan(deep, window=64, read_size=1 << 16)
    assert info.valid and info.kind == "array"
    assert not _scan(b"[" * 3000 + b"]" * 2999, window=64, read_size=1 << 16).valid


def test_nesting_beyond_the_depth_limit_is_refused_with_a_message() -> None:
    deep = b"[" * 3000 + b"]" * 3000
    info = scan_json(io.BytesIO(deep).read, window=64, max_depth=100)
    assert not info.valid and "nested deeper than 100 levels" in (info.error or "")
    assert MAX_DEPTH == 10_000  # documented in the README


def test_a_huge_file_version_value_is_noted_but_not_kept() -> None:
    data = json.dumps({"file_version": {"blob": "z" * 5000}}).encode()
    info = _scan(data, window=1 << 18)
    assert info.valid and info.has_file_version and info.file_version is None


def test_an_integer_longer_than_python_converts_is_valid_json() -> None:
    data = b'{"file_version": 1, "n": ' + b"7" * 5000 + b"}"
    info = _scan(data, window=1 << 18)
    assert info.valid and info.file_version == 1
