"""Issue 8, item 6 (validation half): numbers that would make a wait endless or a value
silently different are refused with exit 2, and config/env files must be small regular
files, so a FIFO or a device can never hang a nightly run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.config import (
    Settings,
    finite_number,
    load_file,
    parse_duration,
    read_env_file,
    whole_number,
)
from fermentrack_backup_cli.config.files import MAX_FILE_BYTES
from fermentrack_backup_cli.core.settings import all_keys
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, run

KEYS = all_keys()
validate = KEYS.validate

NOT_FINITE = ("nan", "NaN", "inf", "-inf", "infinity", "1e400")


def assert_clean_usage_error(stderr: str, *fragments: str) -> None:
    lines = stderr.splitlines()
    assert lines[0].startswith("error: "), stderr
    assert lines[1].startswith("hint: "), stderr
    assert len(lines) == 2, stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)


# --- the shared validators ------------------------------------------------------------


@pytest.mark.parametrize("value", [*NOT_FINITE, float("nan"), float("inf"), 10**400, True, ""])
def test_a_number_of_seconds_must_be_finite(value: object) -> None:
    with pytest.raises(ValueError, match="finite number"):
        finite_number(value, 0, 600)


def test_a_number_of_seconds_keeps_its_fraction_and_its_range() -> None:
    assert finite_number("2.5", 0, 600) == 2.5
    assert finite_number(60, 0, 600) == 60.0
    with pytest.raises(ValueError, match="from 0 to 600"):
        finite_number("601", 0, 600)
    with pytest.raises(ValueError, match="from 0 to 600"):
        finite_number("-1", 0, 600)


@pytest.mark.parametrize("value", [2.7, 2.0, "2.0", "2.7", "1e3", "0x10", True, False, None, "nan"])
def test_a_whole_number_refuses_fractions_exponents_bools_and_text(value: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        whole_number(value, 1, 16)


def test_a_whole_number_refuses_values_beyond_its_range_however_large() -> None:
    for value in (10**23, "100000000000000000000000", 17, "0"):
        with pytest.raises(ValueError, match="from 1 to 16"):
            whole_number(value, 1, 16)
    assert whole_number(" 4 ", 1, 16) == 4
    assert whole_number(4, 1, 16) == 4


def test_a_duration_never_becomes_infinite_or_overflows() -> None:
    for text in ("9" * 400, "9" * 400 + "s", "999999999999y", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_duration(text)
    assert parse_duration("6h") == 6 * 3600


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[upload]\nparallel = 2.7\n", "upload.parallel"),
        ("[upload]\nparallel = 2.0\n", "upload.parallel"),
        ("[upload]\nchunk_size_mib = 1e400\n", "upload.chunk_size_mib"),
        ("[upload]\nchunk_size_mib = inf\n", "upload.chunk_size_mib"),
        ("[upload]\nmax_attempts = nan\n", "upload.max_attempts"),
        ("[upload]\nparallel = true\n", "upload.parallel"),
        ('[upload]\nparallel = "2.0"\n', "upload.parallel"),
        ("[oauth]\ncallback_port = 53682.5\n", "oauth.callback_port"),
        ("[retention]\nkeep_daily = 7.5\n", "retention.keep_daily"),
        ('[upload]\nmax_duration = "' + "9" * 400 + 's"\n', "upload.max_duration"),
    ],
)
def test_config_toml_refuses_numbers_that_are_not_what_the_key_means(
    tmp_path: Path, toml: str, key: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(errors.InvalidValue) as info:
        load_file(path, KEYS)
    assert key in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


def test_an_integer_setting_from_the_environment_must_be_a_plain_integer(tmp_path: Path) -> None:
    settings = Settings.load(
        tmp_path / "config.toml", KEYS, environ={"FERMENTRACK_BACKUP_CALLBACK_PORT": "5e4"}
    )
    with pytest.raises(errors.InvalidValue):
        settings.get("oauth.callback_port")
    assert validate("oauth.callback_port", "53682") == 53682


def test_a_parallel_of_2_7_in_config_toml_fails_the_run_with_exit_2(
    tmp_path: Path, subprocess_env: dict[str, str], sample: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[upload]\nparallel = 2.7\n")
    result = cli(
        "--config", str(config), "upload", str(sample), "--to", f"local:{tmp_path}",
        env=subprocess_env,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, "upload.parallel", "2.7")


def test_a_chunk_size_of_1e400_is_a_usage_error_not_an_overflow(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[upload]\nchunk_size_mib = 1e400\n")
    result = cli("--config", str(config), "config", "show", env=subprocess_env)
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, "upload.chunk_size_mib")
    assert "OverflowError" not in result.stderr


# --- options on the command line --------------------------------------------------------


@pytest.mark.parametrize("value", NOT_FINITE)
def test_lock_timeout_must_be_finite_so_a_lock_wait_always_ends(
    tmp_path: Path, subprocess_env: dict[str, str], sample: Path, value: str
) -> None:
    result = cli(
        "upload", str(sample), "--to", f"local:{tmp_path}", f"--lock-timeout={value}",
        env=subprocess_env, timeout=30,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, "--lock-timeout", "seconds")
    assert not (tmp_path / "Fermentrack Backups").exists()  # refused before any work


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "601", "0.5"])
def test_link_timeout_is_refused_before_anything_else_happens(
    subprocess_env: dict[str, str], value: str
) -> None:
    # no app key and no keyring here: only the option check can produce this error
    result = cli("link", "dropbox", "--browser", f"--timeout={value}", env=subprocess_env)
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, "--timeout", "from 1 to 600")


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("uploads", "--limit", str(10**23)), "--limit"),
        (("uploads", "--limit", "2.5"), "--limit"),
        (("uploads", "--limit", "0"), "--limit"),
        (("verify", "--remote", "--latest", "1e9"), "--latest"),
        (("prune", "--keep-daily", "7.5", "--to", "local:."), "--keep-daily"),
        (("prune", "--keep-last", str(10**23), "--to", "local:."), "--keep-last"),
        (("prune", "--keep-within", "forever", "--to", "local:."), "--keep-within"),
        (("upload", ".", "--parallel", "2.7"), "--parallel"),
        (("upload", ".", "--chunk-size", "1e400"), "--chunk-size"),
        (("upload", ".", "--max-duration", "inf"), "--max-duration"),
        (("link", "dropbox", "--port", "5e4"), "--port"),
        (("status", "--max-age", "inf"), "--max-age"),
        (("status", "--max-age", "9" * 400), "--max-age"),
    ],
)
def test_numeric_options_refuse_values_that_are_not_what_they_mean(
    subprocess_env: dict[str, str], args: tuple[str, ...], name: str
) -> None:
    result = cli(*args, env=subprocess_env)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert_clean_usage_error(result.stderr, name)


def test_uploads_limit_of_10_to_the_23_no_longer_reaches_sqlite() -> None:
    result = run("uploads", "--limit", str(10**23))
    assert result.exit_code == ExitCode.USAGE
    assert "IntegrityError" not in result.output
    assert "at most" in result.stderr or "from 1 to" in result.stderr


def test_a_huge_limit_given_to_the_history_directly_is_a_clean_error() -> None:
    from fermentrack_backup_cli.core.context import Context

    app = Context.create()
    try:
        with pytest.raises(errors.BackupError) as info:
            app.db.attempts.list(limit=10**23)
    finally:
        app.close()
    assert info.value.exit_code == ExitCode.USAGE


# --- config and env files ---------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "a-fifo"
    os.mkfifo(path)
    return path


def test_a_config_naming_a_fifo_is_refused_instead_of_hanging(
    fifo: Path, subprocess_env: dict[str, str]
) -> None:
    # nobody ever writes to the FIFO: opening it for reading would block forever
    result = cli("--config", str(fifo), "connections", env=subprocess_env, timeout=30)
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, str(fifo), "not a regular file")


def test_an_env_file_naming_a_fifo_is_refused_instead_of_hanging(
    fifo: Path, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "FERMENTRACK_BACKUP_ENV_FILE": str(fifo)}
    result = cli("providers", env=env, timeout=30)
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, "env_file", str(fifo), "not a regular file")


def test_doctor_with_an_env_file_fifo_reports_it_and_returns(
    fifo: Path, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "FERMENTRACK_BACKUP_ENV_FILE": str(fifo)}
    result = cli("doctor", env=env, timeout=60)
    assert result.returncode == ExitCode.UNHEALTHY
    assert "not a regular file" in result.stdout


def test_a_fifo_is_refused_even_when_a_writer_keeps_it_open(fifo: Path) -> None:
    # with a writer the open would succeed: the fstat check must still refuse it
    writer = subprocess.Popen(["sh", "-c", f"exec 3>'{fifo}'; sleep 30"])
    try:
        with pytest.raises(errors.ConfigError, match="not a regular file"):
            load_file(fifo, KEYS)
    finally:
        writer.kill()
        writer.wait()


def test_config_and_env_files_over_1_mib_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(errors.ConfigError, match="larger than 1 MiB"):
        load_file(big, KEYS)
    with pytest.raises(errors.ConfigError, match="larger than 1 MiB"):
        read_env_file(big)


def test_a_device_or_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    for path in (Path("/dev/zero"), tmp_path):
        with pytest.raises(errors.ConfigError, match="not a regular file"):
            load_file(path, KEYS)


def test_a_symlink_to_a_regular_config_file_is_still_read(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text('remote_folder = "/Elsewhere"\n')
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    assert load_file(link, KEYS) == {"remote_folder": "/Elsewhere"}


def test_a_non_utf8_env_file_is_a_config_error_with_a_hint(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env_file = tmp_path / ".django"
    env_file.write_bytes(b"DROPBOX_APP_KEY=caf\xe9\n")  # latin-1, as an old editor saves it
    env = {**subprocess_env, "FERMENTRACK_BACKUP_ENV_FILE": str(env_file)}
    result = cli("providers", env=env)
    assert result.returncode == ExitCode.USAGE
    assert_clean_usage_error(result.stderr, str(env_file), "not UTF-8")
    assert "UnicodeDecodeError" not in result.stderr


def test_a_missing_config_file_is_still_an_empty_config(tmp_path: Path) -> None:
    assert load_file(tmp_path / "absent.toml", KEYS) == {}


def test_a_config_nested_too_deeply_is_a_config_error_not_a_crash(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    result = cli("--config", str(deep), "providers", env=subprocess_env, cwd=tmp_path)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "nested too deeply" in result.stderr
    assert "unexpected" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.toml"]  # no stray log file


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_config_set_env_file_refuses_what_it_could_not_read(tmp_path: Path, special: str) -> None:
    import os

    path = special
    if special == "fifo":
        os.mkfifo(tmp_path / "fifo")
        path = str(tmp_path / "fifo")
    result = run("config", "set", "env_file", path)
    assert result.exit_code == ExitCode.USAGE
    assert "not a regular file" in result.stderr
    assert run("config", "show").exit_code == 0  # nothing was saved that breaks later runs
