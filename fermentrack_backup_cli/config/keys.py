"""The settings keys: what each one means, how it is validated, where it may come from.

`CORE_KEYS` are the tool's own; every provider declares its own keys in its spec
(providers.base.ProviderSpec.config_keys), and `core.context.all_keys()` puts them
together. Nothing here knows a provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import errors
from . import values as v

DEFAULT_REMOTE_FOLDER = "/Fermentrack Backups"
DEFAULT_CALLBACK_PORT = 53682
TOKEN_STORES = ("keyring", "file")
NOTIFY_STYLES = ("healthchecks", "ntfy")  # notify.STYLES (config does not import notify)


@dataclass(frozen=True)
class Key:
    name: str
    parse: v.Parser
    default: Any
    help: str
    env: str | None = None
    secret: bool = False
    env_file: bool = False  # may also come from Fermentrack's env file (`env_file`)


class Keys:
    """A set of keys by name: lookup and validation with one-line errors and hints."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self._by_name = {key.name: key for key in keys}

    def __iter__(self) -> Iterator[Key]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return list(self._by_name)

    def hint(self) -> str:
        return "valid keys: " + ", ".join(self._by_name)

    def lookup(self, name: str) -> Key:
        try:
            return self._by_name[name]
        except KeyError:
            raise errors.UnknownConfigKey(f"unknown config key: {name}", self.hint()) from None

    def validate(self, name: str, value: Any) -> Any:
        key = self.lookup(name)
        try:
            return key.parse(value)
        except ValueError as exc:
            raise errors.InvalidValue(
                f"invalid value for {name}: {exc}", f"{name}: {key.help}"
            ) from None


CORE_KEYS: tuple[Key, ...] = (
    Key(
        "remote_folder",
        v.remote_folder,
        DEFAULT_REMOTE_FOLDER,
        "folder for backups inside the target (Dropbox: inside the app folder)",
        env="FERMENTRACK_BACKUP_REMOTE_FOLDER",
    ),
    Key(
        "default_connection",
        v.plain_text,
        None,
        "connection used when --to is not given",
        env="FERMENTRACK_BACKUP_CONNECTION",
    ),
    Key(
        "env_file",
        v.plain_text,
        None,
        "a Fermentrack env file (KEY=value lines) to read provider keys (the Dropbox app key "
        "and secret) from",
        env="FERMENTRACK_BACKUP_ENV_FILE",
    ),
    Key(
        "token_store",
        v.choice(*TOKEN_STORES),
        "keyring",
        "where refresh tokens live: keyring (OS keyring) or file (0600 file, opt-in)",
        env="FERMENTRACK_BACKUP_TOKEN_STORE",
    ),
    Key(
        "oauth.callback_port",
        v.int_range(1024, 65535),
        DEFAULT_CALLBACK_PORT,
        "localhost port of the OAuth callback listener",
        env="FERMENTRACK_BACKUP_CALLBACK_PORT",
    ),
    Key(
        "upload.chunk_size_mib",
        v.int_or_auto(4, 148),
        "auto",
        "upload session chunk size in MiB (rounded down to a multiple of 4), or auto",
    ),
    Key(
        "upload.parallel",
        v.int_or_auto(1, 16),
        "auto",
        "chunks of one file uploaded at once, or auto (measured, within upload.memory_mib)",
    ),
    Key(
        "upload.memory_mib",
        v.int_range(4, 4096),
        24,
        "memory budget in MiB for the chunks in flight and the one read ahead",
    ),
    Key("upload.max_attempts", v.int_range(1, 100), 6, "attempts per request"),
    Key("upload.max_duration", v.duration, "6h", "give up a whole upload run after this"),
    Key(
        "upload.bwlimit",
        v.bwlimit,
        "off",
        "bandwidth limit of uploads and downloads: 512k, 2M (KiB/MiB per second), off, or a "
        'timetable in local time like "08:00,1M 23:00,off"',
        env="FERMENTRACK_BACKUP_BWLIMIT",
    ),
    Key(
        "notify.url",
        v.http_url,
        None,
        "URL notified by upload runs: Healthchecks pings on start (/start), success (URL) and "
        "failure (/<exit status>), or an ntfy topic (notify.style = ntfy)",
        env="FERMENTRACK_BACKUP_NOTIFY_URL",
    ),
    Key(
        "notify.style",
        v.choice(*NOTIFY_STYLES),
        "healthchecks",
        "how notify.url is told: healthchecks (pings, the output as body) or ntfy (one message)",
        env="FERMENTRACK_BACKUP_NOTIFY_STYLE",
    ),
    Key("retention.keep_last", v.keep_count, None, "keep the newest N backups (-1: all)"),
    Key("retention.keep_hourly", v.keep_count, None, "keep the last N hours (-1: all)"),
    Key("retention.keep_daily", v.keep_count, None, "keep the last N days (-1: all)"),
    Key("retention.keep_weekly", v.keep_count, None, "keep the last N weeks (-1: all)"),
    Key("retention.keep_monthly", v.keep_count, None, "keep the last N months (-1: all)"),
    Key("retention.keep_yearly", v.keep_count, None, "keep the last N years (-1: all)"),
    Key(
        "retention.keep_within",
        v.keep_within,
        None,
        "keep every backup newer than this, counted back from now (30d, 2w, 1y6m)",
    ),
)
