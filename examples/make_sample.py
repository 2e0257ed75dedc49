"""Write a realistic, reproducible Fermentrack 2 style backup archive.

    python examples/make_sample.py [--out DIR] [--when 2026-11-27T03:00:00]

regenerates `examples/2026-11-27T03.00.00.tar.xz`. The archive holds what a
Fermentrack 2 backup holds: a JSON data dump (an object with a `file_version` key and
lists of model rows) and per-beer CSV temperature logs under `data/`. The same
arguments always give the same bytes (fixed mtimes and owners, seeded random data,
fixed gzip/zip timestamps), so tests can rely on the committed sample. Stdlib only.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import lzma
import random
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

DEFAULT_WHEN = datetime(2026, 11, 27, 3, 0, 0)
DUMP_NAME = "fermentrack_backup.json"
FORMATS = {"tar.xz": ".tar.xz", "tar.gz": ".tar.gz", "tgz": ".tgz", "zip": ".zip"}
LOG_HEADER = "log_time,beer_temp,beer_set,fridge_temp,fridge_set,room_temp,state,temp_format\n"


def backup_name(when: datetime, fmt: str = "tar.xz") -> str:
    """Fermentrack's backup file name: `2026-11-27T03.00.00.tar.xz`."""
    return when.strftime("%Y-%m-%dT%H.%M.%S") + FORMATS[fmt]


def _epoch(when: datetime) -> int:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return int(aware.timestamp())


def _dump(when: datetime, n_logs: int, file_version: int) -> bytes:
    rnd = random.Random(f"dump-{n_logs}-{file_version}")  # noqa: S311 - sample data, seeded
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    devices = [
        {
            "id": i,
            "device_name": f"Fermentation Chamber {i}",
            "device_type": "brewpi",
            "connection_type": "wifi",
            "wifi_host": f"brewpi-{i}.local",
            "wifi_port": 23,
            "temp_format": "F",
            "active_beer_id": i if i <= n_logs else None,
            "logging_status": "active" if i <= n_logs else "stopped",
        }
        for i in range(1, max(n_logs, 1) + 1)
    ]
    beers = [
        {
            "id": i,
            "name": rnd.choice(["Pale Ale", "Kolsch", "Hefeweizen", "Stout", "Saison", "IPA"])
            + f" #{i}",
            "device_id": i,
            "created": (when - timedelta(days=7 + i)).strftime("%Y-%m-%dT%H:%M:%S"),
            "log_file": f"data/beer_{i}_log.csv",
            "temp_format": "F",
        }
        for i in range(1, n_logs + 1)
    ]
    profiles = [
        {
            "id": 1,
            "name": "Ale - Step Up",
            "points": [
                {"ttl_hours": 0, "temperature": 64.0},
                {"ttl_hours": 96, "temperature": 68.0},
                {"ttl_hours": 168, "temperature": 70.0},
            ],
        }
    ]
    gravity = [
        {
            "id": 1,
            "name": "Tilt (Red)",
            "sensor_type": "tilt",
            "color": "Red",
            "assigned_device_id": 1,
        }
    ]
    data = {
        "file_version": file_version,
        "app": "fermentrack2",
        "backup_created": stamp,
        "brewpi_devices": devices,
        "beers": beers,
        "fermentation_profiles": profiles,
        "gravity_sensors": gravity,
        "site_settings": {"temperature_format": "F", "timezone": "America/New_York"},
    }
    return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"


def _log(beer: int, when: datetime, rows: int) -> bytes:
    rnd = random.Random(f"log-{beer}-{rows}")  # noqa: S311 - sample data, seeded
    out = io.StringIO()
    out.write(LOG_HEADER)
    start = when - timedelta(minutes=2 * rows)
    beer_set = round(rnd.uniform(62.0, 68.0), 1)
    beer_temp = beer_set + rnd.uniform(-1.5, 1.5)
    fridge_temp = beer_set - 2.0
    room = rnd.uniform(66.0, 74.0)
    for i in range(rows):
        t = start + timedelta(minutes=2 * i)
        cooling = beer_temp > beer_set + 0.3
        heating = beer_temp < beer_set - 0.3
        fridge_set = round(
            beer_set - 4.0 if cooling else beer_set + 2.0 if heating else beer_set, 1
        )
        fridge_temp += (fridge_set - fridge_temp) * 0.15 + rnd.gauss(0, 0.05)
        beer_temp += (fridge_temp - beer_temp) * 0.04 + rnd.gauss(0, 0.02)
        room += rnd.gauss(0, 0.03)
        state = 4 if cooling else 3 if heating else 0
        out.write(
            f"{t:%Y-%m-%dT%H:%M:%S},{beer_temp:.2f},{beer_set:.1f},{fridge_temp:.2f},"
            f"{fridge_set:.1f},{room:.2f},{state},F\n"
        )
    return out.getvalue().encode()


