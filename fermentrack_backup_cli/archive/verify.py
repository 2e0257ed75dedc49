"""Verify a Fermentrack backup archive in one streaming pass, and recognise its layout.

`verify_stream` reads an archive from start to end exactly once, in bounded memory:

* every member is read to its end, and the compressed stream is drained to its end,
  so the xz / gzip / zip integrity checks (CRCs, lengths, end-of-stream markers) run;
* members that would be unsafe to extract are flagged (absolute paths, `..`,
  links that escape the archive root, device files and FIFOs);
* every `.json` member is validated as JSON in a streaming pass (`jsonscan`), and the
  Fermentrack data dump among them decides the layout (`layouts`);
* the Dropbox-style content hash and the byte size of the whole file are computed
  from the same bytes, so a caller can compare them with a stored copy for free.

Layouts (`ArchiveReport.layout`, told apart in `layouts`): `fermentrack2`,
`fermentrack-2.0.0`, `legacy-1.0.0`, `unknown`. An unknown layout is not damage (ok, with
a warning; `apply_strict` makes it an error); a dump that is not valid JSON is.

Hostile archives are refused before they cost memory or time (error code
`exceeds_limits`): an xz dictionary larger than xz -9 uses, content declared (zip) or
decompressed (tar) beyond `archive_io.expansion_limit`, a tar header over 1 MiB, a zip
directory too large to hold (`zipcheck`). Zip members whose byte ranges overlap (the
"overlapping files" zip bomb) are corrupt.

Content problems never raise: they are in the returned `ArchiveReport`. Only I/O errors
of the stream propagate (a network error mid-download is not a corrupt archive), and
`verify_file` raises for a path that cannot be opened.

Tar archives are read with tarfile's stream mode ("r|"), layered on `XzReader` /
`gzip.GzipFile` so they never seek. Zip needs random access (the central directory is
at the end): `verify_stream` uses the stream directly when it is seekable and otherwise
copies it into a spooled temporary file first (memory up to 8 MiB, then disk). Callers
verifying a remote zip can check `needs_seek(fmt)` to decide how to provide the bytes.
"""

from __future__ import annotations

import gzip
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, cast

from .. import errors
from ..models import ArchiveReport
from ..units import human_size, size_pair
from .layouts import UNKNOWN
from .members import (
    CORRUPT,
    EXCEEDS,
    NOT_AN_ARCHIVE,
    UNKNOWN_LAYOUT,
    UNSAFE,
    Findings,
    check_link,
    path_problem,
    read_member,
)
from .readers import (
    CHUNK_SIZE,
    HashingReader,
    LimitExceeded,
    SeekHashingReader,
    TailReader,
    UnderlyingIOError,
    XzReader,
    new_hasher,
    spool_error,
)
from .zipcheck import ZipOverlap, check_zip_directory, check_zip_layout

MAX_LINK_TARGET: Final = 4096  # bytes of a zip symlink member read as its target
SPOOL_MAX_MEMORY: Final = 8 * 1024 * 1024
MAX_TAR_HEADER: Final = 1024 * 1024  # a pax / GNU long-name header tarfile reads whole
MAX_PAX_GLOBAL: Final = 1024 * 1024  # global pax headers tarfile accumulates
TAR_BUFSIZE: Final = 64 * 1024  # tarfile's stream reads (its 10 KiB default: 100k calls/GiB)
_TAR_SLACK: Final = 2 * TAR_BUFSIZE  # tarfile's stream reads ahead this much

_SEVERITY: Final = (NOT_AN_ARCHIVE, CORRUPT, EXCEEDS, UNSAFE, UNKNOWN_LAYOUT)
_UNREADABLE: Final = (NOT_AN_ARCHIVE, CORRUPT, EXCEEDS)  # the layout cannot be told

_MAGIC: Final = {
    "tar.xz": (b"\xfd7zXZ\x00",),
    "tar.gz": (b"\x1f\x8b",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),  # an archive with members, an empty archive
}


