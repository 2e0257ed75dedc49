"""One run's composition root: directories, settings, the history database, targets.

The CLI (and tests) build one `Context`; use cases receive the pieces they need
(`targets`, `db`, `settings`), not the context. Everything heavy (SQLite, an SDK,
the keyring) is opened on first use, so `--help` and `providers` stay instant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..config import Settings
from ..paths import AppDirs, app_dirs
from ..retry import WaitCallback
from ..store import Database
from .settings import load_settings
from .targets import Targets


@dataclass
class Context:
    dirs: AppDirs
    settings: Settings
    # when this run began (time.monotonic()): the run's time budget counts from here
    started: float = field(default_factory=time.monotonic, repr=False)
    # how the run's waits are shown (the CLI's output); None: silently
    on_wait: WaitCallback | None = field(default=None, repr=False)
    _db: Database | None = field(default=None, repr=False)
    _targets: Targets | None = field(default=None, repr=False)

    @classmethod
    def create(cls, config: str | None = None) -> Context:
        return cls(dirs=app_dirs(), settings=load_settings(config))

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.dirs.database)
        return self._db

    @property
    def targets(self) -> Targets:
        if self._targets is None:
            self._targets = Targets(self.settings, self.dirs, self.db, self.started, self.on_wait)
        return self._targets

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
            self._targets = None
