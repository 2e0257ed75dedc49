"""config.toml: the keys, their validation, and where each value comes from.

Precedence is command-line option > environment > config file > Fermentrack env
file (`env_file`, only for the Dropbox app key and secret) > default. The file is
read with tomllib and written with tomli_w atomically, mode 0600.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors
from .fsutil import atomic_write
from .paths import not_a_directory

SCHEMA_VERSION = 1
DEFAULT_REMOTE_FOLDER = "/Fermentrack Backups"
DEFAULT_CALLBACK_PORT = 53682
TOKEN_STORES = ("keyring", "file")

Parser = Callable[[Any], Any]


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


# One strict reading of numbers for config.toml, the environment and command-line options
# (cli.common wraps these): TOML hands over ints, floats (1e400 is inf) and bools; the
# environment and options hand over text. Only plain digits count, so "nan", "inf",
# "1e3", "2.0" and "0x10" are refused instead of becoming a hang or a silent rounding.
_WHOLE_TEXT = re.compile(r"[+-]?\d{1,18}")
_DECIMAL_TEXT = re.compile(r"[+-]?(\d{1,15}(\.\d{0,9})?|\.\d{1,9})")


def whole_number(value: Any, low: int, high: int) -> int:
    """An integer from `low` to `high`; ValueError (with the reason) otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, float | str) and not isinstance(value, bool):
        raise ValueError(f"expected a whole number from {low} to {high}, not {value!r}")
    else:
        raise ValueError(f"expected a whole number from {low} to {high}")
    if not low <= number <= high:
        raise ValueError(f"expected a whole number from {low} to {high}, not {number}")
    return number


def finite_number(value: Any, low: float, high: float) -> float:
    """A finite number from `low` to `high` (seconds, mostly); ValueError otherwise."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
    if number is None or not math.isfinite(number):
        raise ValueError(f"expected a finite number from {low:g} to {high:g}, not {value!r}")
    if not low <= number <= high:
        raise ValueError(f"expected a number from {low:g} to {high:g}, not {number:g}")
    return number


def _int_range(low: int, high: int) -> Parser:
    def parse(value: Any) -> int:
        return whole_number(value, low, high)

    return parse


def _choice(*choices: str) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of: {', '.join(choices)}")
        return str(value)

    return parse


def _remote_folder(value: Any) -> str:
    raw = _str(value)
    if not raw.strip(" ").isprintable():  # newlines, escapes, bidi overrides: never meant
        raise ValueError("the folder must not contain control or formatting characters")
    text = raw.strip()
    if not text.startswith("/") or (text.endswith("/") and text != "/"):
        raise ValueError('expected an absolute folder like "/Fermentrack Backups" (no trailing /)')
    if any(part in ("..", ".") for part in text.split("/")):
        raise ValueError("the folder must not contain . or .. components")
    return text


_DURATION = re.compile(r"^(\d+[smhdwy])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


MAX_DURATION_SECONDS = 100 * 365 * 86400  # beyond any sensible wait; keeps sums finite


def parse_duration(text: str) -> float:
    """'26h', '90m', '1d12h', '45s', or plain seconds -> seconds (finite, at most 100y)."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)  # a 400-digit number is inf here; refused below
    elif _DURATION.match(text):
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([smhdwy])", text))
    else:
        raise ValueError("expected a duration like 30s, 90m, 26h, 7d or 1w")
    if not seconds <= MAX_DURATION_SECONDS:  # also false for nan
        raise ValueError("expected a duration of at most 100y")
    return float(seconds)


def _http_url(value: Any) -> str:
    text = _str(value).strip()
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("expected an http:// or https:// URL")
    return text.rstrip("/")


def _duration(value: Any) -> str:
    parse_duration(value)
    return str(value).strip().lower()


# retention.* follow restic: -1 means unlimited; keep_within is a calendar duration
# (m = months, not minutes), validated by the parser the prune planner uses.
_keep_range = _int_range(-1, 100000)


def _keep_count(value: Any) -> int:
    # "unlimited" spares the user `config set KEY -- -1` (a bare -1 looks like an option)
    if isinstance(value, str) and value.strip().lower() in ("unlimited", "all"):
        return -1
    number: int = _keep_range(value)
    return number


