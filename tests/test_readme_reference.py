"""The README's command reference is checked against --help (issue 10): every command
has a section, every option --help lists is documented in it, and every option its
heading names exists. A renamed or added option fails here until the README follows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _sections() -> dict[str, str]:
    """`### \\`COMMAND ...\\`` heading -> its text (heading and body), by command path."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Command reference")
    reference = text[start : text.index("\n## ", start + 1)]
    sections: dict[str, str] = {}
    for part in re.split(r"^### ", reference, flags=re.M)[1:]:
        heading = re.match(r"`([^`]+)`", part)
        if heading is None:  # a topic (JSON output), not a command
            continue
        words = re.match(r"[a-z]+(?: [a-z]+)?", heading.group(1))
        assert words is not None, part
        path = words.group(0)
        sections[path] = sections.get(path, "") + part
    return sections


def _commands() -> dict[str, Any]:
    """Every command path (`remote ls`, `config set`) -> its Click command."""
    import typer.main

    from fermentrack_backup_cli.cli import app

    found: dict[str, Any] = {}

    def walk(command: Any, path: str) -> None:
        subcommands = getattr(command, "commands", {})
        if not subcommands:
            found[path] = command
        for name, sub in subcommands.items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def _section(sections: dict[str, str], path: str) -> str:
    """A command's section: its own, or its group's (`config path | show | set ...`)."""
    if path in sections:
        return sections[path]
    group, name = path.split()[0], path.split()[-1]
    for key, text in sections.items():
        heading = text.splitlines()[0]
        if key.split()[0] == group and re.search(rf"(?:^`| \| |^`{group} ){name}\b", heading):
            return text
    raise AssertionError(f"README has no `### {path}` section")


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in p.opts + p.secondary_opts if o.startswith("--")}


def test_every_command_and_option_is_in_the_readme_reference() -> None:
    sections = _sections()
    commands = _commands()
    assert {"upload", "remote ls", "link dropbox", "config set"} <= set(commands)
    undocumented = {}
    for path, command in commands.items():
        text = _section(sections, path)
        missing = sorted(o for o in _options(command) - {"--help"} if o not in OPTION.findall(text))
        if missing:
            undocumented[path] = missing
    assert undocumented == {}


def test_every_option_a_readme_heading_names_exists() -> None:
    commands = _commands()
    unknown = {}
    for path, text in _sections().items():
        heading = text.splitlines()[0]
        # a group's section (`config path | show [--json] | ...`) covers all its commands
        scope = path.split()[0] if " | " in heading else path
        known = set().union(*(_options(c) for p, c in commands.items() if p.startswith(scope)))
        wrong = sorted(set(OPTION.findall(heading)) - known)
        if wrong:
            unknown[path] = wrong
    assert unknown == {}
