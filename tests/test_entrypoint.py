"""The installed entry point in real subprocesses: version, piping, exit codes, locks, imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fermentrack_backup_cli import __version__
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import EXE, cli, lock_for


def test_version_from_the_console_script_and_python_m(subprocess_env: dict[str, str]) -> None:
    assert (
        cli("--version", env=subprocess_env).stdout.strip() == f"fermentrack-backup {__version__}"
    )
    mod = subprocess.run(
        [sys.executable, "-m", "fermentrack_backup_cli", "--version"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert __version__ in mod.stdout


def test_piped_output_has_no_ansi_and_one_line_per_file(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    result = cli(
        "upload", str(sample), "--to", f"local:{tmp_path / 'd'}", "--mkdir", env=subprocess_env
    )
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout + result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert result.stderr == ""


def test_quiet_prints_nothing_on_success_and_only_errors_on_failure(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    ok = cli(
        "upload",
        str(sample),
        "--to",
        f"local:{tmp_path / 'd'}",
        "--mkdir",
        "--quiet",
        env=subprocess_env,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    bad = cli(
        "upload",
        str(tmp_path / "nope.tar.xz"),
        "--to",
        f"local:{tmp_path / 'd'}",
        "--quiet",
        env=subprocess_env,
    )
    assert bad.returncode == ExitCode.NOT_FOUND
    assert bad.stdout == ""
    assert bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr


def test_json_errors_are_json_on_stdout(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    bad = cli(
        "upload",
        str(tmp_path / "nope.tar.xz"),
        "--to",
        f"local:{tmp_path}",
        "--json",
        env=subprocess_env,
    )
    assert bad.returncode == ExitCode.NOT_FOUND
    assert json.loads(bad.stdout)["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("providers",),
        ("connections",),
        ("uploads",),
        ("status",),
        ("verify", "{sample}"),
        ("upload", "{sample}", "--to", "local:{dest}", "--mkdir"),
    ],
)
def test_offline_commands_never_import_the_dropbox_sdk(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    argv = [a.format(sample=sample, dest=tmp_path / "dest") for a in args]
    code = textwrap.dedent(f"""
        import sys
        from fermentrack_backup_cli.cli import app
        try:
            app({argv!r})
        except SystemExit as exc:
            code = exc.code
        loaded = sorted(m for m in sys.modules if m == "dropbox" or m.startswith("dropbox."))
        print("DROPBOX_MODULES=" + ",".join(loaded), file=sys.stderr)
        print("RICH_CONSOLE=" + str("rich.console" in sys.modules), file=sys.stderr)
        sys.exit(code or 0)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "DROPBOX_MODULES=\n" in result.stderr
    assert "RICH_CONSOLE=False" in result.stderr  # nor Rich: piped output and help are plain


def test_two_uploads_at_once_store_once_and_the_second_waits_or_reports_locked(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.samples import make_backup

    src = tmp_path / "src"
    src.mkdir()
    make_backup(src, extra_bytes=8 * 1024 * 1024)
    dest = f"local:{tmp_path / 'dest'}"
    procs = [
        subprocess.Popen(
            [EXE, "upload", str(src), "--to", dest, "--mkdir", "--json"],
            env=subprocess_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    statuses = sorted(json.loads(o[0])["uploads"][0]["status"] for o in outs)
    assert statuses == ["completed", "skipped"]
    locked = subprocess.Popen(
        [EXE, "upload", str(src), "--to", dest, "--lock-timeout", "0"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    locked.communicate(timeout=60)
    assert locked.returncode == 0  # nobody holds the lock now


def test_a_held_lock_gives_the_locked_exit_code(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:

    dest = tmp_path / "dest"
    dest.mkdir()
    with lock_for(f"local:{dest}"):
        result = cli(
            "upload",
            str(sample),
            "--to",
            f"local:{dest}",
            "--lock-timeout",
            "0.5",
            env=subprocess_env,
        )
    assert result.returncode == ExitCode.LOCKED
    assert "another fermentrack-backup run" in result.stderr


def test_sigterm_while_waiting_exits_with_the_cancelled_code(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    import signal
    import time

    dest = tmp_path / "dest"
    dest.mkdir()
    with lock_for(f"local:{dest}"):
        proc = subprocess.Popen(
            [EXE, "upload", str(sample), "--to", f"local:{dest}"],
            env=subprocess_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.CANCELLED
    assert "interrupted" in err
    assert "Traceback" not in err


def test_on_a_terminal_upload_and_download_draw_progress_without_crashing(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.pty_run import on_terminal
    from tests.samples import make_backup

    src = tmp_path / "src"
    src.mkdir()
    archive = make_backup(src, extra_bytes=6 * 1024 * 1024)
    dest = f"local:{tmp_path / 'dest'}"
    for argv in (
        ["upload", str(archive), "--to", dest, "--mkdir"],
        ["download", archive.name, "--to", dest, "--output", str(tmp_path / "restore")],
    ):
        code, output = on_terminal(*argv, env=subprocess_env, columns=100)
        assert code == 0, output
        assert "Traceback" not in output
    assert (tmp_path / "restore" / archive.name).read_bytes() == archive.read_bytes()


def test_a_linked_folder_and_local_dir_to_it_share_one_lock(
    subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:

    dest = tmp_path / "usb"
    dest.mkdir()
    assert cli("link", "local", str(dest), "--label", "usb", env=subprocess_env).returncode == 0
    with lock_for(f"local:{dest}"):
        result = cli(
            "upload", str(sample), "--to", "usb", "--lock-timeout", "0.5", env=subprocess_env
        )
    assert result.returncode == ExitCode.LOCKED
