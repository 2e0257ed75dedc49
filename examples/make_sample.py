"""Write realistic, reproducible Fermentrack backup archives, one per archive layout.

    python examples/make_sample.py [--out DIR] [--when 2026-11-27T03:00:00]
    python examples/make_sample.py --layout fermentrack2     # or fermentrack-2.0.0, ...

The first regenerates `examples/2026-11-27T03.00.00.tar.xz`, the README's sample: a JSON
data dump (an object with `file_version` 3 and lists of model rows) and per-beer CSV
temperature logs under `data/`; `verify` calls its layout fermentrack-2.0.0.

`--layout` writes `examples/layouts/<layout>/2026-11-27T03.00.00.tar.xz` instead:

* fermentrack2: Fermentrack 2's `fermentrack_data.json` (no file_version),
  `ferment_log_index.csv` and `data/<uuid>.csv`;
* fermentrack-2.0.0: what Fermentrack's backup model writes, a dump object with
  `"file_version": "2.0.0"` (fermentrack_options, brewpi_devices, beers, profiles,
  gravity_sensors, gravity_logs, tiltbridges, tilts, ispindels...) and the logs
  `data/<uuid>_base_csv.csv`, `_full_csv.csv`, `_annotation_json.csv`;
* legacy-1.0.0: Django `dumpdata` output, a JSON list of {"model", "pk", "fields"} rows
  (Fermentrack's restore treats a dump without file_version as version 1.0.0);
* unknown: a sound archive with no Fermentrack data dump.

The same arguments always give the same bytes (fixed mtimes and owners, seeded random
data and UUIDs, fixed gzip/zip timestamps), so tests can rely on the committed samples.
Stdlib only.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import lzma
import random
import tarfile
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

DEFAULT_WHEN = datetime(2026, 11, 27, 3, 0, 0)
DUMP_NAME = "fermentrack_backup.json"
LAYOUTS = ("fermentrack2", "fermentrack-2.0.0", "legacy-1.0.0", "unknown")
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


Members = list[tuple[str, bytes | None]]


def _members(when: datetime, n_logs: int, rows: int, file_version: int) -> Members:
    """(name, data) in archive order; data None for a directory."""
    members: Members = [(DUMP_NAME, _dump(when, n_logs, file_version))]
    members.append(("data", None))
    members += [(f"data/beer_{i}_log.csv", _log(i, when, rows)) for i in range(1, n_logs + 1)]
    return members


def _uuids(seed: str, n: int) -> list[str]:
    rnd = random.Random(seed)  # noqa: S311 - sample data, seeded
    return [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(n)]


def _json(data: object) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode() + b"\n"


def _stamp(when: datetime, days: int = 0) -> str:
    return (when - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")


def _gravity_log(beer: int, when: datetime, rows: int) -> bytes:
    rnd = random.Random(f"gravity-{beer}-{rows}")  # noqa: S311 - sample data, seeded
    out = io.StringIO()
    out.write("log_time,gravity,temp,temp_format\n")
    gravity = rnd.uniform(1.045, 1.065)
    for i in range(rows):
        gravity = max(1.008, gravity - rnd.uniform(0, 0.0004))
        t = when - timedelta(minutes=15 * (rows - i))
        out.write(f"{t:%Y-%m-%dT%H:%M:%S},{gravity:.4f},{rnd.uniform(64, 68):.1f},F\n")
    return out.getvalue().encode()


def _members_200(when: datetime, n_logs: int, rows: int) -> Members:
    """Fermentrack's backup model (BACKUP_FILE_VERSION "2.0.0"): a dump object and the
    logs of every Beer and GravityLog as data/<uuid>_<log type>.csv."""
    beer_ids = _uuids(f"beers-{n_logs}", n_logs)
    gravity_ids = _uuids(f"gravity-{n_logs}", 1)
    device = {"device_name": "Fermentation Chamber 1", "connection_type": "wifi"}
    dump = {
        "file_version": "2.0.0",
        "fermentrack_options": {"BREWERY_NAME": "Fermentrack", "TEMPERATURE_FORMAT": "F"},
        "brewpi_devices": [dict(device, id=1, wifi_host="brewpi-1.local", wifi_port=23)],
        "beers": [
            {"id": i, "name": f"Batch {i}", "device_id": 1, "uuid": u, "format": "F"}
            for i, u in enumerate(beer_ids, 1)
        ],
        "profiles": [{"id": 1, "name": "Ale - Step Up", "profile_type": "Standard"}],
        "gravity_sensors": [{"id": 1, "name": "Tilt (Red)", "sensor_type": "tilt"}],
        "gravity_logs": [{"id": 1, "name": "Batch 1 gravity", "uuid": gravity_ids[0]}],
        "tiltbridges": [],
        "tilts": [{"id": 1, "sensor_id": 1, "color": "Red", "connection_type": "Bluetooth"}],
        "tilt_temp_calibration_points": [],
        "tilt_gravity_calibration_points": [],
        "ispindels": [],
        "ispindel_gravity_calibration_points": [],
    }
    members: Members = [(DUMP_NAME, _json(dump))]
    for i, u in enumerate(beer_ids, 1):
        log = _log(i, when, rows)
        members.append((f"data/{u}_base_csv.csv", log))
        members.append((f"data/{u}_full_csv.csv", log))
        members.append((f"data/{u}_annotation_json.csv", b"[]\n"))
    members.append((f"data/{gravity_ids[0]}_base_csv.csv", _gravity_log(1, when, rows)))
    return members


def _members_legacy(when: datetime, n_logs: int, rows: int) -> Members:
    """What `manage.py dumpdata` wrote for Fermentrack's first backups (file version 1.0.0)."""
    rows_: list[dict[str, object]] = [
        {"model": "constance.config", "pk": 1, "fields": {"key": "BREWERY_NAME", "value": "x"}},
        {
            "model": "app.brewpidevice",
            "pk": 1,
            "fields": {"device_name": "Fermentation Chamber 1", "temp_format": "F"},
        },
    ]
    rows_ += [
        {
            "model": "app.beer",
            "pk": i,
            "fields": {"name": f"Batch {i}", "device": 1, "created": _stamp(when, 7 + i)},
        }
        for i in range(1, n_logs + 1)
    ]
    members: Members = [(DUMP_NAME, _json(rows_)), ("data", None)]
    members += [(f"data/beer_{i}_log.csv", _log(i, when, rows)) for i in range(1, n_logs + 1)]
    return members


