"""Settings: config.toml, the environment, Fermentrack's env file, command-line options.

Precedence is command-line option > environment > config file > Fermentrack env
file (`env_file`, only for keys that declare it, such as the Dropbox app key and
secret) > default. The file is read with tomllib and written with tomli_w
atomically, mode 0600. `keys` declares the keys, `values` validates values,
`files` reads the small files settings come from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import errors
from ..fsutil import atomic_write
from ..paths import not_a_directory
from .files import FileRefused, read_env_file, read_small_file
from .keys import (
    CORE_KEYS,
    DEFAULT_CALLBACK_PORT,
    DEFAULT_REMOTE_FOLDER,
    TOKEN_STORES,
    Key,
    Keys,
)
from .values import finite_number, parse_duration, whole_number

__all__ = [
    "CORE_KEYS",
    "DEFAULT_CALLBACK_PORT",
    "DEFAULT_REMOTE_FOLDER",
    "SCHEMA_VERSION",
    "TOKEN_STORES",
    "FileRefused",
    "Key",
    "Keys",
    "Settings",
    "finite_number",
    "load_file",
    "parse_duration",
    "read_env_file",
    "save_file",
    "whole_number",
]

SCHEMA_VERSION = 1


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for dotted, value in sorted(flat.items(), key=lambda item: item[0].count(".")):
        *parents, leaf = dotted.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def load_file(path: Path, keys: Keys) -> dict[str, Any]:
    """Read and validate a config file; a missing file is an empty config."""
    try:
        raw = read_small_file(path)
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        raise not_a_directory(path.parent) from None
    except FileRefused as exc:
        raise errors.ConfigError(
            f"cannot read config {path}: {exc}",
            "point --config (or FERMENTRACK_BACKUP_CONFIG) at a config.toml file",
        ) from None
    except OSError as exc:
        raise errors.ConfigError(
            f"cannot read config {path}: {exc.strerror or exc}",
            "check the path and its permissions (`fermentrack-backup config path` shows it)",
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        version = data.pop("schema_version", SCHEMA_VERSION)
        flat = _flatten(data)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise errors.ConfigError(
            f"malformed config file {path}: {reason}",
            f"fix the TOML syntax or move the file away (it is {path})",
        ) from None
    if version != SCHEMA_VERSION:
        raise errors.ConfigError(
            f"config file {path} has schema_version {version}, this version reads {SCHEMA_VERSION}",
            "upgrade fermentrack-backup",
        )
    for name, value in flat.items():
        if name not in keys:
            raise errors.UnknownConfigKey(f"unknown config key {name!r} in {path}", keys.hint())
        flat[name] = keys.validate(name, value)
    return flat


def save_file(path: Path, values: Mapping[str, Any]) -> None:
    import tomli_w  # deferred: only `config set/unset` write

    atomic_write(path, tomli_w.dumps(_nest(values)).encode("utf-8"), mode=0o600)


@dataclass
class Settings:
    """Effective configuration with the source of every value."""

    path: Path
    keys: Keys
    file_values: dict[str, Any]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    overrides: dict[str, Any] = field(default_factory=dict)
    _env_file_cache: dict[str, str] | None = None

    @classmethod
    def load(cls, path: Path, keys: Keys, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(path=path, keys=keys, file_values=load_file(path, keys), environ=env)

    def _env_file_values(self) -> dict[str, str]:
        if self._env_file_cache is None:
            env_file = self._lookup("env_file")[0]
            self._env_file_cache = read_env_file(Path(env_file)) if env_file else {}
        return self._env_file_cache

    def _lookup(self, name: str) -> tuple[Any, str]:
        key = self.keys.lookup(name)
        if name in self.overrides and self.overrides[name] is not None:
            return self.overrides[name], "option"
        if key.env and self.environ.get(key.env):
            return self.keys.validate(name, self.environ[key.env]), f"env {key.env}"
        if self.file_values.get(name) not in (None, ""):  # "" in the file means unset
            return self.file_values[name], "config"
        if key.env and key.env_file:
            from_file = self._env_file_values().get(key.env)
            if from_file:
                return self.keys.validate(name, from_file), "env_file"
        return key.default, "default"

    def get(self, name: str) -> Any:
        return self._lookup(name)[0]

    def source(self, name: str) -> str:
        return self._lookup(name)[1]

    def show(self) -> list[dict[str, Any]]:
        rows = []
        for key in self.keys:
            name = key.name
            value, source = self._lookup(name)
            if key.secret and value:
                value = "***"
            rows.append({"key": name, "value": value, "source": source, "env": key.env})
        return rows

    def set(self, name: str, value: Any) -> None:
        parsed = self.keys.validate(name, value)
        if name == "env_file":  # cron runs elsewhere: a relative path would break there
            parsed = str(Path(parsed).expanduser().absolute())
            read_env_file(Path(parsed))  # a FIFO, /dev/zero or a missing file: refused now
        values = load_file(self.path, self.keys)
        values[name] = parsed
        save_file(self.path, values)
        self.file_values = values
        self._env_file_cache = None

    def override(self, name: str, value: Any) -> None:
        """A command-line value, validated like `config set`; it wins over everything."""
        if value is not None:
            self.overrides[name] = self.keys.validate(name, value)

    def unset(self, name: str) -> bool:
        self.keys.lookup(name)
        values = load_file(self.path, self.keys)
        existed = values.pop(name, None) is not None
        save_file(self.path, values)
        self.file_values = values
        self._env_file_cache = None
        return existed
