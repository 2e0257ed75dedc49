"""The per-run context: directories, settings, the history database, targets.

Commands build one `App`; everything heavy (SQLite, the dropbox SDK, the
keyring) is opened on first use so `--help` and `providers` stay instant.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import errors
from .config import Settings
from .fsutil import FileLock, blame
from .history import History
from .models import Connection, ProviderInfo
from .paths import AppDirs, app_dirs, config_file_path
from .providers.base import Target
from .providers.local import LocalTarget, check_folder, filesystem_of
from .text import check_label, derived_label

LOCAL_PREFIX = "local:"


@dataclass
class App:
    dirs: AppDirs
    settings: Settings
    _history: History | None = field(default=None, repr=False)
    # when this run began (time.monotonic()): the run's time budget counts from here
    started: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def create(cls, config: str | None = None) -> App:
        return cls(dirs=app_dirs(), settings=Settings.load(config_file_path(config)))

    @property
    def history(self) -> History:
        if self._history is None:
            self._history = History(self.dirs.database)
        return self._history

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None

    # providers -------------------------------------------------------------------

    def providers(self) -> list[ProviderInfo]:
        app_key = self.settings.get("dropbox.app_key")
        dropbox = ProviderInfo(
            "dropbox",
            "Dropbox",
            bool(app_key),
            None if app_key else "DROPBOX_APP_KEY is not set",
        )
        return [dropbox, ProviderInfo("local", "Local folder", True)]

    # connections -----------------------------------------------------------------

    def resolve(self, ref: str | None) -> Connection:
        """A connection by id, unique id prefix or label; the default when ref is None."""
        conns = self.history.connections()
        if ref is None:
            ref = self.settings.get("default_connection")
            if ref is None:
                if len(conns) == 1:
                    return conns[0]
                if not conns:
                    raise errors.NotLinked(
                        "no connection is linked",
                        "link one with `fermentrack-backup link local DIR` or "
                        "`link dropbox`, or pass --to local:DIR",
                    )
                raise errors.AmbiguousConnection(
                    f"{len(conns)} connections are linked and no default is set",
                    "pass --to, or `fermentrack-backup config set default_connection LABEL`; "
                    "candidates: " + _candidates(conns),
                )
        exact = [c for c in conns if ref in (c.id, c.label)]
        if len(exact) == 1:
            return exact[0]
        if not exact and ref in ("dropbox", "local"):
            # `--to dropbox` in a cron line: the one connection of that provider
            of_kind = [c for c in conns if c.provider == ref]
            if len(of_kind) == 1:
                return of_kind[0]
            if of_kind:
                raise errors.AmbiguousConnection(
                    f"{len(of_kind)} {ref} connections are linked",
                    "name one by label or id prefix; candidates: " + _candidates(of_kind),
                )
        matches = exact or [c for c in conns if c.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise errors.ConnectionNotFound(
                f"no connection matches {ref!r}",
                "candidates: " + _candidates(conns) if conns else "link one with `link`",
            )
        raise errors.AmbiguousConnection(
            f"{ref!r} matches {len(matches)} connections",
            "use a longer id prefix; candidates: " + _candidates(matches),
        )

    def target_for(self, ref: str | None, *, mkdir: bool = False) -> tuple[Target, str]:
        """The target and the id recorded in history for `--to REF`.

        `local:DIR` must name an existing folder: a missing one is usually the mount
        point of a drive that is not mounted, and creating it would fill the SD card.
        `mkdir` (`upload --mkdir`) creates it, parents too."""
        remote_folder = self.settings.get("remote_folder")
        if ref is not None and ref.startswith(LOCAL_PREFIX):
            text = ref.removeprefix(LOCAL_PREFIX)
            if not text.strip():
                raise errors.UsageError(
                    f"--to {ref!r} names no folder",
                    "give one: --to local:/mnt/usb (local:. for the current folder)",
                )
            folder = Path(text).expanduser()
            if mkdir:
                with blame("create", folder):
                    if not folder.is_dir():
                        folder.mkdir(mode=0o755, parents=True, exist_ok=True)  # runs may race
            folder = check_folder(folder)
            return LocalTarget(folder, remote_folder), f"{LOCAL_PREFIX}{folder}"
        conn = self.resolve(ref)
        return self.connection_target(conn), conn.id

    def connection_target(self, conn: Connection) -> Target:
        remote_folder = self.settings.get("remote_folder")
        if conn.provider == "local":
            assert conn.location is not None
            folder = check_folder(Path(conn.location), conn.filesystem)
            return LocalTarget(folder, remote_folder)
        if conn.provider == "dropbox":
            from .dropbox_wiring import dropbox_target  # deferred: imports the SDK

            return dropbox_target(self, conn)
        raise errors.UsageError(f"unknown provider {conn.provider!r} for {conn.label}", None)

    def link_local(self, folder: Path, label: str | None) -> tuple[Connection, bool]:
        """Link a folder, recording the filesystem it is on. Linking an already linked
        folder again (no --label, or its own) records its filesystem anew instead;
        returns the connection and whether it already existed."""
        folder = check_folder(folder)
        device, mount = filesystem_of(folder)
        conns = self.history.connections()
        for conn in conns:
            same = conn.provider == "local" and conn.location == str(folder)
            if same and label in (None, conn.label):
                self.history.update_connection(conn.id, device=device, mount_point=mount)
                return replace(conn, device=device, mount_point=mount), True
        label = check_label(label) if label else derived_label(folder.name or str(folder), "local")
        if any(c.label == label for c in conns):
            raise errors.UsageError(
                f"a connection labelled {label!r} already exists", "choose another --label"
            )
        conn = Connection(
            id=str(uuid.uuid4()),
            provider="local",
            label=label,
            location=str(folder),
            device=device,
            mount_point=mount,
        )
        return self.history.add_connection(conn), False

    def lock(self, target_id: str, timeout: float, target: Target | None = None) -> FileLock:
        """The per-target run lock. A folder is one target whether it is reached through
        a linked connection, as `local:DIR` or through a symlink, so all take the lock
        of its real path."""
        if isinstance(target, LocalTarget):
            target_id = f"{LOCAL_PREFIX}{target.root}"
        key = target_id
        if key.startswith(LOCAL_PREFIX):
            key = LOCAL_PREFIX + os.path.realpath(key.removeprefix(LOCAL_PREFIX))
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return FileLock(self.dirs.lock_dir / f"{digest}.lock", timeout, key)


def _candidates(conns: list[Connection]) -> str:
    return ", ".join(f"{c.label} ({c.id[:8]}, {c.provider})" for c in conns)
