"""The local-folder target: a USB stick, NAS mount or second disk.

Also the offline reference implementation of the Target protocol: streams the
source through a temp file in the destination folder, hashing in the same read,
fsyncs, renames atomically and re-reads the stored copy to compare hashes. Every
OSError is turned into an error naming what failed: the source or the destination.
Whether names differ by case is probed on the folder's filesystem once (an exFAT
stick is case-insensitive, ext4 is not).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from ... import bandwidth, contenthash, errors
from ...bandwidth import Limiter
from ...contenthash import BLOCK_SIZE, ContentHasher, hash_file
from ...fsutil import TEMP_NAME, blame, create_temp, fsync_dir, os_error, same_file
from ...models import RemoteFile
from ...retry import Deadline
from ..base import (
    Capabilities,
    Check,
    NameRules,
    Progress,
    SourceFile,
    Space,
    Stored,
    no_progress,
)
from .folder import check_folder, need_space

COPY_BUFFER = BLOCK_SIZE  # 4 MiB: one hash block, constant memory

LEGACY_TEMP_NAME = re.compile(
    r"^\..+\.(tar\.xz|tar\.gz|tgz|zip)\.[a-z0-9_]{8}\.part$", re.IGNORECASE
)
"""Temp files of earlier versions: tempfile.mkstemp(prefix=".NAME.", suffix=".part")."""

# What a folder stores: NAME_MAX bytes, no "/" or NUL. On a case-insensitive
# filesystem (FAT, exFAT, NTFS, APFS/HFS+ by default) also none of the characters
# Windows filesystems refuse, and no trailing dots or spaces.
_POSIX_NAMES = NameRules("this folder's filesystem")
_FAT_NAMES = NameRules(
    "this folder's filesystem", forbidden='/\x00<>:"\\|?*', control=True, no_trailing=" ."
)


ABANDONED_AFTER_S = 600.0  # where flock is not supported: a temp file untouched this long


def _hold(fd: int) -> None:
    """Take an flock on a temp file being written (where the filesystem has flock)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_if_abandoned(path: Path) -> bool:
    """Remove a temp file nobody is writing: no flock on it (or, where the filesystem has
    no flock, untouched for ABANDONED_AFTER_S). Never follows a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a copy in progress (this machine's or another's)
        except OSError:  # no flock here: go by age
            if time.time() - info.st_mtime < ABANDONED_AFTER_S:
                return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


def _case_sensitive(root: Path) -> bool:
    """Whether names in `root` differ by case: look up its own name with the case swapped
    in its parent when both are on one filesystem (a mount point's name lives on the
    filesystem below it, not on the stick), else create a probe file inside it. A folder
    we cannot probe is taken as case-sensitive."""
    name = root.name
    swapped = name.swapcase()
    if name and swapped != name and _same_filesystem(root, root.parent):
        with contextlib.suppress(OSError):
            return not root.samefile(root.parent / swapped)
        return True
    probe = root / f".fbk-case-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    except OSError:
        return True
    try:
        os.close(fd)
        return not os.path.lexists(root / probe.name.upper())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_source_identity(source: SourceFile, fd: int) -> None:
    """After the copy: the file at `source.path` must still be the one read through
    `fd`, unchanged. An fd keeps reading a file that was deleted or replaced, so
    checking the fd alone would store a backup that no longer exists."""
    source.check_unchanged(fd)
    try:
        at_path = source.path.stat()
    except FileNotFoundError:
        raise errors.SourceChanged(
            f"{source.path} vanished while uploading; nothing was stored",
            "make sure nothing deletes backups while they upload, then run again",
        ) from None
    except OSError as exc:
        raise os_error(exc, "read", source.path) from None
    if not same_file(at_path, os.fstat(fd)):
        raise errors.SourceChanged(
            f"{source.path} was replaced while uploading; nothing was stored",
            "wait until Fermentrack has finished writing the backup, then run again",
        )
    source.check_unchanged()


class LocalTarget:
    def __init__(
        self,
        root: Path,
        remote_folder: str,
        provider_id: str,
        deadline: Deadline | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.provider_id = provider_id
        self.root = root
        self.folder = root.joinpath(*[p for p in remote_folder.split("/") if p])
        self.deadline = deadline  # the run's time budget: a copy stops between blocks
        self.limiter = limiter  # the run's bandwidth limit: a NAS mount is a shared link

    @cached_property
    def capabilities(self) -> Capabilities:
        sensitive = _case_sensitive(self.root)
        return Capabilities(
            hash_kind=contenthash.KIND,  # Dropbox's algorithm, computed on the stored file
            case_sensitive=sensitive,
            name_rules=_POSIX_NAMES if sensitive else _FAT_NAMES,
            resumable_uploads=False,
            reports_space=True,
            lists_hashes=False,
        )

    @property
    def lock_key(self) -> str:
        # the folder written, however it is named (`local:R` with the default remote folder
        # and `local:R/Fermentrack Backups` with remote_folder "/" are one folder)
        return os.path.realpath(self.folder)

    @property
    def description(self) -> str:
        # the real path: the same folder reached through a symlink is named the same
        return os.path.realpath(self.folder)

    def remote_path(self, name: str) -> str:
        return str(self.folder / name)

    def _file(self, entry: os.DirEntry[str]) -> RemoteFile:
        # No hash here: listing thousands of files must not read them all.
        # Callers that need a hash ask `stat`, which reads the one file.
        st = entry.stat()
        return RemoteFile(
            entry.name, entry.path, st.st_size, None, datetime.fromtimestamp(st.st_mtime, UTC)
        )

    def list_files(self) -> Iterator[RemoteFile]:
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error(exc, "list", self.folder) from None
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                with blame("read", entry.path):
                    found = self._file(entry)
                yield found

    def stat(self, name: str) -> RemoteFile | None:
        path = self.folder / name
        with blame("read", path):
            try:
                st = path.stat()
            except FileNotFoundError:
                return None
            if not stat.S_ISREG(st.st_mode):
                return None
            _, digest = hash_file(path)
        return RemoteFile(
            name, str(path), st.st_size, digest, datetime.fromtimestamp(st.st_mtime, UTC)
        )

    def space(self) -> Space | None:
        where = self.folder if self.folder.exists() else self.root
        with blame("read", where):
            usage = shutil.disk_usage(where)
        return Space(used=usage.used, allocated=usage.total)

    def begin_run(self) -> None:
        self.remove_stale_temp_files()

    def remove_stale_temp_files(self) -> list[str]:
        """Remove the temp files killed runs left in the folder. Only this tool's own
        names, only regular files, and only one nobody holds: a copy in progress holds an
        flock on its temp file (the run lock does not cover another user's or another
        machine's run on a shared folder), and the kernel drops it when a run is killed.
        Returns the names removed."""
        removed = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise os_error(exc, "list", self.folder) from None
        for entry in entries:
            name = entry.name
            if TEMP_NAME.match(name) or LEGACY_TEMP_NAME.match(name):
                with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
                    if _remove_if_abandoned(Path(entry.path)):
                        removed.append(name)
        if removed:
            fsync_dir(self.folder)
        return removed

    def _prepare(self, source: SourceFile) -> None:
        check_folder(self.root)
        with blame("create", self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        need_space(self.folder, source.name, source.size)

    def upload(
        self,
        source: SourceFile,
        *,
        overwrite: bool,
        progress: Progress = no_progress,
        check: Check | None = None,
    ) -> Stored:
        self._prepare(source)
        final = self.folder / source.name
        with blame("read", source.path):
            src = source.path.open("rb")
        with src:
            with blame("create a temporary file in", self.folder):
                fd, tmp = create_temp(self.folder, source.name, ".part")
                _hold(fd)  # ours while we copy: no other run's cleanup removes it
            try:
                digest = self._copy(source, src, fd, final, progress, check)
                if check is not None:
                    check.finish()  # a damaged archive: the temp file is removed below
                with blame("write", final):
                    self._commit(tmp, final, overwrite)
            except BaseException as exc:
                written = tmp.stat().st_size if tmp.is_file() else 0
                with contextlib.suppress(OSError):
                    tmp.unlink()
                if isinstance(exc, errors.InsufficientSpace):  # ENOSPC writing: with sizes
                    need_space(self.folder, source.name, source.size, written)
                raise
        with blame("read back", final):
            stored_size, stored_hash = hash_file(final)
            mtime = datetime.fromtimestamp(final.stat().st_mtime, UTC)
        if stored_size != source.size or stored_hash != digest:
            raise errors.VerifyMismatch(
                f"stored copy {final} does not match the source after writing",
                "the target drive may be failing; check it and upload again",
            )
        return Stored(RemoteFile(source.name, str(final), stored_size, stored_hash, mtime))

    def _copy(
        self,
        source: SourceFile,
        src: BinaryIO,
        fd: int,
        final: Path,
        progress: Progress,
        check: Check | None,
    ) -> str:
        """Copy `src` into the temp file `fd` (closing it), hashing as it goes."""
        hasher = ContentHasher()
        try:
            out = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with out:
            source.check_unchanged(src.fileno())
            while True:
                if self.deadline is not None and self.deadline.expired():
                    raise self.deadline.used_up(f"copying {source.name}")
                with blame("read", source.path):
                    block = bandwidth.read(src, COPY_BUFFER, self.limiter)
                if not block:
                    break
                with blame("write", final):
                    out.write(block)
                hasher.update(block)
                if check is not None:
                    check.feed(block)
                progress(len(block))
            with blame("write", final):
                out.flush()
                os.fsync(out.fileno())
            check_source_identity(source, src.fileno())
        digest = hasher.hexdigest()
        if hasher.size != source.size or (source.content_hash not in (None, digest)):
            raise errors.SourceChanged(
                f"{source.path} changed while uploading; nothing was stored",
                "wait until Fermentrack has finished writing the backup, then run again",
            )
        return digest

    def _commit(self, tmp: Path, final: Path, overwrite: bool) -> None:
        if overwrite:
            tmp.replace(final)
        else:
            try:
                # link() refuses to replace, so a file that appeared meanwhile is never lost
                os.link(tmp, final)
            except FileExistsError:
                raise errors.RemoteConflict(
                    f"{final} already exists with different content",
                    "pass --overwrite to replace it",
                ) from None
            except OSError:  # filesystems without hard links (FAT, exFAT)
                if os.path.lexists(final):
                    raise errors.RemoteConflict(
                        f"{final} already exists with different content",
                        "pass --overwrite to replace it",
                    ) from None
                if not os.path.lexists(tmp):
                    raise errors.TargetError(
                        f"the temporary copy {tmp.name} in {self.folder} vanished before it "
                        "was renamed into place; nothing was stored",
                        "another program removed it: make sure nothing cleans the folder "
                        "while backups upload, then run again",
                        code="temp_vanished",
                    ) from None
                tmp.replace(final)
            else:
                tmp.unlink()
        fsync_dir(self.folder)

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        path = self.folder / name
        with blame("read", path):
            if not path.is_file():  # missing, or a directory that happens to end in .tar.xz
                raise errors.NotFound(
                    f"no stored backup named {name} in {self.folder}",
                    "list them with `fermentrack-backup remote ls`",
                )
            handle = path.open("rb")
            handle.seek(offset)
        return handle

    def delete(self, names: Sequence[str]) -> list[str]:
        deleted = []
        for name in names:
            try:
                (self.folder / name).unlink()
                deleted.append(name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise os_error(exc, "delete", self.folder / name) from None
        fsync_dir(self.folder)
        return deleted
