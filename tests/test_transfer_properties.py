"""Properties of the chunk plan and of the block-digest hashing (hypothesis)."""

from __future__ import annotations

import os
from pathlib import Path

from dropbox.content_hash import DropboxContentHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli.contenthash import BLOCK_SIZE
from fermentrack_backup_cli.providers.base import SourceFile
from fermentrack_backup_cli.providers.dropbox.chunks import BlockReader, plan_chunks, span_end

MIB = 1024 * 1024


def sdk_hash(data: bytes) -> str:
    hasher = DropboxContentHasher()
    hasher.update(data)
    return str(hasher.hexdigest())


@settings(deadline=None)  # a 1 TB plan has ~250k spans: slow on a loaded CI machine, not wrong
@given(
    size=st.integers(0, 10**12),
    chunk_blocks=st.integers(1, 37),
    start=st.integers(0, 10**12),
)
def test_a_chunk_plan_covers_each_byte_exactly_once(
    size: int, chunk_blocks: int, start: int
) -> None:
    chunk = chunk_blocks * BLOCK_SIZE
    start = min(start, size)
    spans = list(plan_chunks(size, chunk, start))
    position = start
    for begin, end in spans:
        assert begin == position  # contiguous, no overlap, no gap
        assert 0 < end - begin <= chunk
        assert end % BLOCK_SIZE == 0 or end == size  # ends on a block boundary or at EOF
        position = end
    assert position == size


@given(st.integers(0, 5 * BLOCK_SIZE), st.integers(1, 3))
def test_every_chunk_but_an_unaligned_first_or_the_last_is_a_full_chunk(
    pos: int, chunk_blocks: int
) -> None:
    chunk = chunk_blocks * BLOCK_SIZE
    size = 6 * BLOCK_SIZE + 17
    end = span_end(pos, size, chunk)
    if pos % BLOCK_SIZE == 0 and end != size:
        assert end - pos == chunk


_DATA = os.urandom(3 * BLOCK_SIZE + 12345)


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from(
        [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE, len(_DATA)]
    )
    | st.integers(0, len(_DATA)),
    chunk_blocks=st.integers(1, 2),
    jumps=st.lists(st.integers(0, len(_DATA)), max_size=2),
)
def test_chunk_and_file_hashes_agree_with_the_sdk(
    size: int, chunk_blocks: int, jumps: list[int]
) -> None:
    data = _DATA[:size]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fb-prop-{os.getpid()}.bin"
    path.write_bytes(data)
    try:
        source = SourceFile.from_path(path)
        chunk = chunk_blocks * BLOCK_SIZE
        with path.open("rb") as handle:
            reader = BlockReader(handle.fileno(), source)
            pos = 0
            # server-dictated offsets (incorrect_offset) may move the position anywhere
            for jump in sorted(j for j in jumps if j <= size):
                pos = max(pos, jump)
                end = span_end(pos, size, chunk)
                body, chunk_hash = reader.payload(pos, end)
                assert body == data[pos:end]
                assert chunk_hash == sdk_hash(data[pos:end])
                pos = end
            for begin, end in plan_chunks(size, chunk, pos):
                body, chunk_hash = reader.payload(begin, end)
                assert body == data[begin:end]
                assert chunk_hash == sdk_hash(data[begin:end])
            assert reader.file_hash() == sdk_hash(data)
    finally:
        path.unlink()


def test_a_resumed_reader_hashes_from_the_recorded_digests(tmp_path: Path) -> None:
    data = _DATA
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    source = SourceFile.from_path(path)
    with path.open("rb") as handle:
        first = BlockReader(handle.fileno(), source)
        first.payload(0, 2 * BLOCK_SIZE)
        digests = first.prefix_digests(2 * BLOCK_SIZE)
        resumed = BlockReader(handle.fileno(), source, digests)
        body, _ = resumed.payload(2 * BLOCK_SIZE, len(data))
        assert body == data[2 * BLOCK_SIZE :]
        assert resumed.file_hash() == sdk_hash(data)
