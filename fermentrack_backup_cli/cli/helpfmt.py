"""How --help is laid out: the usage line's metavars, and an Examples section.

Typer writes a required argument as `{PATH}` in the usage line (`upload [OPTIONS]
{PATH...}`), which reads like a set of choices; `HelpCommand` writes `PATH`, as the
README and every man page do (an optional one stays `[PATH]`).

Click lays help out at least 50 columns wide, so on a 40-column terminal every line
of it was folded by the terminal; `help_width` follows the terminal down to 20, and
below 70 columns an option whose name is long gets its help on the next line instead
of a column 10 characters wide.

Click rewraps every paragraph of a command's help to the terminal, so an `Example:`
line broke in the middle of a command (`--keep-weekly` / `4 --dry-run` at 80 columns,
`--no-` / `browser` at 40): pasting it runs something else. `HelpCommand` moves each
`Example:` paragraph of a docstring to an `Examples:` section at the end of the help,
one command per line, never wrapped (a narrow terminal folds it, a copy stays whole).
"""

from __future__ import annotations

import inspect
import re
import shutil
from typing import Any

from typer import _click as click  # Typer's vendored Click: the classes it builds from
from typer.core import TyperCommand

EXAMPLE = re.compile(r"^Examples?:\s*")
BRACED = re.compile(r"^\{([^{}]+)\}$")


def help_width() -> int:
    """The width --help is laid out at: the terminal's (COLUMNS first, as Click does),
    at most 80, minus Click's margin of 2; never the 50 that Click's own floor is."""
    return max(20, min(shutil.get_terminal_size().columns, 80) - 2)


def split_examples(help_text: str) -> tuple[str, list[str]]:
    """(the help without its `Example:` paragraphs, the example commands)."""
    kept: list[str] = []
    examples: list[str] = []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        match = EXAMPLE.match(paragraph)
        if match is None:
            kept.append(paragraph)
            continue
        for line in paragraph[match.end() :].splitlines():
            line = line.strip()
            if examples and not line.startswith("fermentrack-backup"):
                examples[-1] += f" {line}"  # a continuation of the previous command
            elif line:
                examples.append(line)
    return "\n\n".join(kept), examples


class NarrowFormatter(click.HelpFormatter):
    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        if self.width < 70:
            col_max = min(col_max, max(8, self.width // 3))
        super().write_dl(rows, col_max, col_spacing)


class HelpContext(click.Context):
    formatter_class = NarrowFormatter


class HelpCommand(TyperCommand):
    """A command with plain metavars whose help ends with an unwrapped Examples section."""

    context_class = HelpContext

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [BRACED.sub(r"\1", piece) for piece in super().collect_usage_pieces(ctx)]

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        full = self.help
        self.help = split_examples(full)[0] if full else full
        try:
            super().format_help_text(ctx, formatter)
        finally:
            self.help = full

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        examples = split_examples(self.help)[1] if self.help else []
        if examples:
            formatter.write_paragraph()
            formatter.write_heading("Examples")
            indent = " " * (formatter.current_indent + 2)
            formatter.write("".join(f"{indent}{example}\n" for example in examples))
        super().format_epilog(ctx, formatter)