class _RandomStream:
    """`size` incompressible, seeded bytes, produced in chunks (for big test archives)."""

    def __init__(self, size: int, seed: str) -> None:
        self._left = size
        self._rnd = random.Random(seed)  # noqa: S311 - sample data, seeded

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return self._rnd.randbytes(n)


def _members(
    when: datetime, n_logs: int, rows: int, file_version: int
) -> list[tuple[str, bytes | None]]:
    """(name, data) in archive order; data None for a directory."""
    members: list[tuple[str, bytes | None]] = [(DUMP_NAME, _dump(when, n_logs, file_version))]
    members.append(("data", None))
    members += [(f"data/beer_{i}_log.csv", _log(i, when, rows)) for i in range(1, n_logs + 1)]
    return members


def _write_tar(
    fh: BinaryIO, members: list[tuple[str, bytes | None]], mtime: int, extra: int
) -> None:
    with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
            ti = tarfile.TarInfo(name)
            ti.size = size
            ti.mtime = mtime
            ti.uid = ti.gid = 1000
            ti.uname = ti.gname = "fermentrack"
            ti.mode = 0o755 if directory else 0o644
            if directory:
                ti.type = tarfile.DIRTYPE
            return ti

        for name, data in members:
            if data is None:
                tar.addfile(info(name, 0, directory=True))
            else:
                tar.addfile(info(name, len(data)), io.BytesIO(data))
        if extra:
            src = _RandomStream(extra, f"extra-{extra}")
            tar.addfile(info("media/extra.bin", extra), src)


def make_backup(
    dest_dir: Path,
    when: datetime | None = None,
    *,
    n_logs: int = 2,
    rows: int = 200,
    file_version: int = 3,
    extra_bytes: int = 0,
    fmt: str = "tar.xz",
) -> Path:
    """Write `<YYYY-MM-DDTHH.MM.SS>.<fmt>` in `dest_dir` and return its path.

    fmt: "tar.xz", "tar.gz", "tgz" (a .tgz name) or "zip". `extra_bytes` adds an
    incompressible member `media/extra.bin` of that size, for big-archive tests.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    when = when or DEFAULT_WHEN
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / backup_name(when, fmt)
    mtime = _epoch(when)
    members = _members(when, n_logs, rows, file_version)
    with path.open("wb") as fh:
        if fmt == "tar.xz":
            preset = 6 if extra_bytes < 1024 * 1024 else 0  # xz is slow on random data
            with lzma.LZMAFile(fh, "wb", preset=preset) as xz:
                _write_tar(xz, members, mtime, extra_bytes)  # type: ignore[arg-type]
        elif fmt in ("tar.gz", "tgz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=mtime) as gz:
                _write_tar(gz, members, mtime, extra_bytes)  # type: ignore[arg-type]
        else:
            _write_zip(fh, members, when, extra_bytes)
    return path


def _write_zip(
    fh: BinaryIO, members: list[tuple[str, bytes | None]], when: datetime, extra: int
) -> None:
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name + "/" if data is None else name, date_time=stamp)
            zi.external_attr = (0o40755 if data is None else 0o100644) << 16
            zi.create_system = 3
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data or b"")
        if extra:
            zi = zipfile.ZipInfo("media/extra.bin", date_time=stamp)
            zi.external_attr = 0o100644 << 16
            zi.create_system = 3
            src = _RandomStream(extra, f"extra-{extra}")
            with zf.open(zi, "w", force_zip64=extra > 2**31) as out:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument(
        "--when",
        type=datetime.fromisoformat,
        default=DEFAULT_WHEN,
        help="backup time, ISO 8601 (default 2026-11-27T03:00:00)",
    )
    parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="tar.xz")
    parser.add_argument("--logs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--extra-bytes", type=int, default=0)
    args = parser.parse_args(argv)
    path = make_backup(
        args.out,
        args.when,
        n_logs=args.logs,
        rows=args.rows,
        extra_bytes=args.extra_bytes,
        fmt=args.fmt,
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
