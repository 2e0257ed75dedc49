"""One exit code table (issue 10): errors.EXIT_CODES is the source; the README's
"## Exit codes" table and the root --help say the same, row by row."""

from __future__ import annotations

import re
from pathlib import Path

from fermentrack_backup_cli import errors
from tests.cli_helpers import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_rows() -> list[tuple[int, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0] == "| code | name | meaning |" and set(lines[1]) <= set("|-")
    rows = []
    for line in lines[2:]:
        code, name, meaning = (cell.strip() for cell in line.strip("|").split(" | "))
        rows.append((int(code), name, meaning))
    return rows


def test_the_readme_table_is_errors_exit_codes_row_by_row() -> None:
    assert _readme_rows() == [(r.code, r.name, r.meaning) for r in errors.EXIT_CODES]


def test_every_exit_code_constant_has_a_row() -> None:
    constants = {v for k, v in vars(errors.ExitCode).items() if k.isupper()}
    assert constants == {r.code for r in errors.EXIT_CODES}
    assert len(errors.EXIT_CODES) == len(constants)  # none twice


def test_the_root_help_ends_with_the_table_in_80_columns(subprocess_env: dict[str, str]) -> None:
    result = cli("--help", env={**subprocess_env, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    start = lines.index("  Exit codes:")
    shown = lines[start + 1 :]
    assert len(shown) == len(errors.EXIT_CODES)
    for line, row in zip(shown, errors.EXIT_CODES, strict=True):
        assert re.fullmatch(r"\s+(\d+)  (.+?)\s{2,}(.+)", line), line
        code, rest = line.split(maxsplit=1)
        assert (int(code), rest) == (row.code, f"{row.name:<18}  {row.brief}"), line
        assert len(line) <= 80, line
