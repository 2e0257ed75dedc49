"""The `doctor` bytecode check on real package folders: warned only when a folder has no
bytecode for this interpreter and cannot get it."""

from __future__ import annotations

import json
import py_compile
import sys
from pathlib import Path

import pytest

from fermentrack_backup_cli.core import bytecode
from tests.cli_helpers import run


def package(root: Path, compiled: bool) -> Path:
    folder = root / ("compiled" if compiled else "plain")
    folder.mkdir(parents=True)
    source = folder / "__init__.py"
    source.write_text("VALUE = 1\n")
    if compiled:  # as `uv tool install --compile-bytecode` leaves it
        py_compile.compile(str(source), cfile=str(_cached(source)), doraise=True)
    return folder


def _cached(source: Path) -> Path:
    return source.parent / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"


def test_a_read_only_package_without_bytecode_is_reported(tmp_path: Path) -> None:
    plain, compiled = package(tmp_path, False), package(tmp_path, True)
    plain.chmod(0o555)  # root ignores it, hence the injected writability below
    read_only = lambda p: False  # noqa: E731 (the check as a non-root cron user sees it)
    assert bytecode.uncompiled([plain, compiled], writable=read_only, dont_write=False) == [plain]


def test_pythondontwritebytecode_makes_a_writable_package_recompile_every_run(
    tmp_path: Path,
) -> None:
    plain, compiled = package(tmp_path, False), package(tmp_path, True)
    assert bytecode.uncompiled([plain, compiled], writable=lambda p: True, dont_write=True) == [
        plain
    ]


def test_a_writable_package_compiles_itself_on_its_first_run(tmp_path: Path) -> None:
    plain = package(tmp_path, False)
    assert bytecode.uncompiled([plain], writable=lambda p: True, dont_write=False) == []


def test_doctor_warns_with_the_fix_but_stays_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = package(tmp_path, False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(bytecode, "package_dir", lambda name: plain)
    human = run("doctor")
    assert "WARN: bytecode: plain" in human.stdout and "no compiled bytecode" in human.stdout
    assert "--compile-bytecode" in human.stdout
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["bytecode"]["ok"] is False and checks["bytecode"]["warning"] is True
    assert "--compile-bytecode" in checks["bytecode"]["fix"]


def test_doctor_passes_the_bytecode_check_for_compiled_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = package(tmp_path, True)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(bytecode, "package_dir", lambda name: compiled)
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["bytecode"] == {
        "check": "bytecode",
        "ok": True,
        "detail": checks["bytecode"]["detail"],
        "fix": None,
        "warning": True,
    }
