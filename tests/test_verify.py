"""Archive verification: one streaming pass that checks integrity, safety and the dump."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.archive.verify import (
    archive_format,
    needs_seek,
    verify_file,
    verify_stream,
)
from fermentrack_backup_cli.contenthash import ContentHasher
from tests.samples import (
    DUMP_NAME,
    SAMPLE,
    UNSAFE_KINDS,
    flip_byte,
    make_backup,
    make_unsafe_tar,
    make_zip_bad_crc,
    truncate,
)

SAMPLE_BYTES = SAMPLE.read_bytes()
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class NonSeekable(io.RawIOBase):
    """A download-like stream: read() only, never seek()."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self._buf = io.BytesIO(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._buf.read(min(len(b), self._chunk))
        b[: len(data)] = data
        return len(data)

    def seek(self, *args: object) -> int:
        raise AssertionError("verify must not seek a tar stream")


def _content_hash(data: bytes) -> str:
    hasher = ContentHasher()
    hasher.update(data)
    return hasher.hexdigest()


def test_archive_format_is_decided_by_the_name_suffix_case_insensitively() -> None:
    assert archive_format("2026-11-27T03.00.00.tar.xz") == "tar.xz"
    assert archive_format("X.TAR.GZ") == "tar.gz"
    assert archive_format("x.tgz") == "tar.gz"
    assert archive_format("x.Zip") == "zip"
    assert archive_format("x.tar") is None
    assert archive_format("notes.txt") is None
    assert needs_seek("zip") and not needs_seek("tar.xz") and not needs_seek("tar.gz")


def test_the_committed_sample_verifies_ok_with_its_file_version_and_member_count() -> None:
    report = verify_file(SAMPLE)
    assert report.ok, report.problems
    assert report.format == "tar.xz"
    assert report.file_version == 3
    assert report.dump_member == DUMP_NAME
    assert report.members == 4  # the dump, data/, two logs
    assert report.problems == ()
    assert report.error_code is None
    assert len(SAMPLE_BYTES) < 20 * 1024


def test_the_sample_script_regenerates_a_byte_identical_sample(tmp_path: Path) -> None:
    script = SAMPLE.parent / "make_sample.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--when", "2026-11-27T03:00:00"],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / SAMPLE.name).read_bytes() == SAMPLE_BYTES


def test_the_generator_is_deterministic_for_every_format(tmp_path: Path) -> None:
    for fmt in ("tar.xz", "tar.gz", "zip"):
        a = make_backup(tmp_path / "a", fmt=fmt).read_bytes()
        b = make_backup(tmp_path / "b", fmt=fmt).read_bytes()
        assert a == b, fmt


@pytest.mark.parametrize(
    ("fmt", "suffix"),
    [("tar.xz", ".tar.xz"), ("tar.gz", ".tar.gz"), ("tgz", ".tgz"), ("zip", ".zip")],
)
def test_each_archive_format_verifies_ok(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = make_backup(tmp_path, n_logs=3, rows=50, file_version=7, fmt=fmt)
    assert path.name.endswith(suffix)
    report = verify_file(path)
    assert report.ok, report.problems
    assert report.format == ("tar.gz" if fmt == "tgz" else fmt)
    assert report.file_version == 7
    assert report.members == 5
    assert report.size == path.stat().st_size


@pytest.mark.parametrize("fmt", ["tar.xz", "tar.gz", "zip"])
def test_a_non_seekable_stream_verifies_with_the_same_hash_and_size(
    tmp_path: Path, fmt: str
) -> None:
    path = make_backup(tmp_path, fmt=fmt)
    data = path.read_bytes()
    report = verify_stream(NonSeekable(data), path.name, size=len(data))  # type: ignore[arg-type]
    assert report.ok, report.problems
    assert report.size == len(data)
    assert report.content_hash == _content_hash(data)


@pytest.mark.parametrize("fmt", ["tar.xz", "tar.gz", "zip"])
def test_content_hash_and_size_match_the_hashers_over_the_whole_file(
    tmp_path: Path, fmt: str
) -> None:
    from dropbox.content_hash import DropboxContentHasher

    # > 4 MiB so the hash spans several blocks (xz on random data is too slow to make here);
    # the tar record padding after the end-of-archive marker is covered too
    extra = 0 if fmt == "tar.xz" else 5 * 1024 * 1024
    path = make_backup(tmp_path, fmt=fmt, extra_bytes=extra)
    data = path.read_bytes()
    report = verify_file(path)
    assert report.ok, report.problems
    sdk = DropboxContentHasher()
    sdk.update(data)
    assert report.size == len(data) == path.stat().st_size
    assert report.content_hash == _content_hash(data) == sdk.hexdigest()


def test_a_wrong_expected_size_is_reported_corrupt() -> None:
    report = verify_stream(io.BytesIO(SAMPLE_BYTES), SAMPLE.name, size=len(SAMPLE_BYTES) + 1)
    assert not report.ok
    assert report.error_code == "corrupt_archive"


@FAST
@given(cut=st.integers(min_value=0, max_value=len(SAMPLE_BYTES) - 1))
def test_an_archive_truncated_anywhere_is_reported_corrupt(cut: int) -> None:
    data = SAMPLE_BYTES[:cut]
    report = verify_stream(io.BytesIO(data), SAMPLE.name)
    assert not report.ok
    assert report.error_code == "corrupt_archive", report.problems
    assert report.size == cut
    assert report.content_hash == _content_hash(data)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_truncated_gzip_and_zip_archives_are_reported_corrupt(tmp_path: Path, fmt: str) -> None:
    data = make_backup(tmp_path, fmt=fmt).read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 40)):
        report = verify_stream(io.BytesIO(data[:cut]), "x." + fmt)
        assert report.error_code == "corrupt_archive", (cut, report.problems)


