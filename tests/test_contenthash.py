"""Our hashlib content hash equals the SDK's and the definition."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli.contenthash import BLOCK_SIZE, ContentHasher, combine, content_hash

MIB = 1024 * 1024


def reference(data: bytes) -> str:
    """The definition, written the obvious way."""
    blocks = [data[i : i + BLOCK_SIZE] for i in range(0, len(data), BLOCK_SIZE)]
    return hashlib.sha256(b"".join(hashlib.sha256(b).digest() for b in blocks)).hexdigest()


def test_empty_file_hash_is_sha256_of_nothing() -> None:
    assert content_hash(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_published_style_vectors() -> None:
    # one byte: sha256(sha256(b"a"))
    assert content_hash(b"a") == hashlib.sha256(hashlib.sha256(b"a").digest()).hexdigest()
    exact = b"\0" * BLOCK_SIZE
    assert content_hash(exact) == hashlib.sha256(hashlib.sha256(exact).digest()).hexdigest()


sizes = st.sampled_from(
    [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 7]
) | st.integers(0, 3 * BLOCK_SIZE)


@settings(max_examples=25, deadline=None)
@given(
    size=sizes, seed=st.integers(0, 255), cuts=st.lists(st.integers(0, 3 * BLOCK_SIZE), max_size=5)
)
def test_incremental_hash_matches_sdk_at_block_boundaries(
    size: int, seed: int, cuts: list[int]
) -> None:
    from dropbox.content_hash import DropboxContentHasher

    data = bytes([seed]) * size
    ours = ContentHasher()
    last = 0
    for cut in sorted(c for c in cuts if c <= size):
        ours.update(data[last:cut])
        last = cut
    ours.update(data[last:])
    sdk = DropboxContentHasher()
    sdk.update(data)
    assert ours.hexdigest() == sdk.hexdigest() == reference(data)
    assert ours.size == size


def test_block_digests_combine_into_chunk_and_file_hashes() -> None:
    data = bytes(range(256)) * (3 * BLOCK_SIZE // 256) + b"tail"
    hasher = ContentHasher()
    hasher.update(data)
    whole = hasher.hexdigest()
    digests = [*hasher.block_digests, hashlib.sha256(b"tail").digest()]
    assert combine(digests) == whole
    # a chunk of two blocks has the hash of those two blocks' digests
    assert combine(digests[:2]) == content_hash(data[: 2 * BLOCK_SIZE])
