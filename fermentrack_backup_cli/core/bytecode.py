"""The `doctor` bytecode check: installed packages without compiled bytecode that this
user cannot compile (a read-only install, or PYTHONDONTWRITEBYTECODE) recompile on
every run: `import dropbox` then costs ~4x the time and ~4x the memory (README).

Packages are found without importing them (`importlib.util.find_spec`); the provider
specs name their own runtime packages, so nothing here names a provider.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

FIX = (
    "reinstall with compiled bytecode: `uv tool install --compile-bytecode --force .` "
    "(or pipx), or run once as the owner of the install without PYTHONDONTWRITEBYTECODE"
)


def package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def has_bytecode(folder: Path, tag: str | None = None) -> bool:
    """Whether `folder/__init__.py` has bytecode for this interpreter in __pycache__."""
    tag = tag or sys.implementation.cache_tag
    return (folder / "__pycache__" / f"__init__.{tag}.pyc").is_file()


def uncompiled(
    folders: Iterable[Path],
    *,
    writable: Callable[[Path], bool] = lambda p: os.access(p, os.W_OK),
    dont_write: bool | None = None,
) -> list[Path]:
    """The folders that lack bytecode and will not get it: read-only for this user, or
    PYTHONDONTWRITEBYTECODE is set."""
    if dont_write is None:
        dont_write = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) or sys.dont_write_bytecode
    return [
        folder
        for folder in folders
        if not has_bytecode(folder) and (dont_write or not writable(folder))
    ]


def check(packages: Iterable[str]) -> tuple[bool, str]:
    """(ok, detail) for the packages that exist here."""
    folders = [d for d in map(package_dir, packages) if d is not None]
    missing = uncompiled(folders)
    if not missing:
        return True, f"{len(folders)} package(s) have or can write compiled bytecode"
    names = ", ".join(folder.name for folder in missing)
    return False, f"{names} have no compiled bytecode and cannot get it: every run recompiles"
