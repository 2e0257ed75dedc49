"""The local-folder provider: a USB stick, NAS mount or second disk (see `target`).

Registers as `local`; `--to local:DIR` names an ad-hoc folder with no linking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec import ProviderSpec

if TYPE_CHECKING:
    from .provider import LocalProvider

SPEC = ProviderSpec(
    id="local",
    display_name="Local folder",
    module=__name__,
    link="folder",
    ref_prefix="local:",
)


def make_provider() -> LocalProvider:
    from .provider import LocalProvider

    return LocalProvider(SPEC)
