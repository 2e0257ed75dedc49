"""The settings of a run: the tool's own keys plus every provider's, and loading them."""

from __future__ import annotations

from .. import providers
from ..config import CORE_KEYS, Keys, Settings
from ..paths import config_file_path
from ..providers.spec import config_keys


def all_keys() -> Keys:
    """The settings keys: the tool's own and every provider's."""
    return Keys([*CORE_KEYS, *config_keys(providers.specs())])


def load_settings(config: str | None = None) -> Settings:
    return Settings.load(config_file_path(config), all_keys())
