"""A hostile terminal and hostile names (issue 10, attacked over an 80-column SSH
terminal): odd COLUMNS values, wide characters, narrow windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import cli
from tests.pty_run import on_terminal, plain


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
    assert any(line.startswith("Connections") and len(line) == 80 for line in plain(shown))


def test_a_refused_label_shows_each_escape_once(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """The label was escaped and then repr()'d: `\\x1b` showed as `\\\\x1b`."""
    label = "bad\x1b[31mred \u200d"
    result = cli("link", "local", str(tmp_path), "--label", label, env=subprocess_env)
    assert result.returncode == 2, result.stderr
    assert "invalid label 'bad\\x1b[31mred \\u200d'" in result.stderr, result.stderr
    assert "\\\\" not in result.stderr and "\x1b" not in result.stderr
