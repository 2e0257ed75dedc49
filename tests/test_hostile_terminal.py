"""A hostile terminal and hostile names (issue 10, attacked over an 80-column SSH
terminal): odd COLUMNS values, wide characters, narrow windows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import cli
from tests.pty_run import ANSI, on_terminal, plain


@pytest.mark.parametrize("columns_env", ["0", "00", "abc", ""])
def test_an_odd_columns_value_still_shows_the_error_and_the_table(
    subprocess_env: dict[str, str], tmp_path: Path, columns_env: str
) -> None:
    """COLUMNS=0 made Rich print at width 0: an error and its hint vanished (exit 3)."""
    env = subprocess_env
    assert cli("link", "local", str(tmp_path), "--label", "usb", env=env).returncode == 0
    code, shown = on_terminal("status", "nosuch", env=env, columns=80, columns_env=columns_env)
    lines = plain(shown)
    assert code == 3, shown
    assert any(line.startswith("error: no connection matches 'nosuch'") for line in lines)
    assert any(line.startswith("hint: ") for line in lines), shown
    code, shown = on_terminal("connections", env=env, columns=80, columns_env=columns_env)
    assert code == 0, shown
    lines = plain(shown)
    assert lines[0] == "Connections" and len(lines[2]) == 80 and set(lines[2]) == {"─"}, lines


def test_a_refused_label_shows_each_escape_once(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """The label was escaped and then repr()'d: `\\x1b` showed as `\\\\x1b`."""
    label = "bad\x1b[31mred \u200d"
    result = cli("link", "local", str(tmp_path), "--label", label, env=subprocess_env)
    assert result.returncode == 2, result.stderr
    assert "invalid label 'bad\\x1b[31mred \\u200d'" in result.stderr, result.stderr
    assert "\\\\" not in result.stderr and "\x1b" not in result.stderr


WIDE_LABEL = "日本語のラベル🍺 backup"  # 18 characters, 28 cells


@pytest.mark.parametrize("width", range(1, 30))
def test_elision_counts_terminal_cells_not_characters(width: int) -> None:
    from rich.cells import cell_len

    from fermentrack_backup_cli.columns import cells, elide

    short = elide(WIDE_LABEL, width)
    assert cells(short) == cell_len(short) <= width
    if width >= 10:
        assert short.endswith("ckup") and short.startswith("日")


def test_a_wide_character_label_is_elided_not_cropped_in_an_80_column_table() -> None:
    """Widths were counted in characters: the 28-cell label got 18 cells and Rich cropped
    it to `日本語のラベル`, which reads like a whole label."""
    import io

    from rich.cells import cell_len
    from rich.console import Console

    from fermentrack_backup_cli.cli.connections import CONNECTION_COLUMNS
    from fermentrack_backup_cli.columns import fit
    from fermentrack_backup_cli.output_table import rich_table

    row = ["f63f0b15", "local", WIDE_LABEL, "/srv/" + "long-folder-" * 6, "", "ok", "-", "", ""]
    for width in (60, 80):
        buffer = io.StringIO()
        Console(file=buffer, width=width, force_terminal=False).print(
            rich_table("Connections", fit(CONNECTION_COLUMNS, [row], width))
        )
        lines = buffer.getvalue().splitlines()
        assert all(cell_len(line) <= width for line in lines), lines
        label = [cell for cell in re.split(" {2,}", lines[3]) if cell][2]
        assert label.endswith("backup") and label.startswith("日本語"), lines
        assert (label == WIDE_LABEL) == (width == 80), lines


def _help_pages(width: int) -> dict[str, str]:
    """Every command's --help, as Click lays it out at `width` columns."""
    import typer.main
    from typer import _click as click

    from fermentrack_backup_cli.cli import app

    pages: dict[str, str] = {}

    def walk(command: Any, path: list[str], parent: Any) -> None:
        ctx = click.Context(command, info_name=path[-1], parent=parent, terminal_width=width)
        subcommands = getattr(command, "commands", {})
        if not subcommands:
            pages[" ".join(path[1:])] = command.get_help(ctx)
        for name, sub in subcommands.items():
            walk(sub, [*path, name], ctx)

    walk(typer.main.get_command(app), ["fermentrack-backup"], None)
    return pages