def _members_f2(when: datetime, n_logs: int, rows: int) -> Members:
    """Fermentrack 2: fermentrack_data.json (no file_version), an index of the logs, and
    one CSV per log under data/."""
    ids = _uuids(f"fermentrack2-{n_logs}", n_logs)
    data = {
        "exported_at": _stamp(when),
        "devices": [{"id": 1, "name": "Fermentation Chamber 1", "type": "brewpi"}],
        "beers": [
            {"id": i, "name": f"Batch {i}", "device": 1, "log": u} for i, u in enumerate(ids, 1)
        ],
        "gravity_sensors": [{"id": 1, "name": "Tilt (Red)", "type": "tilt"}],
    }
    index = "uuid,beer_id,name,created\n" + "".join(
        f"{u},{i},Batch {i},{_stamp(when, 7 + i)}\n" for i, u in enumerate(ids, 1)
    )
    members: Members = [
        ("fermentrack_data.json", _json(data)),
        ("ferment_log_index.csv", index.encode()),
        ("data", None),
    ]
    members += [(f"data/{u}.csv", _log(i, when, rows)) for i, u in enumerate(ids, 1)]
    return members


def _members_unknown(when: datetime, n_logs: int, rows: int) -> Members:
    """A sound archive that is no Fermentrack backup: no JSON data dump at all."""
    notes = f"Readings exported {_stamp(when)} by a home-made logger.\n".encode()
    members: Members = [("README.txt", notes), ("data", None)]
    members += [(f"data/readings_{i}.csv", _log(i, when, rows)) for i in range(1, n_logs + 1)]
    return members


_LAYOUT_MEMBERS = {
    "fermentrack2": _members_f2,
    "fermentrack-2.0.0": _members_200,
    "legacy-1.0.0": _members_legacy,
    "unknown": _members_unknown,
}


def layout_dir(base: Path, layout: str) -> Path:
    """Where the committed sample of `layout` lives under `base` (examples/)."""
    return base / "layouts" / layout


def _write_tar(fh: BinaryIO, members: Members, mtime: int, extra: int) -> None:
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
    layout: str | None = None,
) -> Path:
    """Write `<YYYY-MM-DDTHH.MM.SS>.<fmt>` in `dest_dir` and return its path.

    fmt: "tar.xz", "tar.gz", "tgz" (a .tgz name) or "zip". `extra_bytes` adds an
    incompressible member `media/extra.bin` of that size, for big-archive tests.
    layout: None for the README's sample (with `file_version`), or one of LAYOUTS.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if layout is not None and layout not in _LAYOUT_MEMBERS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    when = when or DEFAULT_WHEN
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / backup_name(when, fmt)
    mtime = _epoch(when)
    if layout is None:
        members = _members(when, n_logs, rows, file_version)
    else:
        members = _LAYOUT_MEMBERS[layout](when, n_logs, rows)
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


def _write_zip(fh: BinaryIO, members: Members, when: datetime, extra: int) -> None:
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
    parser.add_argument(
        "--out", type=Path, help="folder (default examples/, or examples/layouts/LAYOUT/)"
    )
    parser.add_argument("--layout", choices=LAYOUTS, help="write the sample of this layout")
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
    out = args.out
    if out is None:
        here = Path(__file__).resolve().parent
        out = here if args.layout is None else layout_dir(here, args.layout)
    path = make_backup(
        out,
        args.when,
        layout=args.layout,
        n_logs=args.logs,
        rows=args.rows,
        extra_bytes=args.extra_bytes,
        fmt=args.fmt,
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
