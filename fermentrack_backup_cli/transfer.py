"""The upload engine: chunk plan, one read and one hash per byte, bounded retries.

Provider-generic over `SessionAPI` (the Dropbox target implements it); never
prints and never imports the SDK. Each 4 MiB block is read once and hashed
once; every chunk's content hash and the whole file's hash are derived from
the same block digests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from . import errors
from .contenthash import BLOCK_SIZE, ContentHasher, combine
from .models import RemoteFile
from .providers.base import Progress, SourceFile, Stored
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .app import App

MIB = 1024 * 1024


class SessionAPI(Protocol):
    retry: RetryPolicy

    def upload_small(
        self, data: bytes, name: str, content_hash: str, overwrite: bool
    ) -> RemoteFile: ...

    def session_start(
        self, data: bytes, content_hash: str, *, concurrent: bool, close: bool = False
    ) -> str: ...

    def session_append(
        self, session_id: str, offset: int, data: bytes, content_hash: str | None, *, close: bool
    ) -> None: ...

    def session_finish(
        self,
        session_id: str,
        offset: int,
        data: bytes,
        content_hash: str | None,
        name: str,
        overwrite: bool,
    ) -> RemoteFile: ...


def read_chunk(handle: object, size: int, hasher: ContentHasher) -> tuple[bytes, str]:
    """Read up to `size` bytes block by block; return them and their content hash."""
    blocks: list[bytes] = []
    digests_before = len(hasher.block_digests)
    remaining = size
    while remaining > 0:
        block = handle.read(min(BLOCK_SIZE, remaining))  # type: ignore[attr-defined]
        if not block:
            break
        hasher.update(block)
        blocks.append(block)
        remaining -= len(block)
    data = b"".join(blocks)
    import hashlib

    new = hasher.block_digests[digests_before:]
    if len(data) % BLOCK_SIZE:
        new = [*new, hashlib.sha256(data[len(new) * BLOCK_SIZE :]).digest()]
    return data, combine(new)


def upload_sequential(
    api: SessionAPI, source: SourceFile, overwrite: bool, progress: Progress, chunk_size: int
) -> Stored:
    hasher = ContentHasher()
    with source.path.open("rb") as handle:
        source.check_unchanged(handle.fileno())
        data, chunk_hash = read_chunk(handle, chunk_size, hasher)
        if len(data) < chunk_size:
            md = api.retry.call(
                lambda: api.upload_small(data, source.name, chunk_hash, overwrite),
                f"uploading {source.name}",
            )
            progress(len(data))
        else:
            session = api.retry.call(
                lambda: api.session_start(data, chunk_hash, concurrent=False),
                "starting an upload session",
            )
            offset = len(data)
            progress(len(data))
            while True:
                data, chunk_hash = read_chunk(handle, chunk_size, hasher)
                if len(data) < chunk_size:
                    break
                at = offset
                chunk, digest = data, chunk_hash
                api.retry.call(
                    lambda: api.session_append(session, at, chunk, digest, close=False),
                    "uploading a chunk",
                )
                offset += len(data)
                progress(len(data))
            source.check_unchanged(handle.fileno())
            at, chunk, digest = offset, data, chunk_hash
            md = api.retry.call(
                lambda: api.session_finish(session, at, chunk, digest, source.name, overwrite),
                f"committing {source.name}",
            )
            progress(len(data))
    local_hash = hasher.hexdigest()
    if md.size != source.size or md.content_hash != local_hash:
        raise errors.VerifyMismatch(
            f"Dropbox stored {md.size} bytes with another content hash for {source.name}",
            "run the upload again with --overwrite",
        )
    return Stored(md)


def uploader_for(app: App, conn_id: str) -> Callable[..., Stored]:
    chunk_mib = int(app.settings.get("upload.chunk_size_mib")) // 4 * 4

    def upload(api: SessionAPI, source: SourceFile, overwrite: bool, progress: Progress) -> Stored:
        return upload_sequential(api, source, overwrite, progress, chunk_mib * MIB)

    return upload
