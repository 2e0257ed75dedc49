"""The provider registry: provider id -> spec, and a lazy factory for the provider.

Every provider registers the same way: its package exposes `SPEC` (cheap: no SDK,
no I/O) and `make_provider()`, which imports the rest on first use. Importing this
module imports only the specs, so `--help`, `providers` and offline commands never
load an SDK. Core and CLI code ask the registry (`specs`, `get`, `load`,
`for_reference`) and never name a provider.

Adding a provider: a package here with `SPEC` and `make_provider()`, an entry in
`_PACKAGES`, and passing tests/test_contract.py (the suite every provider passes).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import cast

from .. import errors
from .dropbox import SPEC as _DROPBOX
from .local import SPEC as _LOCAL
from .spec import Provider, ProviderSpec

_PACKAGES: tuple[ProviderSpec, ...] = (_DROPBOX, _LOCAL)


def specs() -> tuple[ProviderSpec, ...]:
    return _PACKAGES


def ids() -> list[str]:
    return [spec.id for spec in _PACKAGES]


def get(provider_id: str) -> ProviderSpec:
    for spec in _PACKAGES:
        if spec.id == provider_id:
            return spec
    raise errors.UsageError(
        f"unknown provider {provider_id!r}", "known providers: " + ", ".join(ids())
    )


@cache
def load(provider_id: str) -> Provider:
    """The provider, built on first use (this is where an SDK may get imported)."""
    spec = get(provider_id)
    module = importlib.import_module(spec.module)
    return cast(Provider, module.make_provider())


def for_reference(ref: str) -> ProviderSpec | None:
    """The provider whose ad-hoc prefix `ref` starts with (`local:DIR`), if any."""
    for spec in _PACKAGES:
        if spec.ref_prefix and ref.startswith(spec.ref_prefix):
            return spec
    return None


__all__ = ["Provider", "ProviderSpec", "for_reference", "get", "ids", "load", "specs"]
