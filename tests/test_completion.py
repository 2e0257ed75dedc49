"""Shell completion for bash, zsh and fish, run the way the shells run it.

The installed entry point is called with `_FERMENTRACK_BACKUP_COMPLETE=complete_<shell>`
(what Typer's scripts do on Tab), and the scripts themselves are sourced by real shells
(zsh and fish when installed) which then call the completion function.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import EXE, cli, run
from tests.samples import make_backup


def _env(base: dict[str, str]) -> dict[str, str]:
    return {**base, "PATH": f"{Path(EXE).parent}{os.pathsep}{base.get('PATH', '')}"}


def complete(env: dict[str, str], *words: str) -> list[str]:
    """What bash's Tab offers after `fermentrack-backup WORDS...` (the last is the
    word being completed), as the generated bash function asks for it."""
    result = subprocess.run(
        [EXE],
        env={
            **env,
            "_FERMENTRACK_BACKUP_COMPLETE": "complete_bash",
            "COMP_WORDS": " ".join(["fermentrack-backup", *words]),
            "COMP_CWORD": str(len(words)),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


def shell(program: str, script: str, env: dict[str, str]) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed on this machine (apt-get install {program})")
    options = {"bash": ["--norc"], "zsh": ["-f"]}.get(program, [])
    result = subprocess.run(
        [path, *options, "-c", script],
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """Two local connections, `usb` holding two backups, and `nas`."""
    usb = tmp_path / "usb"
    usb.mkdir()
    (tmp_path / "nas").mkdir()
    assert run("link", "local", str(usb), "--label", "usb").exit_code == 0
    assert run("link", "local", str(tmp_path / "nas"), "--label", "nas").exit_code == 0
    src = tmp_path / "backups"
    from datetime import datetime

    make_backup(src, datetime(2026, 11, 26, 3))
    make_backup(src, datetime(2026, 11, 27, 3))
    assert run("upload", str(src), "--to", "usb").exit_code == 0
    return usb


BASH_CALL = """
COMP_WORDS=({words})
COMP_CWORD={cword}
_fermentrack_backup_completion fermentrack-backup
printf '%s\\n' "${{COMPREPLY[@]}}"
"""


def bash_call(*words: str) -> str:
    quoted = " ".join(["fermentrack-backup", *(f"'{w}'" for w in words)])
    return BASH_CALL.format(words=quoted, cword=len(words))


def test_commands_and_options_complete(subprocess_env: dict[str, str]) -> None:
    assert complete(subprocess_env, "up") == ["upload", "uploads"]
    options = complete(subprocess_env, "upload", "--")
    assert {"--to", "--json", "--quiet", "--notify-url", "--prune"} <= set(options)
    assert complete(subprocess_env, "remote", "") == ["ls"]
    assert complete(subprocess_env, "uploads", "--status", "f") == ["failed"]
    assert complete(subprocess_env, "config", "set", "notify.") == ["notify.url", "notify.style"]


def test_connection_labels_complete_for_every_connection_option(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    assert complete(subprocess_env, "upload", "x.tar.xz", "--to", "") == ["nas", "usb"]
    assert complete(subprocess_env, "upload", "--to", "u") == ["usb"]
    assert complete(subprocess_env, "status", "") == ["nas", "usb"]
    assert complete(subprocess_env, "unlink", "n") == ["nas"]
    assert complete(subprocess_env, "uploads", "--connection", "") == ["nas", "usb"]
    assert complete(subprocess_env, "verify", "--to", "") == ["nas", "usb"]
    assert complete(subprocess_env, "prune", "--to", "") == ["nas", "usb"]


def test_completing_labels_reads_the_history_read_only_and_never_loads_the_sdk(
    subprocess_env: dict[str, str],
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
    home: Path,
) -> None:
    make_dropbox_conn("cloud")
    fake_dropbox.requests.clear()
    database = home / "data" / "history.sqlite3"
    before = database.read_bytes()
    code = textwrap.dedent(f"""
        import sys
        sys.argv = [{EXE!r}]
        from fermentrack_backup_cli.cli import main
        try:
            main()
        except SystemExit:
            pass
        loaded = [m for m in ("dropbox", "keyring", "rich") if m in sys.modules]
        print("LOADED=" + ",".join(loaded), file=sys.stderr)
    """)
    for words in ("fermentrack-backup upload --to ", "fermentrack-backup download "):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={
                **subprocess_env,
                "_FERMENTRACK_BACKUP_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(words.split())),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "LOADED=\n" in result.stderr  # no SDK, no keyring, no Rich
    assert complete(subprocess_env, "upload", "--to", "") == ["cloud"]
    assert fake_dropbox.requests == []  # and no network
    assert database.read_bytes() == before  # nothing written


def test_stored_backup_names_of_a_local_target_complete_newest_first(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    newest, older = "2026-11-27T03.00.00.tar.xz", "2026-11-26T03.00.00.tar.xz"
    assert complete(subprocess_env, "download", "--to", "usb", "") == [newest, older]
    assert complete(subprocess_env, "download", "--to", "usb", "2026-11-26") == [older]
    assert complete(subprocess_env, "verify", "--remote", "--to", "usb", "") == [newest, older]
    assert complete(subprocess_env, "download", "--to", f"local:{linked}", "") == [newest, older]
    assert complete(subprocess_env, "download", "--to", "nas", "") == []
    # plain verify takes local paths: nothing offered, so the shell completes file names
    assert complete(subprocess_env, "verify", "") == []


def test_stored_names_of_a_dropbox_target_are_not_listed_over_the_network(
    subprocess_env: dict[str, str], fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn("cloud")
    fake_dropbox.put_file("/Fermentrack Backups/2026-11-27T03.00.00.tar.xz", b"x")
    fake_dropbox.requests.clear()
    assert complete(subprocess_env, "download", "--to", "cloud", "") == []
    assert fake_dropbox.requests == []


def test_completion_before_anything_is_linked_offers_nothing_and_creates_nothing(
    subprocess_env: dict[str, str], home: Path
) -> None:
    assert complete(subprocess_env, "upload", "--to", "") == []
    assert complete(subprocess_env, "download", "") == []
    assert not (home / "data").exists()


@pytest.mark.parametrize(
    ("name", "marker"),
    [
        ("bash", "complete -o default -F _fermentrack_backup_completion fermentrack-backup"),
        ("zsh", "compdef _fermentrack_backup_completion fermentrack-backup"),
        ("fish", "complete --command fermentrack-backup"),
    ],
)
def test_show_completion_prints_the_script_of_the_named_shell(
    subprocess_env: dict[str, str], name: str, marker: str
) -> None:
    result = cli("--show-completion", name, env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_FERMENTRACK_BACKUP_COMPLETE=complete_" + name in result.stdout


def test_bash_sources_the_script_and_its_function_offers_labels(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    # --show-completion alone detects the shell it runs in, as Typer's option does
    script = 'eval "$(fermentrack-backup --show-completion)"\n' + bash_call("status", "")
    assert shell("bash", script, subprocess_env).split() == ["nas", "usb"]
    script = 'eval "$(fermentrack-backup --show-completion)"\n' + bash_call("upl")
    assert shell("bash", script, subprocess_env).split() == ["upload", "uploads"]


def test_bash_after_install_completion_completes_in_a_new_shell(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    home = Path(subprocess_env["HOME"])
    # (`; true`: the shell stays the parent process, where Typer looks for it)
    installed = shell("bash", "fermentrack-backup --install-completion; true", subprocess_env)
    assert "bash completion installed in" in installed
    assert "fermentrack-backup.sh" in (home / ".bashrc").read_text()
    script = "source ~/.bashrc\ncomplete -p fermentrack-backup\n" + bash_call(
        "download", "--to", "usb", ""
    )
    out = shell("bash", script, subprocess_env).splitlines()
    assert out[0] == "complete -o default -F _fermentrack_backup_completion fermentrack-backup"
    assert out[1:] == ["2026-11-27T03.00.00.tar.xz", "2026-11-26T03.00.00.tar.xz"]


ZSH_STUBS = """
_arguments() { print -r -- "$@" }
_files() { print -r -- FILES }
"""


def test_zsh_sources_the_script_and_its_function_offers_labels_with_help(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    script = (
        "autoload -Uz compinit && compinit -u -D\n"
        'eval "$(fermentrack-backup --show-completion)"\n'
        + ZSH_STUBS
        + 'words=(fermentrack-backup status ""); CURRENT=3\n'
        "_fermentrack_backup_completion\n"
        "print -r -- ${_comps[fermentrack-backup]}\n"
    )
    out = shell("zsh", script, subprocess_env)
    assert '"usb":"local connection ' in out
    assert '"nas":"local connection ' in out
    assert out.splitlines()[-1] == "_fermentrack_backup_completion"  # registered by compdef


def test_zsh_after_install_completion_completes_in_a_new_shell(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    home = Path(subprocess_env["HOME"])
    installed = shell("zsh", "fermentrack-backup --install-completion; true", subprocess_env)
    assert "zsh completion installed in" in installed
    assert (home / ".zfunc" / "_fermentrack-backup").is_file()
    script = (
        "source ~/.zshrc\n" + ZSH_STUBS + "print -r -- ${_comps[fermentrack-backup]}\n"
        "_fermentrack-backup  # autoloaded from ~/.zfunc: defines the function\n"
        'words=(fermentrack-backup upload x --to ""); CURRENT=5\n'
        "_fermentrack_backup_completion\n"
    )
    out = shell("zsh", script, subprocess_env).splitlines()
    assert out[0] == "_fermentrack-backup"
    assert any('"usb":"local connection ' in line for line in out)


def test_fish_loads_the_installed_script_and_completes_labels(
    subprocess_env: dict[str, str], linked: Path
) -> None:
    home = Path(subprocess_env["HOME"])
    env = {**subprocess_env, "XDG_CONFIG_HOME": str(home / ".config")}
    installed = shell("fish", "fermentrack-backup --install-completion; true", env)
    assert "fish completion installed in" in installed
    out = shell("fish", 'complete -C "fermentrack-backup status "', env).splitlines()
    labels = [line.split("\t")[0] for line in out]
    assert sorted(labels) == ["nas", "usb"]  # (fish sorts them)
    assert all(line.split("\t")[1].startswith("local connection ") for line in out)