def archive_format(name: str) -> str | None:
    """The archive format of a file name: "tar.xz", "tar.gz" (also .tgz), "zip" or None."""
    lower = name.lower()
    suffixes = ((".tar.xz", "tar.xz"), (".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".zip", "zip"))
    return next((fmt for suffix, fmt in suffixes if lower.endswith(suffix)), None)


def needs_seek(fmt: str | None) -> bool:
    """Whether verifying `fmt` needs random access (zip does; a non-seekable stream is
    spooled to a temporary file by `verify_stream`, which costs disk space)."""
    return fmt == "zip"


def _decompressor(reader: HashingReader, fmt: str) -> XzReader | gzip.GzipFile:
    if fmt == "tar.xz":
        return XzReader(reader)
    raw = cast(IO[bytes], reader)  # duck-typed: it has the read() GzipFile uses
    return gzip.GzipFile(fileobj=raw, mode="rb")


def _scan_tar(f: Findings, reader: HashingReader, fmt: str) -> None:
    decomp = _decompressor(reader, fmt)
    tail = TailReader(decomp, lambda: reader.size)
    # tarfile reads a member's header (pax, long names, sparse maps) whole: bound what it
    # may read past the previous member's data (the first header is read by open())
    tail.budget = MAX_TAR_HEADER + _TAR_SLACK
    with tarfile.open(  # type: ignore[call-overload]
        fileobj=tail, mode="r|", bufsize=TAR_BUFSIZE
    ) as tf:
        pax_seen = 0
        while True:
            skip = max(0, tf.offset - tf.fileobj.tell())
            tail.budget = skip + MAX_TAR_HEADER + _TAR_SLACK
            info = tf.next()
            tail.budget = None
            if info is None:
                break
            tf.members.clear()  # stream mode keeps every TarInfo: keep memory flat
            if len(tf.pax_headers) != pax_seen:
                pax_seen = len(tf.pax_headers)
                if sum(len(k) + len(v) for k, v in tf.pax_headers.items()) > MAX_PAX_GLOBAL:
                    raise LimitExceeded("the global pax headers are larger than 1 MiB")
            f.members += 1
            _check_tar_member(f, tf, info)
        end = tf.offset
    clean = tail.rest_is_zero(end)
    if isinstance(decomp, gzip.GzipFile):
        decomp.close()
    if clean is None and f.members:
        f.add(CORRUPT, "corrupt archive: the tar data ends without an end-of-archive marker")
    elif clean is False:
        f.add(CORRUPT, "corrupt archive: unreadable tar data after member " + str(f.members))


def _check_tar_member(f: Findings, tf: tarfile.TarFile, info: tarfile.TarInfo) -> None:
    name = info.name
    problem = path_problem(name)
    if problem:
        f.add(UNSAFE, f"unsafe member {name!r}: {problem}")
    if info.issym():
        check_link(f, name, info.linkname, hard=False)
    elif info.islnk():
        check_link(f, name, info.linkname, hard=True)
    elif info.ischr() or info.isblk() or info.isfifo():
        f.add(UNSAFE, f"unsafe member {name!r}: device file or FIFO")
    elif info.isreg() and not info.issparse():
        # (sparse members are skipped by tarfile, which still reads their stored bytes:
        # reading them expanded would let a hostile sparse map yield endless zeros)
        stream = tf.extractfile(info)
        if stream is not None:
            read_member(f, name, stream)


# --------------------------------------------------------------------------- zip


def _scan_zip(f: Findings, fileobj: Any, size: int) -> None:
    check_zip_directory(fileobj, size)
    with zipfile.ZipFile(fileobj) as zf:
        try:
            check_zip_layout(fileobj, zf, size)
        except ZipOverlap as exc:
            f.add(CORRUPT, f"corrupt archive: {exc}")
            return
        infos = zf.infolist()
        f.members = len(infos)
        for info in infos:
            _check_zip_member(f, zf, info)


def _check_zip_member(f: Findings, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name = info.filename
    problem = path_problem(name)
    if problem:
        f.add(UNSAFE, f"unsafe member {name!r}: {problem}")
    mode = info.external_attr >> 16
    unix = info.create_system == 3
    if unix and stat.S_ISLNK(mode):
        with zf.open(info) as member:
            target = member.read(MAX_LINK_TARGET + 1)
            while member.read(CHUNK_SIZE):
                pass
        check_link(f, name, target.decode("utf-8", "replace"), hard=False)
        return
    if unix and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
        f.add(UNSAFE, f"unsafe member {name!r}: device file or FIFO")
    if info.is_dir():
        return
    with zf.open(info) as member:
        read_member(f, name, member)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        return f"truncated ({text})"
    return text


# --------------------------------------------------------------------------- public


def verify_stream(
    stream: BinaryIO,
    name: str,
    *,
    size: int | None = None,
    hashing: bool = True,
    stop_on_damage: bool = False,
) -> ArchiveReport:
    """Verify the archive read from `stream` (named `name`, which decides the format).

    The stream is read to its end once; `size`, when given, is the expected byte count
    (a mismatch is reported as corrupt). Content problems are reported, never raised;
    errors raised by `stream` itself propagate unchanged. Without `hashing` the report's
    content hash is "" (an upload engine hashes the same bytes itself). With
    `stop_on_damage` a damaged tar returns its report at once, the rest unread (its
    size taken as `size`): an upload feeding the check stops there.
    """
    fmt = archive_format(name)
    f = Findings()
    try:
        if fmt is None:
            reader = HashingReader(stream, new_hasher(hashing))
            reader.drain()
            f.add(NOT_AN_ARCHIVE, f"not an archive: {name!r} is not .tar.xz, .tar.gz/.tgz or .zip")
            total, digest = reader.size, reader.hasher.hexdigest()
        elif fmt == "zip":
            total, digest = _verify_zip(f, stream, hashing)
        else:
            reader = HashingReader(stream, new_hasher(hashing))
            try:
                if _sniff(f, reader.sniff(8), fmt):
                    _scan_tar(f, reader, fmt)
            except UnderlyingIOError:
                raise
            except LimitExceeded as exc:
                f.add(EXCEEDS, f"not unpacked: {exc}")
            except Exception as exc:  # hostile input can raise almost anything
                f.add(CORRUPT, f"corrupt archive: {_describe(exc)} (after {f.members} members)")
            if stop_on_damage and f.problems and size is not None:
                total, digest = size, ""  # the rest is not read: the verdict is in
            else:
                reader.drain()
                total, digest = reader.size, reader.hasher.hexdigest()
    except UnderlyingIOError as exc:
        raise exc.original from None

    if size is not None and size != total:
        f.add(CORRUPT, "corrupt archive: expected {}, read {}".format(*size_pair(size, total)))
    layout = dump_member = file_version = None
    warnings: tuple[str, ...] = ()
    if fmt is not None and not any(f.has(code) for code in _UNREADABLE):
        found = f.dumps.recognise()
        warnings = found.warnings
        if found.damage is not None:
            f.add(CORRUPT, f"corrupt archive: {found.damage}")
        else:
            layout, dump_member, file_version = found.layout, found.dump_member, found.file_version
    codes = [code for code, _ in f.problems]
    error_code = next((c for c in _SEVERITY if c in codes), None)
    return ArchiveReport(
        path=name,
        format=fmt,
        ok=not f.problems,
        members=f.members,
        file_version=file_version,
        dump_member=dump_member,
        size=total,
        content_hash=digest,
        problems=tuple(message for _, message in f.problems),
        error_code=error_code,
        layout=layout,
        warnings=warnings,
    )


def apply_strict(report: ArchiveReport) -> ArchiveReport:
    """Under --strict, an unrecognised layout is an error (`unknown_layout`)."""
    if not report.ok or report.layout != UNKNOWN:
        return report
    return replace(
        report,
        ok=False,
        error_code=UNKNOWN_LAYOUT,
        problems=(*report.problems, "unrecognised layout, refused by --strict"),
    )


def _sniff(f: Findings, head: bytes, fmt: str) -> bool:
    """Check the magic bytes; False (with a problem recorded) when the format is wrong."""
    magics = _MAGIC[fmt]
    if any(head.startswith(m) for m in magics):
        return True
    if any(m.startswith(head) for m in magics):  # includes an empty file
        f.add(CORRUPT, f"corrupt archive: truncated ({human_size(len(head))})")
    else:
        f.add(NOT_AN_ARCHIVE, f"not an archive: the data is not {fmt}")
    return False


def _zip_problem(f: Findings, exc: Exception) -> None:
    if isinstance(exc, LimitExceeded):
        f.add(EXCEEDS, f"not unpacked: {exc}")
    else:
        f.add(CORRUPT, f"corrupt archive: {_describe(exc)}")


def _verify_zip(f: Findings, stream: BinaryIO, hashing: bool) -> tuple[int, str]:
    try:
        seekable = bool(stream.seekable())
    except Exception:
        seekable = False
    if seekable:
        return _verify_zip_seekable(f, stream, hashing)
    # Not seekable (a download, a pipe): copy into a spooled temporary file, hashing the
    # bytes on the way, then verify the copy.
    reader = HashingReader(stream, new_hasher(hashing))
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_MEMORY) as spool:
        while data := reader.read(CHUNK_SIZE):
            try:
                spool.write(data)
            except OSError as exc:  # this machine's temp dir, not the archive
                raise spool_error(exc) from None
        spool.seek(0)
        try:
            if _sniff(f, spool.read(4), "zip"):
                spool.seek(0)
                _scan_zip(f, spool, reader.size)
        except Exception as exc:
            _zip_problem(f, exc)
    return reader.size, reader.hasher.hexdigest()


def _verify_zip_seekable(f: Findings, stream: BinaryIO, hashing: bool) -> tuple[int, str]:
    view = SeekHashingReader(stream, new_hasher(hashing))
    try:
        if _sniff(f, view.read(4), "zip"):
            size = view.seek(0, 2)
            view.seek(0)
            _scan_zip(f, view, size)
    except UnderlyingIOError:
        raise
    except Exception as exc:
        _zip_problem(f, exc)
    total = view.finish()
    return total, view.hasher.hexdigest()


def verify_file(path: Path, *, hashing: bool = True) -> ArchiveReport:
    """Verify a local archive, reading it exactly once.

    Raises NotFound, PermissionDenied or UsageError (a directory) when the file cannot
    be opened, and BackupError when reading it fails; problems with its content are in
    the returned report.
    """
    if path.is_dir():
        raise errors.UsageError(
            f"{path} is a directory, not an archive",
            hint="pass backup archives (.tar.xz, .tar.gz, .tgz, .zip), e.g. backups/*.tar.xz",
        )
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise errors.NotFound(
            f"no such file: {path}",
            hint="check the path; Fermentrack keeps backups in fermentrack2/backups/",
        ) from None
    except PermissionError:
        raise errors.PermissionDenied(
            f"permission denied reading {path}",
            hint="run as a user that can read the backups (e.g. the fermentrack user)",
        ) from None
    except OSError as exc:
        raise errors.BackupError(
            f"cannot open {path}: {exc.strerror or exc}",
            "check the path and the device it is on, then run again",
            code="os_error",
        ) from exc
    with fh:
        try:
            return verify_stream(fh, str(path), hashing=hashing)
        except OSError as exc:
            raise errors.BackupError(
                f"error reading {path}: {exc.strerror or exc}",
                "check the disk and the file (the kernel log, `dmesg`, may say more), "
                "then run again",
                code="io_error",
            ) from exc
