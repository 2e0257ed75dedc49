"""A provider's factory survives the import of its package's submodules: a factory named
like a submodule (`provider()` beside `provider.py`) is replaced by the module on import."""

from __future__ import annotations

import importlib

from fermentrack_backup_cli import providers


def test_every_factory_is_callable_after_its_submodules_are_imported() -> None:
    for spec in providers.specs():
        package = importlib.import_module(spec.module)
        first = package.make_provider()
        importlib.import_module(f"{spec.module}.provider")  # what the factory imports
        again = package.make_provider()
        assert type(first) is type(again)
