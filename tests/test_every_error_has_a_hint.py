"""Every error the code can raise says what to do next (issue 10).

Two walks: every `BackupError` subclass (recursively, after importing every module), and
statically (`ast`) every place in fermentrack_backup_cli that constructs one. Each
construction must pass a hint (a second positional argument or `hint=`) that is neither
missing, None nor empty; each class must be constructed somewhere, so none is left out of
the walk. Internal signals the user never sees are listed below with the reason."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import fermentrack_backup_cli
from fermentrack_backup_cli import errors

PACKAGE = Path(fermentrack_backup_cli.__file__).resolve().parent

INTERNAL = {
    "IncorrectOffset": "an upload session's offset correction: the engine resends from the "
    "offset the server holds and never shows it (a message and no hint, by its constructor)",
}
"""Classes built without a hint on purpose, and why no user ever sees one."""

NOT_RAISED_DIRECTLY = {
    "BackupError": "the base; raised directly too, but also the catch-all",
    "AuthError": "a base of the auth errors",
}
"""Classes that may have no construction site of their own."""


COLLECT = """
import importlib, json, pkgutil, sys
import fermentrack_backup_cli
from fermentrack_backup_cli import errors
for info in pkgutil.walk_packages(fermentrack_backup_cli.__path__, "fermentrack_backup_cli."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
def walk(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from walk(sub)
found = {errors.BackupError, *walk(errors.BackupError)}
json.dump(sorted(c.__name__ for c in found if c.__module__.startswith("fermentrack_backup_cli")),
          sys.stdout)
"""
"""Run apart: importing every module (the SDK, a provider package's submodules shadowing
its lazy factory names) must not change the modules this test process shares."""


@functools.cache
def error_classes() -> frozenset[str]:
    """Every BackupError subclass (recursively), after importing every module."""
    done = subprocess.run(
        [sys.executable, "-c", COLLECT], capture_output=True, text=True, check=True, timeout=120
    )
    return frozenset(json.loads(done.stdout))


@dataclass(frozen=True)
class Site:
    where: str
    name: str
    hint: ast.expr | None

    def hinted(self) -> bool:
        if self.hint is None:
            return False
        if isinstance(self.hint, ast.Constant):
            return isinstance(self.hint.value, str) and bool(self.hint.value.strip())
        return True  # an f-string, a constant's name, a variable: not None by its look


def _named(node: ast.expr) -> str | None:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _aliases(tree: ast.Module, names: set[str]) -> dict[str, set[str]]:
    """`error = errors.A if ... else errors.B`: a call of `error` constructs A or B."""
    aliases: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and not isinstance(node.value, ast.Call):
                found = {_named(n) for n in ast.walk(node.value)} & names
                if found:
                    aliases[target.id] = {str(n) for n in found}
    return aliases


def construction_sites(names: set[str]) -> list[Site]:
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = _aliases(tree, names)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _named(node.func)
            built = {name} & names if name not in aliases else aliases[name]
            keywords = {k.arg: k.value for k in node.keywords}
            hint = node.args[1] if len(node.args) > 1 else keywords.get("hint")
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            sites.extend(Site(where, cls, hint) for cls in sorted(built))
    return sites


def test_the_walk_finds_the_errors_it_should() -> None:
    classes = error_classes()
    assert {"NotFound", "Cancelled", "MaxDurationExceeded", "InsecureTokenFile"} <= set(classes)
    sites = construction_sites(set(classes))
    assert len(sites) > 100  # the code raises many; a walk that finds few is broken
    assert any(s.name == "NotFound" and s.hinted() for s in sites)


def test_every_construction_of_an_error_has_a_hint() -> None:
    classes = error_classes()
    missing = [
        f"{s.where}: {s.name}(...) without a hint"
        for s in construction_sites(set(classes))
        if not s.hinted() and s.name not in INTERNAL
    ]
    assert missing == []


def test_every_error_class_is_constructed_somewhere_or_listed() -> None:
    classes = error_classes()
    constructed = {s.name for s in construction_sites(set(classes))}
    unused = set(classes) - constructed - set(NOT_RAISED_DIRECTLY) - set(INTERNAL)
    assert unused == set()


def test_internal_signals_are_still_errors_with_a_message() -> None:
    offset = errors.IncorrectOffset(4 * 1024 * 1024)
    assert offset.message and offset.correct_offset == 4 * 1024 * 1024
    assert set(INTERNAL) <= set(error_classes())