def _keep_within(value: Any) -> str:
    from .retention.times import CalendarDuration  # pure; deferred to keep config imports minimal

    text = _str(value).strip().lower().replace(" ", "")
    try:
        CalendarDuration.parse(text)
    except errors.InvalidValue:
        raise ValueError(
            "expected a duration like 7d, 2w, 6m or 1y6m (y=years, m=months, w=weeks, "
            "d=days, h=hours)"
        ) from None
    return text


@dataclass(frozen=True)
class Key:
    name: str
    parse: Parser
    default: Any
    help: str
    env: str | None = None
    secret: bool = False


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key(
            "remote_folder",
            _remote_folder,
            DEFAULT_REMOTE_FOLDER,
            "folder for backups inside the target (Dropbox: inside the app folder)",
            env="FERMENTRACK_BACKUP_REMOTE_FOLDER",
        ),
        Key(
            "default_connection",
            _str,
            None,
            "connection used when --to is not given",
            env="FERMENTRACK_BACKUP_CONNECTION",
        ),
        Key(
            "env_file",
            _str,
            None,
            "a Fermentrack env file (KEY=value lines) to read DROPBOX_APP_KEY/SECRET from",
            env="FERMENTRACK_BACKUP_ENV_FILE",
        ),
        Key(
            "token_store",
            _choice(*TOKEN_STORES),
            "keyring",
            "where refresh tokens live: keyring (OS keyring) or file (0600 file, opt-in)",
            env="FERMENTRACK_BACKUP_TOKEN_STORE",
        ),
        Key("dropbox.app_key", _str, None, "Dropbox app key", env="DROPBOX_APP_KEY"),
        Key(
            "dropbox.app_secret",
            _str,
            None,
            "Dropbox app secret (read from stdin)",
            env="DROPBOX_APP_SECRET",
            secret=True,
        ),
        Key(
            "oauth.callback_port",
            _int_range(1024, 65535),
            DEFAULT_CALLBACK_PORT,
            "localhost port of the OAuth callback listener",
            env="FERMENTRACK_BACKUP_CALLBACK_PORT",
        ),
        Key(
            "upload.chunk_size_mib",
            _int_range(4, 148),
            8,
            "upload session chunk size in MiB (rounded down to a multiple of 4)",
        ),
        Key("upload.parallel", _int_range(1, 16), 1, "chunks of one file uploaded at once"),
        Key("upload.max_attempts", _int_range(1, 100), 6, "attempts per request"),
        Key("upload.max_duration", _duration, "6h", "give up a whole upload run after this"),
        Key(
            "notify.url",
            _http_url,
            None,
            "healthchecks-style URL pinged on start (/start), success and failure (/fail)",
            env="FERMENTRACK_BACKUP_NOTIFY_URL",
        ),
        Key("retention.keep_last", _keep_count, None, "keep the newest N backups (-1: all)"),
        Key("retention.keep_hourly", _keep_count, None, "keep the last N hours (-1: all)"),
        Key("retention.keep_daily", _keep_count, None, "keep the last N days (-1: all)"),
        Key("retention.keep_weekly", _keep_count, None, "keep the last N weeks (-1: all)"),
        Key("retention.keep_monthly", _keep_count, None, "keep the last N months (-1: all)"),
        Key("retention.keep_yearly", _keep_count, None, "keep the last N years (-1: all)"),
        Key(
            "retention.keep_within",
            _keep_within,
            None,
            "keep every backup newer than this, counted back from now (30d, 2w, 1y6m)",
        ),
    )
}


def valid_keys_hint() -> str:
    return "valid keys: " + ", ".join(KEYS)


def lookup_key(name: str) -> Key:
    try:
        return KEYS[name]
    except KeyError:
        raise errors.UnknownConfigKey(f"unknown config key: {name}", valid_keys_hint()) from None


def validate(name: str, value: Any) -> Any:
    key = lookup_key(name)
    try:
        return key.parse(value)
    except ValueError as exc:
        raise errors.InvalidValue(
            f"invalid value for {name}: {exc}", f"{name}: {key.help}"
        ) from None


MAX_FILE_BYTES = 1 << 20  # a config or env file is a few hundred bytes; 1 MiB is plenty


class FileRefused(ValueError):
    """A config or env file that is not a regular file under MAX_FILE_BYTES."""


