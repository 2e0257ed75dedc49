"""What a provider declares and offers: its spec (for the registry) and the Provider API.

A provider package exposes `SPEC` (a `ProviderSpec`: id, name, config keys, how it
links, an ad-hoc reference prefix) at no import cost, and a `make_provider()` factory
that imports the rest. Core code talks to a `Provider` only through the methods
below and to its targets through `providers.base.Target`; it never names one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import errors
from ..bandwidth import Limiter
from ..config import Key, Settings
from ..models import Account, Connection, ProviderInfo, TokenGrant
from ..retry import RetryPolicy
from .base import NoResume, ResumeStore, Target

if TYPE_CHECKING:
    from ..auth.tokens import TokenStore

LinkKind = Literal["folder", "oauth"]


@dataclass(frozen=True)
class ProviderSpec:
    """A provider as the registry knows it before anything heavy is imported."""

    id: str
    display_name: str
    module: str  # the package whose `make_provider()` builds the Provider (not `provider()`:
    # importing the package's `provider` submodule would replace such a function)
    link: LinkKind  # `link ID PATH` (folder) or the OAuth flow (oauth)
    config_keys: tuple[Key, ...] = ()
    ref_prefix: str | None = None  # `--to PREFIX...` names an ad-hoc target ("local:")
    uses_tokens: bool = False  # its connections keep a refresh token in the token store
    # checking or listing a connection talks to a server: not under --offline, and not
    # from shell completion (a provider without it lists its files with no network or SDK)
    network: bool = False
    # the import packages it needs at run time (doctor checks they have bytecode)
    runtime_packages: tuple[str, ...] = ()
    status_url: str | None = None  # where the service reports outages (a give-up's hint)

    @property
    def link_command(self) -> str:
        """How a user links one: `fermentrack-backup link local DIR`."""
        folder = " DIR" if self.link == "folder" else ""
        return f"fermentrack-backup link {self.id}{folder}"


@dataclass(frozen=True)
class Transfer:
    """How to move bytes, as plain values from the settings and the command line."""

    chunk_size_mib: int = 8  # 0: auto (from memory_mib)
    parallel: int = 1  # 0: auto (measured, within memory_mib)
    memory_mib: int = 24
    # the run's bandwidth limit, one bucket shared by every request of the run (None: off)
    bwlimit: Limiter | None = None


@dataclass
class TargetEnv:
    """Everything a provider may use to open a target: plain values and small objects.

    `retry` carries the run's deadline and the `on_refused` callback (the provider
    refused the connection's token: core marks it needs_relink); `tokens` is the
    store holding this connection's refresh token; `resume` keeps the records of
    resumable uploads for this connection."""

    settings: Settings
    retry: RetryPolicy
    tokens: TokenStore | None = None
    resume: ResumeStore = field(default_factory=NoResume)
    transfer: Transfer = field(default_factory=Transfer)

    @property
    def remote_folder(self) -> str:
        return str(self.settings.get("remote_folder"))


@dataclass(frozen=True)
class FolderLink:
    """What a folder provider records when a folder is linked."""

    location: str
    device: int | None = None
    mount_point: str | None = None


@dataclass(frozen=True)
class SetupCheck:
    """One `doctor` line about a provider's own setup."""

    ok: bool
    detail: str
    fix: str | None = None


class OAuthClient(Protocol):
    """The provider's side of the OAuth authorization-code flow (core.link drives it)."""

    def authorize_url(
        self, *, redirect_uri: str | None, state: str, code_challenge: str
    ) -> str: ...

    def exchange(
        self, code: str, *, redirect_uri: str | None, code_verifier: str
    ) -> TokenGrant: ...

    def account(self, refresh_token: str) -> Account: ...

    def revoke(self, refresh_token: str) -> None: ...


class Provider:
    """A provider's behaviour; subclasses override what applies to them."""

    spec: ProviderSpec

    def availability(self, settings: Settings) -> ProviderInfo:
        return ProviderInfo(self.spec.id, self.spec.display_name, True)

    def setup_check(self, settings: Settings) -> SetupCheck | None:
        """A `doctor` line about this provider's own setup, if it has one."""
        return None

    def open(self, conn: Connection, env: TargetEnv) -> Target:
        raise NotImplementedError

    def open_adhoc(self, ref: str, env: TargetEnv, *, mkdir: bool = False) -> tuple[Target, str]:
        """The target an ad-hoc reference (`spec.ref_prefix` + text) names, and the id
        history rows record for it."""
        raise errors.UsageError(
            f"{self.spec.display_name} has no ad-hoc targets",
            "link a connection (`fermentrack-backup link`) and pass its label to --to",
        )

    def adhoc_id(self, ref: str) -> str:
        """The history id of an ad-hoc reference, without touching the target."""
        return ref

    def link_folder(self, path: Path) -> FolderLink:
        raise errors.UsageError(
            f"{self.spec.display_name} does not link folders",
            "see `fermentrack-backup providers` for how each provider links",
        )

    def oauth(self, settings: Settings) -> OAuthClient:
        raise errors.UsageError(
            f"{self.spec.display_name} does not link with OAuth",
            "see `fermentrack-backup providers` for how each provider links",
        )

    def check(self, target: Target) -> dict[str, Any]:
        """Provider-specific health for `status` (the token refreshes, the account)."""
        return {}

    def probe(self, target: Target) -> str:
        """A cheap proof for `doctor` that the connection works; the detail line."""
        return f"{target.description} is usable"

    def forget(self, conn: Connection, env: TargetEnv) -> list[str]:
        """Before a connection is removed: revoke and delete what it holds; warnings."""
        return []


def config_keys(specs: Iterable[ProviderSpec]) -> list[Key]:
    return [key for spec in specs for key in spec.config_keys]
