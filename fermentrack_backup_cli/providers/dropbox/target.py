"""DropboxTarget: a connection's folder inside the app folder, and the upload primitives."""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC
from typing import Any, BinaryIO, Generic, TypeVar

import dropbox
import requests
from dropbox import files as dbx_files

from ... import contenthash, errors
from ...models import Account, RemoteFile
from ...retry import Deadline, RetryPolicy
from ..base import (
    Capabilities,
    Check,
    NameRules,
    NoResume,
    Progress,
    ResumeStore,
    SourceFile,
    Space,
    Stored,
    no_progress,
)
from ..spec import Transfer
from .convert import converting
from .engine import chunk_bytes, upload_file
from .job import Job
from .tuning import MIB, chunk_for_budget, max_parallel_for_budget

T = TypeVar("T")
LIST_PAGE = 2000
DELETE_BATCH = 1000

# Names Dropbox refuses to store (it ignores them when syncing, so the API rejects them).
NAME_RULES = NameRules(
    "Dropbox",
    control=True,
    no_trailing=" .",
    reserved=frozenset({"desktop.ini", "thumbs.db", ".ds_store", ".dropbox", ".dropbox.attr"}),
)
CAPABILITIES = Capabilities(
    hash_kind=contenthash.KIND,  # Dropbox's content_hash, computed by Dropbox
    case_sensitive=False,  # Dropbox paths are case-insensitive
    name_rules=NAME_RULES,
    resumable_uploads=True,
    reports_space=True,
    lists_hashes=True,
)


class _Counted(Generic[T]):
    """A call that counts its tries. A delete retried after its reply was lost finds
    the file gone: that try deleted it, so it counts as deleted, not as missing."""

    def __init__(self, func: Callable[[], T]) -> None:
        self.func = func
        self.tries = 0

    def __call__(self) -> T:
        self.tries += 1
        return self.func()

    @property
    def retried(self) -> bool:
        return self.tries > 1


def _already_gone(entry: Any) -> bool:
    """A delete_batch entry that failed because the file is not there (any more)."""
    if not entry.is_failure():
        return False
    failure = entry.get_failure()
    return bool(failure.is_path_lookup() and failure.get_path_lookup().is_not_found())


def to_remote(md: Any) -> RemoteFile:
    modified = md.server_modified
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return RemoteFile(md.name, md.path_display, md.size, md.content_hash, modified)


