"""The floor the CLI is measured against: only the work an upload cannot avoid.

`python baseline_sdk.py FILE CHUNK_MIB` reads FILE once in CHUNK_MIB chunks,
SHA-256-hashes each 4 MiB block once, and sends it through one sequential upload
session with the dropbox SDK (content_hash on every call), then checks the
returned hash. Credentials and hosts come from the environment bench_upload.py
sets (DROPBOX_* and BENCH_REFRESH_TOKEN).
"""

from __future__ import annotations

import hashlib
import os
import sys

import dropbox
from dropbox import files

BLOCK = 4 * 1024 * 1024


def chunk_hash(data: bytes, digests: list[bytes]) -> str:
    view = memoryview(data)
    mine = [hashlib.sha256(view[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    digests.extend(mine)
    return hashlib.sha256(b"".join(mine)).hexdigest()


def main() -> None:
    path, chunk = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
    dbx = dropbox.Dropbox(
        oauth2_refresh_token=os.environ["BENCH_REFRESH_TOKEN"],
        app_key=os.environ["DROPBOX_APP_KEY"],
        app_secret=os.environ["DROPBOX_APP_SECRET"],
        max_retries_on_error=0,
        max_retries_on_rate_limit=0,
        auto_content_hash=False,
    )
    size = os.path.getsize(path)
    digests: list[bytes] = []
    remote = "/Fermentrack Backups/" + os.path.basename(path)
    with open(path, "rb", buffering=0) as f:
        data = f.read(chunk)
        session = dbx.files_upload_session_start(data, content_hash=chunk_hash(data, digests))
        offset = len(data)
        while True:
            data = f.read(chunk)
            cursor = files.UploadSessionCursor(session.session_id, offset)
            digest = chunk_hash(data, digests) if data else None
            if offset + len(data) >= size:
                md = dbx.files_upload_session_finish(
                    data, cursor, files.CommitInfo(remote), content_hash=digest
                )
                break
            dbx.files_upload_session_append_v2(data, cursor, content_hash=digest)
            offset += len(data)
    assert md.content_hash == hashlib.sha256(b"".join(digests)).hexdigest()


if __name__ == "__main__":
    main()
