"""Which Fermentrack archive layout an archive has, from its member names and JSON members.

The layouts (README, "Archive layouts"), as Fermentrack's own code writes and reads them:

* `fermentrack2`: Fermentrack 2 writes `fermentrack_data.json`, `ferment_log_index.csv`
  and `data/<uuid>.csv`; its dump may carry no `file_version`. Decided by the names.
* `fermentrack-2.0.0`: Fermentrack's backup model writes a JSON object with
  `"file_version": "2.0.0"` (any value is reported as it is).
* `legacy-1.0.0`: its restore treats a dump without `file_version` as version 1.0.0,
  written by Django's `dumpdata` (a list of {"model", "pk", "fields"}); an object without
  `file_version` counts too.
* `unknown`: none of these. Not damage: the caller warns (or refuses under --strict).

`DumpCandidates` is fed every member name and every `.json` member's `JsonInfo` as the
archive streams by, keeping only what the verdict needs (bounded, however many members).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Final

from .jsonscan import JsonInfo

FERMENTRACK2: Final = "fermentrack2"
FERMENTRACK_200: Final = "fermentrack-2.0.0"
LEGACY_100: Final = "legacy-1.0.0"
UNKNOWN: Final = "unknown"
LAYOUTS: Final = (FERMENTRACK2, FERMENTRACK_200, LEGACY_100, UNKNOWN)
F2_DUMP: Final = "fermentrack_data.json"
F2_INDEX: Final = "ferment_log_index.csv"
UNKNOWN_WARNING: Final = (
    "unrecognised layout: no Fermentrack data dump (a .json member holding an object or a "
    "Django dumpdata list, or fermentrack_data.json with ferment_log_index.csv)"
)
MAX_JSON_WARNINGS: Final = 3  # invalid .json members named one by one, then counted
MAX_TRACKED: Final = 10_000  # .json members remembered by name (a hostile archive has more)


@dataclass(frozen=True)
class Recognition:
    layout: str
    dump_member: str | None
    file_version: Any
    warnings: tuple[str, ...]
    damage: str | None = None  # the data dump is not valid JSON: the archive is damaged


def basename(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/").rstrip("/")).lower()


def _rank(info: JsonInfo) -> int:
    """How well a valid JSON member fits as the data dump: 2 an object with file_version,
    1 another object or a dumpdata list, 0 not a dump."""
    if info.kind == "object":
        return 2 if info.has_file_version else 1
    return 1 if info.kind == "array" and info.dumpdata_rows else 0


class DumpCandidates:
    """The data dump candidates seen so far; `recognise` once every member was read.

    A member name that appears twice counts as its last copy, which is what extracting
    the archive leaves on disk (a sound first copy must not vouch for a broken second).
    """

    def __init__(self) -> None:
        self.jsons: dict[str, JsonInfo] = {}  # every .json member, the last copy of each
        self.untracked = 0  # .json members beyond MAX_TRACKED (only counted)
        self.f2_index = False  # ferment_log_index.csv
        self.duplicates: set[str] = set()

    def member(self, name: str) -> None:
        if basename(name) == F2_INDEX:
            self.f2_index = True

    def json_member(self, name: str, info: JsonInfo) -> None:
        if name in self.jsons:
            self.duplicates.add(name)
        elif len(self.jsons) >= MAX_TRACKED:
            self.untracked += 1
            return
        self.jsons[name] = info

    @property
    def invalid(self) -> list[tuple[str, JsonInfo]]:
        return [(n, i) for n, i in self.jsons.items() if not i.valid]

    def _dump(self) -> tuple[str, JsonInfo] | None:
        """fermentrack_data.json, else the best candidate; with no valid candidate, the
        first broken JSON member was meant to be the dump."""
        f2 = next(((n, i) for n, i in self.jsons.items() if basename(n) == F2_DUMP), None)
        if f2 is not None:
            return f2
        best, rank = None, 0
        for name, info in self.jsons.items():
            if info.valid and _rank(info) > rank:
                best, rank = (name, info), _rank(info)
        invalid = self.invalid
        return best or (invalid[0] if invalid else None)

    def _warnings(self, dump: tuple[str, JsonInfo] | None) -> list[str]:
        invalid = self.invalid
        others = [(n, i) for n, i in invalid if dump is None or n != dump[0]]
        warnings = [f"member {n!r} is not valid JSON ({i.error})" for n, i in others]
        del warnings[MAX_JSON_WARNINGS:]
        dump_invalid = dump is not None and not dump[1].valid
        more = len(invalid) - dump_invalid - len(warnings)
        if more > 0:
            warnings.append(f"and {more} more .json member(s) that are not valid JSON")
        for name in sorted(self.duplicates)[:MAX_JSON_WARNINGS]:
            warnings.append(f"member {name!r} appears more than once; its last copy was checked")
        return warnings

    def recognise(self) -> Recognition:
        dump = self._dump()
        warnings = self._warnings(dump)
        if dump is not None and not dump[1].valid:
            damage = f"the data dump {dump[0]!r} is not valid JSON: {dump[1].error}"
            return Recognition(UNKNOWN, dump[0], None, tuple(warnings), damage)
        name, info = dump if dump is not None else (None, JsonInfo())
        version = info.file_version if info.has_file_version else None
        if dump is not None and basename(dump[0]) == F2_DUMP and self.f2_index:
            return Recognition(FERMENTRACK2, name, version, tuple(warnings))
        if info.kind == "object":
            layout = FERMENTRACK_200 if info.has_file_version else LEGACY_100
            return Recognition(layout, name, version, tuple(warnings))
        if info.kind == "array" and info.dumpdata_rows:
            return Recognition(LEGACY_100, name, None, tuple(warnings))
        return Recognition(UNKNOWN, None, None, (UNKNOWN_WARNING, *warnings))