@pytest.mark.parametrize("width", [40, 80])
def test_every_command_ends_with_whole_unwrapped_examples(width: int) -> None:
    """`Example:` was a paragraph Click rewrapped: at 80 columns `prune`'s broke after
    `--keep-weekly`, at 40 `link dropbox --no-` / `browser`; a paste ran something else."""
    pages = _help_pages(width)
    assert {"upload", "prune", "link dropbox", "remote ls", "config set"} <= set(pages)
    for name, page in pages.items():
        assert "Example:" not in page, (name, page)
        _, examples = page.split("\nExamples:\n")
        lines = [line for line in examples.splitlines() if line]
        assert lines, (name, page)
        for line in lines:
            assert line.startswith(f"  fermentrack-backup {name}"), (name, page)
        if name == "prune":
            assert lines[0].endswith("--keep-daily 7 --keep-weekly 4 --dry-run"), page


def test_usage_lines_write_required_arguments_plainly(subprocess_env: dict[str, str]) -> None:
    """Typer wrote `upload [OPTIONS] {PATH...}`: braces read as a set of choices."""
    usage = {name: page.split("\n\n")[0] for name, page in _help_pages(200).items()}
    assert usage["upload"] == "Usage: fermentrack-backup upload [OPTIONS] PATH..."
    assert usage["config set"] == "Usage: fermentrack-backup config set [OPTIONS] KEY [VALUE]"
    assert [name for name, line in usage.items() if "{" in line] == []
    wrong = cli("link", "local", env=subprocess_env)  # a usage error: our style, no braces
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "error: Missing argument 'PATH'.",
        "hint: see `fermentrack-backup link local --help`",
    ]


