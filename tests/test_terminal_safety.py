"""Issue 8, item 7: labels are printable text of at most 64 characters, and nothing from
outside (labels, file names, account names, messages) reaches a terminal raw: escape
sequences and bidi overrides are shown as visible escapes; --json stays exact JSON."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.models import Connection
from fermentrack_backup_cli.text import MAX_LABEL, check_label, derived_label, safe_text
from tests.cli_helpers import EXE, cli, run, run_json
from tests.link_support import code_shown
from tests.pty_run import drain

EVIL = "\x1b[31mEVIL\u202etxt.exe\x07"
RAW = ("\x1b", "\u202e", "\x07")  # none of these may reach a terminal as they are


def assert_nothing_raw(*texts: str) -> None:
    for text in texts:
        for char in RAW:
            assert char not in text, (char, text)


# --- the label rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "usb\nfake: line",
        "usb\x1b[2J",
        "\u202eusb",
        "usb\u2066x\u2069",
        "usb\u200b",  # zero width space (a format character)
        "usb\x00",
        "usb\x9b31m",  # C1 CSI
        "x" * (MAX_LABEL + 1),
        "",
        "   ",
    ],
)
def test_a_label_that_is_not_plain_printable_text_is_refused(label: str) -> None:
    with pytest.raises(errors.InvalidValue) as info:
        check_label(label)
    assert info.value.exit_code == ExitCode.USAGE
    assert_nothing_raw(info.value.message)


def test_printable_labels_of_any_script_are_accepted() -> None:
    for label in ("usb", "Küche \u2013 Keller", "酿酒", "x" * MAX_LABEL, "  padded  "):
        assert check_label(label) == label.strip()


def test_a_derived_label_is_cleaned_and_fits_with_room_for_a_suffix() -> None:
    assert derived_label(f"Brewer{EVIL} (b@example.com)", "dropbox") == (
        "Brewer[31mEVILtxt.exe (b@example.com)"
    )
    long = derived_label("n" * 200, "dropbox")
    assert len(long) <= MAX_LABEL - 4
    assert derived_label("\x1b\u202e", "local") == "local"


def test_safe_text_shows_every_unsafe_character_as_a_visible_escape() -> None:
    assert safe_text(EVIL) == "\\x1b[31mEVIL\\u202etxt.exe\\x07"
    assert safe_text("a\nb\tc\udcff") == "a\\x0ab\\x09c\\udcff"  # incl. an undecodable byte
    assert safe_text("Küche 酿酒 🍺") == "Küche 酿酒 🍺"


@pytest.mark.parametrize("label", ["usb\x1b[31m", "usb\u202e", "usb\nx", "x" * 65])
def test_link_local_with_a_bad_label_exits_2_and_links_nothing(
    tmp_path: Path, subprocess_env: dict[str, str], label: str
) -> None:
    result = cli("link", "local", str(tmp_path), "--label", label, env=subprocess_env)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.startswith("error: invalid --label")
    assert_nothing_raw(result.stdout, result.stderr)
    assert run_json("connections")["connections"] == []


def test_the_library_refuses_a_bad_label_too(tmp_path: Path) -> None:
    from fermentrack_backup_cli.core.link import link_folder

    app = Context.create()
    try:
        with pytest.raises(errors.InvalidValue):
            link_folder(app.targets, "local", tmp_path, "usb\x1b[31m")
        assert app.db.connections.all() == []
    finally:
        app.close()


def test_a_label_derived_from_a_folder_name_is_sanitised(tmp_path: Path) -> None:
    folder = tmp_path / f"usb{EVIL}"
    folder.mkdir()
    result = run("link", "local", str(folder))
    assert result.exit_code == 0, result.stderr
    (conn,) = run_json("connections")["connections"]
    assert conn["label"] == "usb[31mEVILtxt.exe"
    assert_nothing_raw(result.stdout, result.stderr)


def test_link_dropbox_refuses_a_bad_explicit_label_before_any_attempt(
    fake_dropbox: Any, home: Path
) -> None:
    result = run("link", "dropbox", "--print-url", "--label", "db\x1b[31m")
    assert result.exit_code == ExitCode.USAGE
    assert not (home / "state" / "pending-auth.json").exists()


def test_an_account_name_with_escapes_gives_a_clean_label_and_escaped_output(
    fake_dropbox: Any,
) -> None:
    fake_dropbox.display_name = f"Fake{EVIL} Brewer"
    url = run("link", "dropbox", "--print-url").stdout.strip()
    linked = run("link", "dropbox", "--code", code_shown(fake_dropbox, url))
    assert linked.exit_code == 0, linked.stderr
    assert_nothing_raw(linked.stdout, linked.stderr)
    (conn,) = run_json("connections")["connections"]
    check_label(conn["label"])  # stored labels are always valid ones
    assert conn["account_name"] == f"Fake{EVIL} Brewer"  # JSON keeps the exact value
    table = run("connections")
    assert_nothing_raw(table.stdout, table.stderr)
    assert "Fake\\x1b[31mEVIL\\u202etxt.exe\\x07 Brewer" in table.stdout


# --- escaping in every output mode ---------------------------------------------------------


@pytest.fixture
def evil_archive(sample: Path) -> Path:
    path = sample.with_name(f"2026-11-27T03.00.00{EVIL}.tar.xz")
    sample.rename(path)
    return path


def test_an_evil_file_name_is_escaped_on_stdout_and_stderr_when_piped(
    evil_archive: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    uploaded = cli("upload", str(evil_archive), "--to", f"local:{tmp_path}", env=subprocess_env)
    assert uploaded.returncode == 0, uploaded.stderr
    assert "\\x1b[31mEVIL\\u202etxt.exe\\x07" in uploaded.stdout
    evil_archive.write_bytes(b"not an archive")  # now every line about it is an error
    failed = cli("verify", str(evil_archive), env=subprocess_env)
    listed = cli("uploads", env=subprocess_env)
    assert_nothing_raw(uploaded.stdout, uploaded.stderr, failed.stdout, failed.stderr)
    assert_nothing_raw(listed.stdout, listed.stderr)
    assert "\\x1b[31mEVIL" in listed.stdout


def test_json_output_keeps_the_exact_name_and_no_raw_control_bytes(
    evil_archive: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    result = cli(
        "upload", str(evil_archive), "--to", f"local:{tmp_path}", "--json", env=subprocess_env
    )
    assert result.returncode == 0, result.stderr
    assert_nothing_raw(result.stdout)
    assert json.loads(result.stdout)["uploads"][0]["path"] == str(evil_archive)


def test_a_label_stored_raw_by_an_older_version_is_shown_escaped(tmp_path: Path) -> None:
    app = Context.create()
    try:
        app.db.connections.add(
            Connection(
                id=str(uuid.uuid4()), provider="local", label=f"old{EVIL}", location=str(tmp_path)
            )
        )
    finally:
        app.close()
    for args in (("connections",), ("status", "--offline"), ("unlink", f"old{EVIL}")):
        result = run(*args)
        assert_nothing_raw(result.stdout, result.stderr)


def _on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal (Rich output), `env` as
    given (NO_COLOR and TERM kept)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [EXE, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    try:
        output = drain(master)
    except TimeoutError:
        proc.kill()
        raise
    return proc.wait(timeout=60), output.decode("utf-8", "replace")


def test_an_evil_file_name_is_escaped_on_a_terminal_too(
    evil_archive: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "NO_COLOR": "1", "TERM": "xterm"}
    code, shown = _on_a_terminal("upload", str(evil_archive), "--to", f"local:{tmp_path}", env=env)
    assert code == 0, shown
    assert "\x1b[31mEVIL" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert "\\x1b[31mEVIL" in shown
    evil_archive.write_bytes(b"damaged")
    code, shown = _on_a_terminal("verify", str(evil_archive), env=env)
    assert code == ExitCode.VERIFY
    assert "\x1b[31mEVIL" not in shown and "\u202e" not in shown
    code, shown = _on_a_terminal("uploads", env=env)
    assert "\x1b[31mEVIL" not in shown and "\u202e" not in shown
    assert "EVIL" in shown


@pytest.mark.parametrize("label", ["dropbox", "local", "local:usb", "8c00e267", "dead-beef"])
def test_a_label_that_would_hide_another_reference_is_refused(tmp_path: Path, label: str) -> None:
    result = run("link", "local", str(tmp_path), "--label", label)
    assert result.exit_code == 2, result.output
    assert "cannot be used" in result.stderr
    assert run_json("connections")["connections"] == []


def test_a_folder_named_like_a_provider_gets_a_label_that_does_not_hide_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "dropbox"
    folder.mkdir()
    assert run("link", "local", str(folder)).exit_code == 0
    assert [c["label"] for c in run_json("connections")["connections"]] == ["dropbox 2"]
