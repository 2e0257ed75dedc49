"""Zip checks made before anything is decompressed, from the directory alone.

Python 3.11's zipfile trusts the central directory: it holds one ZipInfo per entry in
memory, reads the whole directory at once, and unpacks members whose bytes overlap
(David Fifield's "overlapping files" zip bomb: 400 GiB declared in 1 MB). These checks
refuse such archives first: `check_zip_directory` (entry count and directory size, from
the end records), `check_zip_layout` (declared size against the archive's, and member
byte ranges that overlap each other or the directory).
"""

from __future__ import annotations

import struct
import zipfile
from typing import Any, Final

from ..units import human_size
from .readers import EXPANSION_RATIO, LimitExceeded, SeekHashingReader, expansion_limit

MAX_ZIP_MEMBERS: Final = 50_000  # zipfile holds one ZipInfo per entry in memory
MAX_ZIP_DIRECTORY: Final = 8 * 1024 * 1024  # ... and reads the whole central directory

_ECD: Final = struct.Struct("<4s4H2LH")  # the end of central directory record
_ZIP64_LOCATOR: Final = struct.Struct("<4sLQL")
_LOCAL_HEADER: Final = 30


def peek(fileobj: Any, offset: int, n: int) -> bytes:
    """Bytes at `offset`, leaving the position (and, for the hashing view, the hash) alone."""
    if isinstance(fileobj, SeekHashingReader):
        return fileobj.peek_at(offset, n)
    here = fileobj.tell()
    fileobj.seek(offset)
    data: bytes = fileobj.read(n)
    fileobj.seek(here)
    return data


def _zip_directory(fileobj: Any, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end records; None when not found
    (zipfile then says what is wrong)."""
    tail_len = min(size, _ECD.size + 0xFFFF)  # the record, and a comment of up to 64 KiB
    tail = peek(fileobj, size - tail_len, tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _ECD.size:
        return None
    entries, cd_size = _ECD.unpack_from(tail, at)[4:6]
    if at >= _ZIP64_LOCATOR.size and (entries == 0xFFFF or cd_size == 0xFFFFFFFF):
        sig, _, offset, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        record = peek(fileobj, offset, 56) if sig == b"PK\x06\x07" else b""
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, cd_size = struct.unpack_from("<QQ", record, 32)
    return entries, cd_size


def check_zip_directory(fileobj: Any, size: int) -> None:
    found = _zip_directory(fileobj, size)
    if found is None:
        return
    entries, cd_size = found
    if entries > MAX_ZIP_MEMBERS:
        raise LimitExceeded(f"it has {entries} members (at most {MAX_ZIP_MEMBERS} are read)")
    if cd_size > MAX_ZIP_DIRECTORY:
        raise LimitExceeded(
            f"its central directory is {human_size(cd_size)} "
            f"(at most {human_size(MAX_ZIP_DIRECTORY)})"
        )


def check_zip_layout(fileobj: Any, zf: zipfile.ZipFile, size: int) -> None:
    """Before anything is decompressed: the declared sizes must be plausible, and every
    member's header and data must end before the next member (or the directory) starts.
    Overlapping members are how a 1 MB zip declares 400 GiB (the zip bomb of
    David Fifield); Python 3.11's zipfile does not check it."""
    infos = zf.infolist()
    declared = sum(info.file_size for info in infos)
    if declared > expansion_limit(size):
        raise LimitExceeded(
            f"it declares {human_size(declared)} of content in {human_size(size)} "
            f"(more than {EXPANSION_RATIO} times its size: a zip bomb?)"
        )
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for i, info in enumerate(ordered):
        header = peek(fileobj, info.header_offset, _LOCAL_HEADER)
        if len(header) < _LOCAL_HEADER or header[:4] != b"PK\x03\x04":
            continue  # zipfile reports the bad header when it opens the member
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        end = info.header_offset + _LOCAL_HEADER + name_len + extra_len + info.compress_size
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        limit = nxt.header_offset if nxt is not None else zf.start_dir
        if end > limit:
            other = repr(nxt.filename) if nxt is not None else "the central directory"
            raise ZipOverlap(f"members {info.filename!r} and {other} overlap (a zip bomb?)")


class ZipOverlap(Exception):
    """Members whose bytes overlap: the archive is corrupt (or a zip bomb)."""