def read_small_file(path: Path) -> bytes:
    """The bytes of a regular file under 1 MiB. Never blocks: a FIFO, a device or a
    directory is refused after a stat, before anything opens it for reading; the open
    itself is non-blocking and re-checked with fstat (the path may change in between).
    Raises FileRefused, or OSError (FileNotFoundError for a missing file)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise FileRefused("it is not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("it is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise FileRefused(f"it is larger than {MAX_FILE_BYTES // (1 << 20)} MiB")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > MAX_FILE_BYTES:  # it grew while we read
                raise FileRefused(f"it is larger than {MAX_FILE_BYTES // (1 << 20)} MiB")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


ENV_FILE_HINT = "fix the path with `fermentrack-backup config set env_file PATH` or unset it"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a Fermentrack/django-environ style file of KEY=value lines."""
    values: dict[str, str] = {}
    try:
        text = read_small_file(path).decode("utf-8")
    except FileRefused as exc:
        raise errors.ConfigError(f"cannot read env_file {path}: {exc}", ENV_FILE_HINT) from None
    except UnicodeDecodeError:
        raise errors.ConfigError(
            f"cannot read env_file {path}: it is not UTF-8 text",
            "point env_file at Fermentrack's .django env file (KEY=value lines), "
            "or convert it to UTF-8",
        ) from None
    except OSError as exc:
        raise errors.ConfigError(
            f"cannot read env_file {path}: {exc.strerror or exc}", ENV_FILE_HINT
        ) from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


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


def load_file(path: Path) -> dict[str, Any]:
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(
            f"malformed config file {path}: {exc}",
            f"fix the TOML syntax or move the file away (it is {path})",
        ) from None
    version = data.pop("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise errors.ConfigError(
            f"config file {path} has schema_version {version}, this version reads {SCHEMA_VERSION}",
            "upgrade fermentrack-backup",
        )
    flat = _flatten(data)
    for name, value in flat.items():
        if name not in KEYS:
            raise errors.UnknownConfigKey(
                f"unknown config key {name!r} in {path}", valid_keys_hint()
            )
        flat[name] = validate(name, value)
    return flat


def save_file(path: Path, values: Mapping[str, Any]) -> None:
    import tomli_w  # deferred: only `config set/unset` write

    atomic_write(path, tomli_w.dumps(_nest(values)).encode("utf-8"), mode=0o600)


@dataclass
class Settings:
    """Effective configuration with the source of every value."""

    path: Path
    file_values: dict[str, Any]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    overrides: dict[str, Any] = field(default_factory=dict)
    _env_file_cache: dict[str, str] | None = None

    @classmethod
    def load(cls, path: Path, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(path=path, file_values=load_file(path), environ=env)

    def _env_file_values(self) -> dict[str, str]:
        if self._env_file_cache is None:
            env_file = self._lookup("env_file")[0]
            self._env_file_cache = read_env_file(Path(env_file)) if env_file else {}
        return self._env_file_cache

    def _lookup(self, name: str) -> tuple[Any, str]:
        key = lookup_key(name)
        if name in self.overrides and self.overrides[name] is not None:
            return self.overrides[name], "option"
        if key.env and self.environ.get(key.env):
            return validate(name, self.environ[key.env]), f"env {key.env}"
        if self.file_values.get(name) not in (None, ""):  # "" in the file means unset
            return self.file_values[name], "config"
        if key.env and name.startswith("dropbox."):
            from_file = self._env_file_values().get(key.env)
            if from_file:
                return validate(name, from_file), "env_file"
        return key.default, "default"

    def get(self, name: str) -> Any:
        return self._lookup(name)[0]

    def source(self, name: str) -> str:
        return self._lookup(name)[1]

    def show(self) -> list[dict[str, Any]]:
        rows = []
        for name, key in KEYS.items():
            value, source = self._lookup(name)
            if key.secret and value:
                value = "***"
            rows.append({"key": name, "value": value, "source": source, "env": key.env})
        return rows

    def set(self, name: str, value: Any) -> None:
        parsed = validate(name, value)
        if name == "env_file":  # cron runs elsewhere: a relative path would break there
            parsed = str(Path(parsed).expanduser().absolute())
        values = load_file(self.path)
        values[name] = parsed
        save_file(self.path, values)
        self.file_values = values
        self._env_file_cache = None

    def unset(self, name: str) -> bool:
        lookup_key(name)
        values = load_file(self.path)
        existed = values.pop(name, None) is not None
        save_file(self.path, values)
        self.file_values = values
        self._env_file_cache = None
        return existed