class DropboxTarget:
    """A connection's folder inside the Dropbox app folder."""

    def __init__(
        self,
        client: dropbox.Dropbox,
        remote_folder: str,
        retry: RetryPolicy,
        *,
        provider_id: str = "dropbox",
        lock_key: str | None = None,
        transfer: Transfer | None = None,
        resume: ResumeStore | None = None,
    ) -> None:
        self.client = client
        self.folder = remote_folder.rstrip("/")
        self.retry = retry
        self.provider_id = provider_id
        self._lock_key = lock_key or f"{provider_id}:{self.folder.lower()}"
        self.transfer = transfer or Transfer()
        self.resume: ResumeStore = resume or NoResume()

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def lock_key(self) -> str:
        return self._lock_key

    def begin_run(self) -> None:
        return None

    @property
    def description(self) -> str:
        return f"Dropbox:{self.folder}"

    def remote_path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def call(self, what: str, func: Callable[[], T]) -> T:
        """One API call, converted and retried within the policy."""

        def attempt() -> T:
            with converting(what):
                return func()

        return self.retry.call(attempt, what)

    # account ---------------------------------------------------------------------

    def account(self) -> Account:
        acct = self.call("reading the account", self.client.users_get_current_account)
        return Account(acct.account_id, acct.email, acct.name.display_name)

    def space(self) -> Space:
        usage = self.call("reading space usage", self.client.users_get_space_usage)
        alloc = usage.allocation
        allocated = None
        if alloc.is_individual():
            allocated = alloc.get_individual().allocated
        elif alloc.is_team():
            allocated = alloc.get_team().allocated
        return Space(used=usage.used, allocated=allocated)

    def refresh(self) -> None:
        """Force a token refresh now (status/doctor check the token really works)."""
        self.call("refreshing the access token", self.client.refresh_access_token)

    def revoke(self) -> None:
        self.call("revoking the token", self.client.auth_token_revoke)

    # files -----------------------------------------------------------------------

    def list_files(self) -> Iterator[RemoteFile]:
        try:
            result = self.call(
                f"listing {self.folder}",
                lambda: self.client.files_list_folder(self.folder, limit=LIST_PAGE),
            )
        except errors.NotFound:
            return
        while True:
            for entry in result.entries:
                if isinstance(entry, dbx_files.FileMetadata):
                    yield to_remote(entry)
            if not result.has_more:
                return
            result = self.call(
                f"listing {self.folder}",
                functools.partial(self.client.files_list_folder_continue, result.cursor),
            )

    def stat(self, name: str) -> RemoteFile | None:
        path = self.remote_path(name)
        try:
            md = self.call(f"reading {path}", lambda: self.client.files_get_metadata(path))
        except errors.NotFound:
            return None
        return to_remote(md) if isinstance(md, dbx_files.FileMetadata) else None

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        path = self.remote_path(name)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        _, response = self.call(
            f"downloading {path}",
            lambda: self.client.files_download(path, extra_headers=headers),
        )
        if offset and response.status_code != 206:
            response.close()
            raise errors.Transient(
                f"Dropbox ignored the range request for {path}",
                "run again: the download starts over",
            )
        stream = _ResponseStream(response, path, self.retry.deadline)
        return io.BufferedReader(stream, buffer_size=1 << 20)

    def delete(self, names: Sequence[str]) -> list[str]:
        """Delete stored files; names not stored are skipped, except that a file a retry
        finds gone counts as deleted (the try whose reply was lost deleted it)."""
        if len(names) == 1:
            path = self.remote_path(names[0])
            single = _Counted(lambda: self.client.files_delete_v2(path))
            try:
                self.call(f"deleting {path}", single)
            except errors.NotFound:
                return list(names) if single.retried else []
            return list(names)
        deleted: list[str] = []
        for start in range(0, len(names), DELETE_BATCH):
            deleted.extend(self._delete_batch(names[start : start + DELETE_BATCH]))
        return deleted

    def _delete_batch(self, names: Sequence[str]) -> list[str]:
        entries = [dbx_files.DeleteArg(self.remote_path(n)) for n in names]
        counted = _Counted(lambda: self.client.files_delete_batch(entries))
        launch = self.call("deleting old backups", counted)
        deadline = time.monotonic() + 300
        status: Any = launch
        if launch.is_async_job_id():
            job = launch.get_async_job_id()
            status = self.call(
                "waiting for deletion", lambda: self.client.files_delete_batch_check(job)
            )
            while status.is_in_progress():
                if time.monotonic() > deadline:
                    raise errors.NetworkError(
                        "Dropbox did not finish deleting within 5 minutes",
                        "run prune again later",
                        code="timeout",
                    )
                self.retry.pause(0.2)  # Ctrl-C ends the wait; so does the run's deadline
                status = self.call(
                    "waiting for deletion", lambda: self.client.files_delete_batch_check(job)
                )
        if not status.is_complete():
            raise errors.BackupError(
                "Dropbox could not delete the old backups",
                "see `fermentrack-backup remote ls` and run prune again",
                code="delete_failed",
            )
        result = status.get_complete()
        return [
            n
            for n, entry in zip(names, result.entries, strict=False)
            if entry.is_success() or (counted.retried and _already_gone(entry))
        ]

    def upload(
        self,
        source: SourceFile,
        *,
        overwrite: bool,
        progress: Progress = no_progress,
        check: Check | None = None,
    ) -> Stored:
        """Through the engine: one call up to a chunk, else a (resumable) upload session."""
        t = self.transfer
        memory = t.memory_mib * MIB
        chunk = chunk_bytes(t.chunk_size_mib) if t.chunk_size_mib else chunk_for_budget(memory)
        parallel = t.parallel if t.parallel else max_parallel_for_budget(memory, chunk)
        job = Job(self, source, overwrite, progress, chunk, max(1, parallel), self.resume, check)
        if not t.parallel and parallel > 1:
            job.auto_memory = memory  # concurrent session, first chunks alone and timed
            job.auto_chunk = not t.chunk_size_mib
        return upload_file(job)

    # upload-session primitives for the transfer engine --------------------------------

    def _mode(self, overwrite: bool) -> dbx_files.WriteMode:
        return dbx_files.WriteMode.overwrite if overwrite else dbx_files.WriteMode.add

    def upload_small(
        self, data: bytes, name: str, content_hash: str, overwrite: bool
    ) -> RemoteFile:
        path = self.remote_path(name)
        with converting(path):
            md = self.client.files_upload(
                data,
                path,
                mode=self._mode(overwrite),
                strict_conflict=False,
                content_hash=content_hash,
            )
        return to_remote(md)

    def session_start(
        self, data: bytes, content_hash: str | None, *, concurrent: bool, close: bool = False
    ) -> str:
        session_type = dbx_files.UploadSessionType.concurrent if concurrent else None
        with converting("starting an upload session"):
            result = self.client.files_upload_session_start(
                data,
                close=close,
                session_type=session_type,
                content_hash=content_hash if data else None,
            )
        return str(result.session_id)

    def session_append(
        self, session_id: str, offset: int, data: bytes, content_hash: str | None, *, close: bool
    ) -> None:
        cursor = dbx_files.UploadSessionCursor(session_id, offset)
        with converting(f"uploading at offset {offset}"):
            self.client.files_upload_session_append_v2(
                data, cursor, close=close, content_hash=content_hash
            )

    def session_finish(
        self,
        session_id: str,
        offset: int,
        data: bytes,
        content_hash: str | None,
        name: str,
        overwrite: bool,
    ) -> RemoteFile:
        path = self.remote_path(name)
        cursor = dbx_files.UploadSessionCursor(session_id, offset)
        commit = dbx_files.CommitInfo(path, mode=self._mode(overwrite), strict_conflict=False)
        with converting(path):
            md = self.client.files_upload_session_finish(
                data, cursor, commit, content_hash=content_hash
            )
        return to_remote(md)


class _ResponseStream(io.RawIOBase):
    """A raw stream over a streamed download; network errors become Transient, and a body
    cut at the run's deadline says the budget is used up."""

    def __init__(
        self, response: requests.Response, path: str, deadline: Deadline | None = None
    ) -> None:
        super().__init__()
        self.response = response
        self.path = path
        self.deadline = deadline
        response.raw.decode_content = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.response.raw.read(len(buffer))
        except Exception:  # urllib3 ProtocolError/ReadTimeoutError mid-body
            if self.deadline is not None and self.deadline.expired():
                raise self.deadline.used_up(f"downloading {self.path}") from None
            raise errors.Transient(
                f"connection lost while downloading {self.path}",
                "check the network connection, then run again",
                code="network",
            ) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.response.close()
        super().close()