def test_a_truncated_file_on_disk_is_reported_corrupt(tmp_path: Path) -> None:
    path = make_backup(tmp_path)
    truncate(path, path.stat().st_size // 2)
    report = verify_file(path)
    assert report.error_code == "corrupt_archive"
    assert report.problems and "truncated" in report.problems[0]


@FAST
@given(offset=st.integers(min_value=0, max_value=len(SAMPLE_BYTES) - 1))
def test_a_flipped_byte_anywhere_in_an_xz_archive_is_reported_corrupt(offset: int) -> None:
    data = bytearray(SAMPLE_BYTES)
    data[offset] ^= 0xFF
    report = verify_stream(io.BytesIO(bytes(data)), SAMPLE.name)
    assert not report.ok
    assert report.error_code in ("corrupt_archive", "not_an_archive"), report.problems


def test_a_flipped_byte_in_the_compressed_data_is_reported_corrupt(tmp_path: Path) -> None:
    path = make_backup(tmp_path)
    flip_byte(path, path.stat().st_size // 2)
    report = verify_file(path)
    assert report.error_code == "corrupt_archive"


def test_a_zip_with_a_bad_crc_is_reported_corrupt(tmp_path: Path) -> None:
    report = verify_file(make_zip_bad_crc(tmp_path))
    assert report.error_code == "corrupt_archive"
    assert any("CRC" in p for p in report.problems)


@pytest.mark.parametrize("kind", UNSAFE_KINDS)
def test_unsafe_members_are_flagged_for_each_kind(tmp_path: Path, kind: str) -> None:
    report = verify_file(make_unsafe_tar(tmp_path, kind))
    assert not report.ok
    assert report.error_code == "unsafe_member"
    assert report.file_version == 3  # the archive was still read to the end
    assert len(report.problems) == 1 and "unsafe member" in report.problems[0]


def test_a_symlink_that_stays_inside_the_archive_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.tar.gz"
    dump = b'{"file_version": 1}'
    with tarfile.open(path, "w:gz") as tar:
        ti = tarfile.TarInfo("backup/dump.json")
        ti.size = len(dump)
        tar.addfile(ti, io.BytesIO(dump))
        ti = tarfile.TarInfo("backup/data/latest.json")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../dump.json"
        tar.addfile(ti)
    report = verify_file(path)
    assert report.ok, report.problems
    assert report.dump_member == "backup/dump.json"


def test_an_archive_without_a_data_dump_is_sound_but_of_unknown_layout(tmp_path: Path) -> None:
    path = tmp_path / "2026-11-27T03.00.00.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        for name, data in [
            ("data/beer_1_log.csv", b"a,b\n1,2\n"),
            ("other.json", b"[1, 2]"),
            ("notes.txt", b"hello"),
        ]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    report = verify_file(path)
    assert report.ok, report.problems
    assert report.error_code is None
    assert report.layout == "unknown"
    assert report.warnings and report.warnings[0].startswith("unrecognised layout")
    assert report.members == 3
    assert report.file_version is None and report.dump_member is None


def test_a_file_with_an_unknown_suffix_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    report = verify_file(path)
    assert report.format is None
    assert report.error_code == "not_an_archive"
    assert report.size == 5


@pytest.mark.parametrize("name", ["x.tar.xz", "x.tar.gz", "x.zip"])
def test_other_data_under_an_archive_name_is_not_an_archive(name: str) -> None:
    report = verify_stream(io.BytesIO(b"<html>502 Bad Gateway</html>" * 10), name)
    assert report.error_code == "not_an_archive"


@pytest.mark.parametrize("name", ["x.tar.xz", "x.tar.gz", "x.zip"])
def test_a_zero_length_archive_is_reported_not_ok(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    report = verify_file(path)
    assert not report.ok
    assert report.error_code == "corrupt_archive"
    assert report.size == 0


@FAST
@given(data=st.binary(max_size=4096), name=st.sampled_from(["a.tar.xz", "a.tgz", "a.zip"]))
def test_random_bytes_never_crash_and_are_never_ok(data: bytes, name: str) -> None:
    report = verify_stream(io.BytesIO(data), name)
    assert not report.ok
    assert report.error_code in ("not_an_archive", "corrupt_archive")
    assert report.size == len(data)


@FAST
@given(tail=st.binary(min_size=1, max_size=512), fmt=st.sampled_from(["tar.xz", "zip"]))
def test_a_valid_header_followed_by_garbage_never_crashes(tail: bytes, fmt: str) -> None:
    head = SAMPLE_BYTES[:12] if fmt == "tar.xz" else b"PK\x03\x04" + bytes(26)
    report = verify_stream(io.BytesIO(head + tail), "a." + fmt)
    assert not report.ok


def test_many_tiny_members_are_just_counted(tmp_path: Path) -> None:
    path = tmp_path / "many.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        dump = b'{"file_version": 2}'
        ti = tarfile.TarInfo("dump.json")
        ti.size = len(dump)
        tar.addfile(ti, io.BytesIO(dump))
        for i in range(3000):
            tar.addfile(tarfile.TarInfo(f"d/{i}"))
    report = verify_file(path)
    assert report.ok and report.members == 3001


def test_garbage_after_the_tar_end_inside_the_compression_is_corrupt(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        dump = b'{"file_version": 2}'
        ti = tarfile.TarInfo("dump.json")
        ti.size = len(dump)
        tar.addfile(ti, io.BytesIO(dump))
    tar_bytes = raw.getvalue()[:1024] + b"not a tar header" * 32 + bytes(10240)
    import gzip

    path = tmp_path / "x.tar.gz"
    path.write_bytes(gzip.compress(tar_bytes, mtime=0))
    report = verify_file(path)
    assert report.error_code == "corrupt_archive"


def test_verify_file_raises_not_found_for_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(errors.NotFound) as info:
        verify_file(tmp_path / "2026-01-01T00.00.00.tar.xz")
    assert info.value.hint


def test_verify_file_raises_usage_error_for_a_directory(tmp_path: Path) -> None:
    with pytest.raises(errors.UsageError) as info:
        verify_file(tmp_path)
    assert info.value.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_verify_file_raises_permission_denied_for_an_unreadable_file(tmp_path: Path) -> None:
    path = make_backup(tmp_path)
    path.chmod(0)
    with pytest.raises(errors.PermissionDenied):
        verify_file(path)


def test_errors_of_the_underlying_stream_propagate_instead_of_reporting_corruption() -> None:
    class Flaky(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            if self.sent > 1000:
                raise ConnectionResetError("connection reset by peer")
            n = min(len(b), 500)
            b[:n] = SAMPLE_BYTES[self.sent : self.sent + n]
            self.sent += n
            return n

    with pytest.raises(ConnectionResetError):
        verify_stream(Flaky(), SAMPLE.name)  # type: ignore[arg-type]


def test_the_report_serialises_to_json() -> None:
    report = verify_file(SAMPLE).to_json()
    assert report["ok"] is True and report["problems"] == []
    assert report["layout"] == "fermentrack-2.0.0" and report["warnings"] == []
    assert report["content_hash"] == _content_hash(SAMPLE_BYTES)