def test_piped_tables_carry_whole_connection_ids_a_script_can_pass_on(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    """Piped `connections` and `uploads` showed 8-character id prefixes: "unabridged"
    output a script could not use once two ids share a prefix; a terminal keeps them."""
    env = subprocess_env
    assert cli("link", "local", str(tmp_path), "--label", "usb", env=env).returncode == 0
    assert cli("upload", str(sample), "--to", "usb", env=env).returncode == 0
    conn_id = cli("connections", env=env).stdout.splitlines()[1].split("\t")[0]
    assert len(conn_id) == 36 and conn_id.count("-") == 4, conn_id
    uploads = cli("uploads", env=env).stdout.splitlines()
    assert uploads[1].split("\t")[6] == conn_id
    code, shown = on_terminal("connections", env=env, columns=80)
    assert code == 0 and conn_id not in shown
    assert plain(shown)[3].startswith(f"{conn_id[:8]}  local")
    code, shown = on_terminal("uploads", "--wide", env=env, columns=200)
    assert code == 0 and conn_id in shown


BASH_COMPLETES = """
eval "$(fermentrack-backup --show-completion bash)"
COMP_WORDS=(fermentrack-backup status "$1"); COMP_CWORD=2
_fermentrack_backup_completion fermentrack-backup
for word in "${COMPREPLY[@]}"; do eval "set -- $word"; printf '%s|%s\\n' "$#" "$1"; done
"""


@pytest.mark.parametrize("typed", ["", "us", "usb\\ s"])
def test_bash_inserts_a_label_with_spaces_as_one_argument(
    subprocess_env: dict[str, str], tmp_path: Path, typed: str
) -> None:
    """Bash inserts COMPREPLY verbatim: `usb stick` became `status usb stick`, two words."""
    import shutil
    import subprocess

    from tests.cli_helpers import EXE

    bash = shutil.which("bash")
    assert bash is not None
    env = subprocess_env
    for label, name in (("usb stick", "a"), ("it's $HOME", "b")):
        (tmp_path / name).mkdir()
        assert cli("link", "local", str(tmp_path / name), "--label", label, env=env).returncode == 0
    result = subprocess.run(
        [bash, "--norc", "-c", BASH_COMPLETES, "bash", typed],
        env={**env, "PATH": f"{Path(EXE).parent}:{env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = ["1|it's $HOME", "1|usb stick"] if typed == "" else ["1|usb stick"]
    assert result.stdout.splitlines() == expected, result.stdout


def test_an_upload_summary_line_keeps_its_path_whole_at_80_columns(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    """Rich wrapped `completed: NAME -> PATH` at the space in `Fermentrack Backups`: a
    newline inside the path, so a copy of it named another file. Too wide for the
    terminal, the path goes on a line of its own, whole."""
    folder = tmp_path / ("usb-stick-mounted-here-" * 3)
    code, shown = on_terminal(
        "upload", str(sample), "--to", f"local:{folder}", "--mkdir", env=subprocess_env
    )
    assert code == 0, shown
    stored = str(folder / "Fermentrack Backups" / sample.name)
    lines = plain(shown)
    done = [i for i, line in enumerate(lines) if line.startswith("completed: ")]
    assert len(done) == 1, shown
    assert lines[done[0] + 1] == f"  -> {stored}", shown


@pytest.mark.parametrize("columns", [40, 60, 80])
def test_help_fits_a_narrow_terminal(subprocess_env: dict[str, str], columns: int) -> None:
    """Click lays help out at least 50 columns wide: on a 40-column terminal every long
    line was folded by the terminal. Only an example command may be longer (unwrapped)."""
    env = {**subprocess_env, "COLUMNS": str(columns)}
    for argv in ([], ["link"], ["link", "dropbox"], ["upload"], ["prune"], ["status"]):
        result = cli(*argv, "--help", env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        long = [line for line in lines if len(line) > columns]
        assert all(line.startswith("  fermentrack-backup ") for line in long), (argv, long)
        assert any(len(line) > columns - 15 for line in lines), (argv, lines)  # uses the width


def test_a_table_title_with_a_long_folder_stays_one_line(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    """Rich wrapped a table's title to the table's width: `remote ls` and `prune` cut
    their folder path in two at 80 columns, though the terminal had room for it."""
    folder = tmp_path / ("usb-" * 8)
    env = subprocess_env
    assert cli("upload", str(sample), "--to", f"local:{folder}", "--mkdir", env=env).returncode == 0
    for argv in (["remote", "ls"], ["prune", "--keep-last", "1", "--dry-run"]):
        code, shown = on_terminal(*argv, "--to", f"local:{folder}", env=env, columns=80)
        assert code == 0, shown
        lines = plain(shown)
        assert lines[0].endswith("/Fermentrack Backups" if argv[0] == "remote" else "(1 last)")
        assert len(lines[0]) > len(lines[2]) and len(lines[0]) <= 80, lines  # wider than table
        assert set(lines[2]) == {"─"}, lines


def test_the_ssh_tunnel_command_is_a_whole_line_at_80_columns(
    dropbox_env: dict[str, str],
) -> None:
    """The tunnel hint was one wrapped notice: `ssh -L ...` and the link command broke
    across lines at 80 columns, so a copy of either ran something else."""
    from tests.link_support import headless_env

    host = "brewery-pi.home.example.org.internal"
    env = {**headless_env(dropbox_env), "SSH_CONNECTION": f"192.0.2.7 50000 {host} 22"}
    _, shown = on_terminal("link", "dropbox", "--port", "53682", env=env, stdin=b"bogus\n")
    lines = plain(shown)
    ssh = [line for line in lines if "ssh -L" in line]
    assert len(ssh) == 1 and ssh[0].startswith("  ssh -L 53682:localhost:53682 "), lines
    assert ssh[0].endswith(f"@{host}"), lines
    assert "  fermentrack-backup link dropbox --browser --port 53682" in lines, lines


def test_progress_counts_use_the_total_s_unit() -> None:
    from fermentrack_backup_cli.units import progress_pair

    assert progress_pair(1234, 2458) == "1.2/2.4 KiB"
    assert progress_pair(512, 900) == "512/900 B"
    assert progress_pair(12 * 2**20, 64 * 2**20) == "12.0/64.0 MiB"
    assert progress_pair(2**29, 3 * 2**30) == "0.5/3.0 GiB"


def test_a_small_archive_s_progress_bar_ends_at_its_size_not_zero(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    """Always MiB: a 2.4 KiB archive's bar ended at `100% 0.0/0.0 MiB`, as if empty."""
    code, shown = on_terminal(
        "upload", str(sample), "--to", f"local:{tmp_path / 't'}", "--mkdir", env=subprocess_env
    )
    assert code == 0, shown
    bar = [line for line in plain(shown) if "100%" in line]
    assert bar and "0.0/0.0" not in bar[-1], shown
    assert re.search(r"100% +\d+(\.\d)?/\d+(\.\d)? (B|KiB) ", bar[-1]), bar


def test_a_dumb_terminal_gets_summary_lines_without_frozen_bars(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    """TERM=dumb: Rich cannot redraw, so each bar was printed once at 100% with a blank
    line after it, between the summary lines."""
    argv = ("upload", str(sample), "--to", f"local:{tmp_path / 't'}", "--mkdir")
    code, shown = on_terminal(*argv, env=subprocess_env, term="dumb")
    assert code == 0, shown
    lines = [line for line in plain(shown) if line]
    assert len(lines) == 2 and lines[0].startswith("completed: "), shown
    assert lines[1].startswith("  -> "), shown  # (the path, too long for 80 columns)
    assert "━" not in shown and "\x1b[" not in shown


@pytest.mark.parametrize("words", [["tcsh"], ["bash", "extra"], ["powershell"]])
def test_show_completion_refuses_a_shell_it_does_not_support(
    subprocess_env: dict[str, str], words: list[str]
) -> None:
    """`--show-completion tcsh` printed the parent shell's (bash) script and exit 0."""
    for option in ("--show-completion", "--install-completion"):
        result = cli(option, *words, env=subprocess_env)
        assert result.returncode == 2, result.stdout
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {option} takes one shell name"), result.stderr
        assert "\nhint: use one of: bash, zsh, fish" in result.stderr
    assert cli("--show-completion", "fish", env=subprocess_env).stdout.startswith("complete ")


def test_one_long_name_does_not_elide_every_archive_name_at_80_columns() -> None:
    """The widest elidable column gave first: one 100-character name cut every
    `2026-11-29T03.00.00.tar.xz` in `remote ls` to `2026-11-29T0…0.00.tar.xz`."""
    from fermentrack_backup_cli.cli.remote import LS_COLUMNS
    from fermentrack_backup_cli.columns import fit

    verified = "ok 2026-12-02T13:38:03Z"
    rows = [
        ["2026-11-29T03.00.00.tar.xz", "2.4 KiB", "2026-12-02T13:25:58Z", "", "yes", verified],
        ["fermentrack-" + "x" * 90 + ".tar.xz", "2.4 KiB", "2026-12-02T13:25:58Z", "", "no", ""],
    ]
    fitted = fit(LS_COLUMNS, rows, 80)
    assert fitted.width <= 80
    assert fitted.rows[0][0] == "2026-11-29T03.00.00.tar.xz"
    assert "…" in fitted.rows[1][0] and "…" in fitted.rows[0][3]
    narrow = fit(LS_COLUMNS, rows, 60)  # no room to keep it: elided like the others
    assert narrow.width <= 60 and "…" in narrow.rows[0][0]


def test_status_shows_each_problem_whole_below_the_compact_table(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """At 80 columns the problems column read `target fold…ir\\` does))`: the one thing
    an unhealthy row is for could not be read without --wide."""
    env = subprocess_env
    drive = tmp_path / "usb-drive-mounted-under-a-long-path"
    drive.mkdir()
    assert cli("link", "local", str(drive), "--label", "garage usb", env=env).returncode == 0
    drive.rmdir()
    code, shown = on_terminal("status", "--offline", env=env, columns=80)
    assert code == 7, shown
    problems = [line for line in plain(shown) if line.startswith("problem: ")]
    assert len(problems) == 1, shown
    assert problems[0].startswith(f"problem: garage usb: target folder does not exist: {drive} ")
    piped = cli("status", "--offline", env=env)
    assert piped.returncode == 7 and "problem: " not in piped.stdout
    assert f"target folder does not exist: {drive} " in piped.stdout.splitlines()[1]


@pytest.mark.parametrize("columns", [40, 80])
def test_a_long_file_name_leaves_its_progress_bar_one_line(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path, columns: int
) -> None:
    """A long (or wide-character) name took the bar's line: bar, percent and counts
    were crushed to `…` and the counts wrapped onto a second line each redraw left."""
    import shutil

    from rich.cells import cell_len

    from tests.pty_run import ANSI

    source = tmp_path / "src"
    source.mkdir()
    for name in ("fermentrack-" + "x" * 90, "日本語のバックアップの名前はとても長い"):
        shutil.copy(sample, source / f"{name}-{sample.name}")
    argv = ("upload", str(source), "--to", f"local:{tmp_path / 't'}", "--mkdir")
    code, shown = on_terminal(*argv, env=subprocess_env, columns=columns)
    assert code == 0, shown
    frames = [ANSI.sub("", line.split("\r")[-1]) for line in shown.split("\r\n")]
    bars = [frame for frame in frames if "100%" in frame]
    assert len(bars) == 2, frames
    assert all(cell_len(bar) <= columns and "…" in bar.split("━")[0] for bar in bars), bars
    if columns == 80:
        assert all(re.search(r"100% 2\.\d/2\.\d KiB", bar) for bar in bars), bars
    rest = [
        f
        for f in frames
        if f.strip() and "100%" not in f and "completed:" not in f and not f.startswith("  -> ")
    ]
    assert rest == [], frames  # no wrapped piece of a bar on a line of its own


def test_error_and_hint_lines_are_not_word_wrapped_on_a_terminal(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """Rich word-wrapped `error:` and `hint:` lines at 80 columns: a path or a command in
    them got a newline in the middle, and a copy of it named something else. The terminal
    folds a long line; a copy of it stays whole."""
    missing = tmp_path / ("a-folder-with-a-long-name-" * 4) / "2026-11-27T03.00.00.tar.xz"
    code, shown = on_terminal("upload", str(missing), "--to", "local:/tmp", env=subprocess_env)
    assert code == 3, shown
    text = ANSI.sub("", shown)
    error = next(line for line in text.split("\r\n") if line.startswith("error: "))
    assert str(missing) in error, shown
