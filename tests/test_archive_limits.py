"""Hostile archives are refused before they cost memory or time: overlapping zip members,
absurd declared or actual expansion, huge tar headers, huge xz dictionaries; and verify
of any archive stays under 100 MB of RSS (MB as the README counts it: ru_maxrss / 1024)."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from fermentrack_backup_cli.archive.readers import EXPANSION_RATIO, XZ_MEMLIMIT
from fermentrack_backup_cli.archive.verify import verify_file, verify_stream
from fermentrack_backup_cli.archive.zipcheck import MAX_ZIP_MEMBERS
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import EXE, cli
from tests.samples import DUMP_NAME, make_xz_with_dictionary

NAME = "2026-11-27T03.00.00"
DUMP = json.dumps({"file_version": "2.0.0", "beers": []}).encode()
RSS_LIMIT_KIB = 100 * 1024


# ------------------------------------------------------------------ zip by hand


def _local_header(name: bytes, crc: int, csize: int, usize: int) -> bytes:
    return (
        struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x5B61, crc, csize, usize, len(name), 0
        )
        + name
    )


def _central_entry(name: bytes, crc: int, csize: int, usize: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0x5B61,
            crc,
            csize,
            usize,
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offset,
        )
        + name
    )


def _end_record(entries: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, cd_size, cd_offset, 0)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def overlapping_zip(path: Path, entries: int, member_size: int) -> Path:
    """David Fifield's "full overlap" zip bomb: one deflated kernel of `member_size` zero
    bytes, and `entries` directory entries that all point at it (zipfile happily unpacks
    every one of them: Python 3.11 does not check for overlaps)."""
    name = b"data/log.csv"
    kernel_data = bytes(member_size)
    kernel = _deflate(kernel_data)
    crc = zlib.crc32(kernel_data)
    local = _local_header(name, crc, len(kernel), member_size) + kernel
    cd = b"".join(_central_entry(name, crc, len(kernel), member_size, 0) for _ in range(entries))
    path.write_bytes(local + cd + _end_record(entries, len(cd), len(local)))
    return path


def test_a_zip_whose_members_share_their_data_is_refused_as_overlapping(tmp_path: Path) -> None:
    path = overlapping_zip(tmp_path / f"{NAME}.zip", entries=3, member_size=100)
    report = verify_file(path)
    assert not report.ok
    assert report.error_code == "corrupt_archive"
    assert "overlap" in report.problems[0]
    assert report.layout is None


def test_a_zip_member_whose_data_runs_into_the_next_header_is_refused(tmp_path: Path) -> None:
    """The "quoted overlap" variant: distinct headers, but the first member's data range
    swallows the second's header."""
    path = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(DUMP_NAME, DUMP)
        zf.writestr("data/log.csv", b"x" * 200)
    data = bytearray(path.read_bytes())
    cd_at = data.rindex(b"PK\x01\x02", 0, data.rindex(b"PK\x01\x02"))  # the first entry
    struct.pack_into("<L", data, cd_at + 20, len(DUMP) + 100)  # its compressed size
    path.write_bytes(bytes(data))
    report = verify_file(path)
    assert report.error_code == "corrupt_archive"
    assert f"members {DUMP_NAME!r} and 'data/log.csv' overlap" in report.problems[0]


@pytest.mark.parametrize("command", ["verify", "upload"])
def test_a_zip_bomb_declaring_400_gib_in_a_small_file_is_refused_quickly(
    tmp_path: Path, subprocess_env: dict[str, str], command: str
) -> None:
    # 25 600 entries x 16 MiB = 400 GiB declared, in about 1.6 MB
    path = overlapping_zip(tmp_path / f"{NAME}.zip", entries=25_600, member_size=16 << 20)
    assert path.stat().st_size < 2_000_000
    args = [command, str(path)]
    if command == "upload":
        (tmp_path / "usb").mkdir()
        args += ["--to", f"local:{tmp_path / 'usb'}"]
    result = cli(*args, env=subprocess_env, timeout=60)  # unpacked, it takes hours
    assert result.returncode == ExitCode.VERIFY
    out = result.stdout + result.stderr
    assert f"more than {EXPANSION_RATIO} times its size" in out
    assert "Traceback" not in out
    if command == "upload":
        assert "hint: it was not unpacked" in result.stderr
        assert not (tmp_path / "usb" / "Fermentrack Backups" / path.name).exists()


