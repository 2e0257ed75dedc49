"""The local-folder target: a USB stick, NAS mount or second disk.

Also the offline reference implementation of the Target protocol: streams the
source through a temp file in the destination folder, hashing in the same read,
fsyncs, renames atomically and re-reads the stored copy to compare hashes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .. import errors
from ..contenthash import BLOCK_SIZE, ContentHasher
from ..fsutil import fsync_dir, os_error
from ..models import RemoteFile
from .base import Progress, SourceFile, Space, Stored, no_progress

COPY_BUFFER = BLOCK_SIZE  # 4 MiB: one hash block, constant memory


def hash_file(path: Path, progress: Progress = no_progress) -> tuple[int, str]:
    """Size and content hash of a file, read once in 4 MiB blocks."""
    hasher = ContentHasher()
    with path.open("rb") as handle:
        while block := handle.read(COPY_BUFFER):
            hasher.update(block)
            progress(len(block))
    return hasher.size, hasher.hexdigest()


def check_folder(folder: Path) -> Path:
    """The folder must exist, be a directory and be writable."""
    folder = folder.expanduser()
    if not folder.exists():
        raise errors.TargetError(
            f"target folder does not exist: {folder}",
            "create it, or mount the drive it lives on",
            code="target_missing",
        )
    if not folder.is_dir():
        raise errors.TargetError(
            f"target is not a folder: {folder}", "give a directory path", code="target_missing"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise errors.PermissionDenied(
            f"target folder is not writable: {folder}",
            "fix its permissions or remount the drive read-write",
        )
    return folder.absolute()


class LocalTarget:
    provider_id = "local"

    def __init__(self, root: Path, remote_folder: str) -> None:
        self.root = root
        self.folder = root.joinpath(*[p for p in remote_folder.split("/") if p])

    @property
    def description(self) -> str:
        return str(self.folder)

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
                yield self._file(entry)

    def stat(self, name: str) -> RemoteFile | None:
        path = self.folder / name
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
        usage = shutil.disk_usage(self.folder if self.folder.exists() else self.root)
        return Space(used=usage.used, allocated=usage.total)

    def _prepare(self, source: SourceFile) -> None:
        check_folder(self.root)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, "create", self.folder) from None
        free = shutil.disk_usage(self.folder).free
        if free < source.size:
            raise errors.InsufficientSpace(
                f"not enough space in {self.folder}: need {source.size} bytes, {free} free",
                "free some space (or run prune) or choose another target folder",
            )

    def upload(
        self, source: SourceFile, *, overwrite: bool, progress: Progress = no_progress
    ) -> Stored:
        self._prepare(source)
        final = self.folder / source.name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{source.name}.", suffix=".part", dir=self.folder)
        tmp = Path(tmp_name)
        try:
            digest = self._copy(source, fd, progress)
            self._commit(tmp, final, overwrite)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise os_error(exc, "write", final) from None
            raise
        stored_size, stored_hash = hash_file(final)
        if stored_size != source.size or stored_hash != digest:
            raise errors.VerifyMismatch(
                f"stored copy {final} does not match the source after writing",
                "the target drive may be failing; check it and upload again",
            )
        mtime = datetime.fromtimestamp(final.stat().st_mtime, UTC)
        return Stored(RemoteFile(source.name, str(final), stored_size, stored_hash, mtime))

    def _copy(self, source: SourceFile, fd: int, progress: Progress) -> str:
        hasher = ContentHasher()
        with os.fdopen(fd, "wb") as out, source.path.open("rb") as src:
            source.check_unchanged(src.fileno())
            while block := src.read(COPY_BUFFER):
                out.write(block)
                hasher.update(block)
                progress(len(block))
            out.flush()
            os.fsync(out.fileno())
            source.check_unchanged(src.fileno())
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
                tmp.unlink()
            except FileExistsError:
                raise errors.RemoteConflict(
                    f"{final} already exists with different content",
                    "pass --overwrite to replace it",
                ) from None
            except OSError:  # filesystems without hard links (FAT, exFAT)
                if final.exists():
                    raise errors.RemoteConflict(
                        f"{final} already exists with different content",
                        "pass --overwrite to replace it",
                    ) from None
                tmp.replace(final)
        fsync_dir(self.folder)

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        path = self.folder / name
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
