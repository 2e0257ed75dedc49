"""config.toml: validation, precedence, env_file, atomic 0600 writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.config import Settings, load_file, parse_duration, save_file
from fermentrack_backup_cli.core.settings import all_keys

KEYS = all_keys()


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    s = Settings.load(tmp_path / "config.toml", KEYS, environ={})
    assert s.get("remote_folder") == "/Fermentrack Backups"
    assert s.get("oauth.callback_port") == 53682
    assert s.source("remote_folder") == "default"


def test_set_writes_atomically_with_mode_0600_and_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "c" / "config.toml"
    s = Settings.load(path, KEYS, environ={})
    s.set("dropbox.app_key", "abc123")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "schema_version = 1" in text
    assert 'app_key = "abc123"' in text
    assert not [p for p in path.parent.iterdir() if p.name != "config.toml"]


def test_precedence_is_option_then_env_then_file_then_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".django"
    env_file.write_text('# comment\nDROPBOX_APP_KEY="from-env-file"\nOTHER=1\n')
    path = tmp_path / "config.toml"
    s = Settings.load(path, KEYS, environ={})
    s.set("env_file", str(env_file))
    assert (s.get("dropbox.app_key"), s.source("dropbox.app_key")) == ("from-env-file", "env_file")
    s.set("dropbox.app_key", "from-config")
    assert s.get("dropbox.app_key") == "from-config"
    s.environ = {"DROPBOX_APP_KEY": "from-env"}
    assert s.get("dropbox.app_key") == "from-env"
    s.overrides["dropbox.app_key"] = "from-option"
    assert (s.get("dropbox.app_key"), s.source("dropbox.app_key")) == ("from-option", "option")


def test_unknown_key_is_rejected_with_the_list_of_valid_keys(tmp_path: Path) -> None:
    s = Settings.load(tmp_path / "config.toml", KEYS, environ={})
    with pytest.raises(errors.UnknownConfigKey) as info:
        s.set("dropbox.app_kee", "x")
    assert "dropbox.app_key" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("oauth.callback_port", "80"),
        ("oauth.callback_port", "http"),
        ("token_store", "plain"),
        ("remote_folder", "relative/dir"),
        ("upload.max_duration", "soon"),
        ("upload.chunk_size_mib", "1"),
    ],
)
def test_bad_values_are_rejected(tmp_path: Path, key: str, value: str) -> None:
    s = Settings.load(tmp_path / "config.toml", KEYS, environ={})
    with pytest.raises(errors.InvalidValue):
        s.set(key, value)
    assert not (tmp_path / "config.toml").exists()


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('remote_folder = "/ok"\nthis is not toml\n')
    with pytest.raises(errors.ConfigError) as info:
        load_file(path, KEYS)
    assert str(path) in info.value.message
    assert "line 2" in info.value.message


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("schema_version = 1\nbogus = 1\n")
    with pytest.raises(errors.UnknownConfigKey):
        load_file(path, KEYS)


def test_show_masks_the_app_secret(tmp_path: Path) -> None:
    s = Settings.load(
        tmp_path / "config.toml", KEYS, environ={"DROPBOX_APP_SECRET": "s3cr3t-value"}
    )
    rows = {r["key"]: r for r in s.show()}
    assert rows["dropbox.app_secret"]["value"] == "***"
    assert "s3cr3t-value" not in repr(s.show())


def test_durations_parse() -> None:
    assert parse_duration("26h") == 26 * 3600
    assert parse_duration("1d12h") == 36 * 3600
    assert parse_duration("90") == 90
    with pytest.raises(ValueError):
        parse_duration("tomorrow")


text_values = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(app_key=text_values, port=st.integers(1024, 65535), keep=st.integers(0, 1000))
def test_config_round_trips_through_tomli_w_and_tomllib(
    tmp_path_factory: pytest.TempPathFactory, app_key: str, port: int, keep: int
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    values = {"dropbox.app_key": app_key, "oauth.callback_port": port, "retention.keep_daily": keep}
    save_file(path, values)
    assert load_file(path, KEYS) == values
    assert set(values) <= set(KEYS.names())


@pytest.mark.parametrize(("value", "shown"), [("-1", "-1"), ("-5.5", "'-5.5'")])
def test_config_set_refuses_a_negative_value_with_its_range(value: str, shown: str) -> None:
    """Click read `-1` as an unknown option ("No such option: -1"): it is a value."""
    from tests.cli_helpers import run

    result = run("config", "set", "upload.memory_mib", value)
    assert result.exit_code == errors.ExitCode.USAGE
    assert result.stderr.splitlines()[0] == (
        f"error: invalid value for upload.memory_mib: expected a whole number from 4 to 4096, "
        f"not {shown}"
    )
    assert result.stderr.splitlines()[1].startswith("hint: ")