def test_a_zip_declaring_an_absurd_size_for_one_member_is_refused_before_unpacking(
    tmp_path: Path,
) -> None:
    path = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(DUMP_NAME, DUMP)
    data = bytearray(path.read_bytes())
    cd_at = data.rindex(b"PK\x01\x02")
    struct.pack_into("<L", data, cd_at + 24, 0xFFFF0000)  # uncompressed size: ~4 GiB
    path.write_bytes(bytes(data))
    report = verify_file(path)
    assert report.error_code == "exceeds_limits"
    assert "declares 4.0 GiB of content in" in report.problems[0]


def test_a_zip_directory_claiming_too_many_members_is_refused(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(DUMP_NAME, DUMP)
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 65_000, 65_000)
    path.write_bytes(bytes(data))
    report = verify_file(path)
    assert report.error_code == "exceeds_limits"
    assert f"at most {MAX_ZIP_MEMBERS} are read" in report.problems[0]


def test_a_small_zip_with_a_high_but_plausible_ratio_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(DUMP_NAME, DUMP)
        zf.writestr("data/log.csv", b"2026-11-27T03:00:00,66.1,66.0\n" * 200_000)  # 6 MB
    report = verify_file(path)
    assert report.ok, report.problems


# ------------------------------------------------------------------ tar streams


