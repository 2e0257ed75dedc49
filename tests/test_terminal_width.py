"""At home in an 80-column terminal (issue 10): URLs whole, tables a line per row."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from fermentrack_backup_cli.columns import Column, elide, fit
from fermentrack_backup_cli.output_table import rich_table
from fermentrack_backup_cli.units import human_rate, human_size, progress_pair, size_pair
from tests.cli_helpers import cli
from tests.pty_run import on_terminal, plain


def test_the_print_url_address_is_one_unbroken_line_with_a_hyperlink_at_80_columns(
    dropbox_env: dict[str, str],
) -> None:
    code, shown = on_terminal("link", "dropbox", "--print-url", env=dropbox_env, columns=80)
    assert code == 0, shown
    lines = plain(shown)
    url = next(line for line in lines if line.startswith("https://"))
    assert len(url) > 80  # wider than the terminal, and still on one line
    assert "client_id=" in url and "code_challenge=" in url and "state=" in url
    assert f"\x1b]8;;{url}\x1b\\" in shown  # OSC 8: clickable as a whole


def test_the_piped_print_url_address_is_bare(dropbox_env: dict[str, str]) -> None:
    result = cli("link", "dropbox", "--print-url", env=dropbox_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://") and "\x1b" not in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


ROWS = [
    ["1", "2026-12-02T05:04:01Z", "upload", "completed", "fermentrack-" + "x" * 80 + ".tar.xz"],
    ["22", "2026-12-02T05:05:01Z", "delete", "failed", "short.tar.xz"],
]
COLUMNS = (
    Column("id", elide=False),
    Column("started", elide=False),
    Column("action", elide=False),
    Column("status", elide=False),
    Column("file"),
    Column("error", essential=False),
)


@pytest.mark.parametrize("width", [80, 100])
def test_a_compact_table_keeps_every_row_on_one_line(width: int) -> None:
    rows = [[*r, "network: " + "e" * 60] for r in ROWS]
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False)
    console.print(rich_table("Uploads", fit(COLUMNS, rows, width)))
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2 + 1 + len(rows)  # title, header, rule, one line per row
    assert all(len(line) <= width for line in lines)
    assert "error" not in lines[1]  # not essential
    assert "fermentrack-x" in lines[3] and lines[3].rstrip().endswith(".tar.xz")
    assert "…" in lines[3]


def test_wide_shows_every_column_whole() -> None:
    rows = [[*r, "network"] for r in ROWS]
    fitted = fit(COLUMNS, rows, 80, wide=True)
    assert fitted.columns[-1] == "error"
    assert fitted.rows[0][4] == ROWS[0][4]


def test_elision_keeps_both_ends() -> None:
    short = elide("2026-11-27T03.00.00.tar.xz", 12)
    assert len(short) == 12 and short.startswith("2026-1") and short.endswith(".xz")


def test_sizes_are_binary_units_and_rates_mib_per_second() -> None:
    assert human_size(67134066) == "64.0 MiB"
    assert human_size(10485760) == "10.0 MiB"
    assert human_size(512) == "512 B"
    assert human_rate(5 * 2**20) == "5.0 MiB/s"
    assert human_rate(0.05 * 2**20) == "0.1 MiB/s"
    assert human_rate(20 * 2**10) == "20.0 KiB/s"  # not "0.0 MiB/s"
    assert progress_pair(512, 1000) == "512/1000 B"  # not "0.0/0.0 MiB"
    assert progress_pair(2**19, 2**20) == "0.5/1.0 MiB"
    assert progress_pair(3 * 2**29, 2**31) == "1.5/2.0 GiB"
    assert size_pair(2**20, 2**20 + 1) == ("1,048,576 B", "1,048,577 B")


def test_the_uploads_table_fits_80_columns_and_hides_skipped_rows(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    folder = tmp_path / ("a-long-folder-name-for-the-usb-stick-" * 2)
    folder.mkdir()
    env = subprocess_env
    assert cli("link", "local", str(folder), "--label", "garage-usb-stick", env=env).returncode == 0
    for _ in range(2):  # the second run is `skipped`
        assert cli("upload", str(sample), "--to", "garage-usb-stick", env=env).returncode == 0
    for argv, statuses in (
        (["uploads"], ["completed"]),
        (["uploads", "--all"], ["skipped", "completed"]),
    ):
        code, shown = on_terminal(*argv, env=env, columns=80)
        assert code == 0, shown
        lines = [line for line in plain(shown) if line.strip()]
        assert all(len(line) <= 80 for line in lines), lines
        rows = lines[3:]
        assert [row.split()[3] for row in rows] == statuses
    for argv in (["status"], ["connections"], ["remote", "ls", "--to", "garage-usb-stick"]):
        code, shown = on_terminal(*argv, env=env, columns=80)
        assert code == 0, shown
        assert all(len(line) <= 80 for line in plain(shown)), shown
    piped = cli("uploads", "--all", env=env).stdout.splitlines()
    assert piped[0].split("\t") == [
        "id",
        "started",
        "action",
        "status",
        "file",
        "size",
        "target",
        "error",
    ]
    assert len(piped) == 3


def test_every_option_has_a_meaningful_metavar() -> None:
    import re

    import typer.main
    from typer import _click as click  # Typer's vendored Click, only to walk the commands

    from fermentrack_backup_cli.cli import app

    seen = []

    def walk(command: Any, name: str) -> None:
        ctx = click.Context(command, info_name=name)
        for param in command.params:
            record = param.get_help_record(ctx)
            if record:
                seen.append(record[0])
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, sub_name)

    walk(typer.main.get_command(app), "fermentrack-backup")
    assert seen
    bad = [r for r in seen if "<" in r or re.search(r"--\S+ [a-z]", r)]
    assert bad == []
