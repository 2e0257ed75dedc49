"""The one place that asks platformdirs where things live.

`FERMENTRACK_BACKUP_HOME` moves every directory under one root (tests, portable
installs on a USB stick). Directories are created on first use, never at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import errors

APP_NAME = "fermentrack-backup"
HOME_ENV = "FERMENTRACK_BACKUP_HOME"
CONFIG_ENV = "FERMENTRACK_BACKUP_CONFIG"


@dataclass(frozen=True)
class AppDirs:
    config: Path
    data: Path
    state: Path
    cache: Path
    log: Path

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def database(self) -> Path:
        return self.data / "history.sqlite3"

    @property
    def token_file(self) -> Path:
        return self.data / "tokens.json"

    @property
    def pending_auth_file(self) -> Path:
        return self.state / "pending-auth.json"

    @property
    def log_file(self) -> Path:
        return self.log / "fermentrack-backup.log"

    @property
    def lock_dir(self) -> Path:
        return self.state / "locks"


def app_dirs() -> AppDirs:
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().absolute()
        return AppDirs(
            config=root / "config",
            data=root / "data",
            state=root / "state",
            cache=root / "cache",
            log=root / "log",
        )
    import platformdirs  # deferred: only paid by commands that touch the disk

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return AppDirs(
        config=Path(dirs.user_config_dir),
        data=Path(dirs.user_data_dir),
        state=Path(dirs.user_state_dir),
        cache=Path(dirs.user_cache_dir),
        log=Path(dirs.user_log_dir),
    )


def config_file_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config FILE > FERMENTRACK_BACKUP_CONFIG > the config dir's config.toml."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return app_dirs().config_file


def not_a_directory(path: Path) -> errors.BackupError:
    """The error for `path` (or one of its parents) being a file where a folder must be."""
    in_the_way = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
    return errors.BackupError(
        f"{in_the_way} is a file, but fermentrack-backup needs a folder there",
        f"move {in_the_way} away, or point {HOME_ENV} at a folder",
        code="not_a_directory",
    )


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create `path` (and its parents) if missing; a file in the way is a clean error."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    except (FileExistsError, NotADirectoryError):
        raise not_a_directory(path) from None
    return path