def test_a_tar_xz_that_expands_beyond_the_ratio_is_stopped_while_decompressing(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """16 GiB of zeros in ~2.5 MB: concatenated xz streams of 64 MiB of zeros each."""
    zeros = 64 << 20
    total = 256 * zeros
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w|") as tar:
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(DUMP)
        tar.addfile(ti, io.BytesIO(DUMP))
        ti = tarfile.TarInfo("data/zeros.csv")
        ti.size = total
        tar.fileobj.write(ti.tobuf(tarfile.PAX_FORMAT))  # the header only: data follows
    blob = lzma.compress(bytes(zeros), preset=0)
    path = tmp_path / f"{NAME}.tar.xz"
    with path.open("wb") as fh:
        fh.write(lzma.compress(head.getvalue(), preset=0))
        for _ in range(256):
            fh.write(blob)
    result = cli("verify", str(path), env=subprocess_env, timeout=60)
    assert result.returncode == ExitCode.VERIFY
    assert "not unpacked: it expands to more than 1000 times" in result.stdout


def test_a_tar_with_a_pax_header_over_1_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.tar.xz"
    with tarfile.open(path, "w:xz", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(DUMP)
        ti.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(ti, io.BytesIO(DUMP))
    report = verify_file(path)
    assert report.error_code == "exceeds_limits"
    assert "a tar header is larger than 1 MiB" in report.problems[0]


def test_many_ordinary_pax_headers_are_fine(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(DUMP)
        tar.addfile(ti, io.BytesIO(DUMP))
        for i in range(200):
            ti = tarfile.TarInfo(f"data/{'long-name-' * 20}{i}.csv")  # > 100 chars: pax
            ti.size = 3
            tar.addfile(ti, io.BytesIO(b"a,b"))
    report = verify_file(path)
    assert report.ok and report.members == 201


# ------------------------------------------------------------------ xz


def test_an_xz_9_archive_verifies(tmp_path: Path) -> None:
    path = tmp_path / f"{NAME}.tar.xz"
    with tarfile.open(path, "w:xz", preset=9) as tar:  # a 64 MiB dictionary
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(DUMP)
        tar.addfile(ti, io.BytesIO(DUMP))
    assert verify_file(path).ok


def test_an_xz_dictionary_larger_than_xz_9_uses_is_refused(tmp_path: Path) -> None:
    assert XZ_MEMLIMIT < 128 << 20
    report = verify_file(make_xz_with_dictionary(tmp_path, dict_mib=128))
    assert report.error_code == "exceeds_limits"
    assert "needs more than 65 MiB of memory" in report.problems[0]
    assert verify_file(make_xz_with_dictionary(tmp_path / "64", dict_mib=64)).ok


def test_concatenated_xz_streams_with_stream_padding_verify(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(DUMP)
        tar.addfile(ti, io.BytesIO(DUMP))
    data = raw.getvalue()
    half = len(data) // 2
    joined = lzma.compress(data[:half]) + bytes(8) + lzma.compress(data[half:]) + bytes(4)
    report = verify_stream(io.BytesIO(joined), f"{NAME}.tar.xz")
    assert report.ok, report.problems


def test_garbage_after_the_xz_stream_is_corrupt() -> None:
    data = (Path(__file__).parent.parent / "examples" / f"{NAME}.tar.xz").read_bytes()
    report = verify_stream(io.BytesIO(data + b"trailing junk"), f"{NAME}.tar.xz")
    assert report.error_code == "corrupt_archive"


# ------------------------------------------------------------------ peak memory


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI under a fresh Python parent, so RUSAGE_CHILDREN sees that one child."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(p.stdout)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, EXE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    *output, last = done.stdout.strip().splitlines()
    code, kib = last.split()
    assert int(code) == 0, output
    return int(kib), "\n".join(output)


class _Dump(io.RawIOBase):
    """A valid Fermentrack 2.0.0 dump of about `size` bytes, generated as it is read."""

    ROW = json.dumps(
        {
            "id": 1,
            "gravity_log_id": 1,
            "log_time": "2026-11-27T03:00:00",
            "gravity": 1.0123,
            "temp": 66.12,
            "temp_format": "F",
            "extra": {"battery": 4.1, "rssi": -70, "angle": 51.2},
        }
    )

    def __init__(self, size: int) -> None:
        head = b'{"file_version": "2.0.0", "beers": [], "gravity_logs": ['
        tail = self.ROW.encode() + b"]}"
        block = (self.ROW + ",").encode() * 1000
        n = (size - len(head) - len(tail)) // len(block)
        self.size = len(head) + n * len(block) + len(tail)
        self._pieces = iter([head, *([block] * n), tail])
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while len(self._buf) < len(b):
            piece = next(self._pieces, b"")
            if not piece:
                break
            self._buf += piece
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n


@pytest.mark.slow
def test_verifying_a_250_mb_dump_stays_under_100_mb_of_rss(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dump = _Dump(250_000_000)
    path = tmp_path / f"{NAME}.tar.gz"
    with (
        gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as gz,  # fast to write
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = dump.size
        tar.addfile(ti, io.BufferedReader(dump, 1 << 20))
    kib, out = _peak_rss_kib(["verify", str(path)], subprocess_env)
    assert out.startswith(f"ok: {path.name} (tar.gz, fermentrack-2.0.0, 1 members, ")
    assert kib < RSS_LIMIT_KIB, f"peak RSS {kib} KiB"


@pytest.mark.slow
def test_verifying_an_xz_9_archive_that_fills_its_dictionary_stays_under_100_mb_of_rss(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    path = make_xz_with_dictionary(tmp_path, dict_mib=64, content=80 << 20)
    kib, out = _peak_rss_kib(["verify", str(path)], subprocess_env)
    assert out.startswith(f"ok: {path.name} (tar.xz, fermentrack-2.0.0, 2 members, ")
    assert kib < RSS_LIMIT_KIB, f"peak RSS {kib} KiB"
