"""Connection references -> connections -> targets, through the registry; run locks.

A reference (`--to`) is a connection id, a unique id prefix, a label, a provider id
when exactly one connection of that provider is linked, or an ad-hoc reference a
provider claims by its prefix (`local:DIR`). Every target of one run shares one
deadline (the run's time budget counts from its start), and a refused token marks
its connection needs_relink through one handler (`on_refused`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import bandwidth, errors, providers
from ..bandwidth import Limiter
from ..config import Settings, parse_duration
from ..fsutil import FileLock
from ..models import Connection
from ..paths import AppDirs
from ..providers.base import NoResume, ResumeStore, Target
from ..providers.spec import Provider, TargetEnv, Transfer
from ..retry import RetryPolicy, WaitCallback
from ..store import Database

if TYPE_CHECKING:
    from ..auth.tokens import TokenStore


@dataclass(frozen=True)
class Opened:
    """A target, what history rows record for it, and the connection it belongs to."""

    target: Target
    target_id: str
    connection: Connection | None
    provider: Provider
    label: str  # how the user named it: the connection's label, or the ad-hoc reference


CHECK_SECONDS = 60.0  # a status, doctor or unlink call per connection ends within this


def check_policy() -> RetryPolicy:
    """For one quick call per connection (status, doctor, unlink): two attempts, and done
    within CHECK_SECONDS whatever the server does (a trickle, a Retry-After of an hour)."""
    return RetryPolicy.bounded(2, CHECK_SECONDS, f"the {CHECK_SECONDS:g}s limit of a check")


def provider_of(conn: Connection) -> providers.ProviderSpec:
    """The spec of the provider `conn` was linked with; a clear error naming the
    connection when this version does not know it."""
    if conn.provider not in providers.ids():
        raise errors.UnknownProvider(
            f"connection {conn.label!r} uses provider {conn.provider!r}, which this version "
            "of fermentrack-backup does not know",
            "upgrade fermentrack-backup, or forget the connection with "
            f"`fermentrack-backup unlink {conn.id[:8]}` (its history stays)",
        )
    return providers.get(conn.provider)


_ID_LIKE = re.compile(r"[0-9a-fA-F-]{4,}")


def shadowed_reference(label: str) -> str | None:
    """Why a label would hide another reference (`--to dropbox`, `--to local:DIR`, an id
    prefix), or None. New labels are refused for it; older ones are warned about."""
    if label in providers.ids():
        return f"it is the name of a provider (`--to {label}` names that provider's connection)"
    for spec in providers.specs():
        if spec.ref_prefix and label.startswith(spec.ref_prefix):
            return f"it starts like an ad-hoc target ({spec.ref_prefix}DIR)"
    if _ID_LIKE.fullmatch(label):
        return "it looks like a connection id (hex digits), which --to would also match"
    return None


def _candidates(conns: list[Connection]) -> str:
    return ", ".join(f"{c.label} ({c.id[:8]}, {c.provider})" for c in conns)


class Targets:
    def __init__(
        self,
        settings: Settings,
        dirs: AppDirs,
        db: Database,
        started: float,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.settings = settings
        self.dirs = dirs
        self.db = db
        self.started = started
        self._limiter: tuple[Limiter | None] | None = None
        self.on_wait = on_wait  # every wait of the run (retries, the lock) is shown through it

    # references -----------------------------------------------------------------

    def connections(self) -> list[Connection]:
        return self.db.connections.all()

    def resolve(self, ref: str | None) -> Connection:
        """A connection by id, unique id prefix or label; the default when ref is None."""
        conns = self.connections()
        if ref is None:
            return self._default(conns)
        exact = [c for c in conns if ref in (c.id, c.label)]
        if len(exact) == 1:
            return exact[0]
        if not exact and ref in providers.ids():
            # `--to dropbox` in a cron line: the one connection of that provider
            of_kind = [c for c in conns if c.provider == ref]
            if len(of_kind) == 1:
                return of_kind[0]
            if of_kind:
                raise errors.AmbiguousConnection(
                    f"{len(of_kind)} {ref} connections are linked",
                    "name one by label or id prefix; candidates: " + _candidates(of_kind),
                )
        matches = exact or [c for c in conns if c.id.startswith(ref.lower())]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise errors.ConnectionNotFound(
                f"no connection matches {ref!r}",
                "candidates: " + _candidates(conns) if conns else "link one with `link`",
            )
        raise errors.AmbiguousConnection(
            f"{ref!r} matches {len(matches)} connections",
            "use a longer id prefix; candidates: " + _candidates(matches),
        )

    def _default(self, conns: list[Connection]) -> Connection:
        ref = self.settings.get("default_connection")
        if ref is not None:
            return self.resolve(str(ref))
        if len(conns) == 1:
            return conns[0]
        if not conns:
            adhoc = [s.ref_prefix for s in providers.specs() if s.ref_prefix]
            ways = " or ".join(f"`{spec.link_command}`" for spec in providers.specs())
            raise errors.NotLinked(
                "no connection is linked",
                f"link one with {ways}" + (f", or pass --to {adhoc[0]}DIR" if adhoc else ""),
            )
        raise errors.AmbiguousConnection(
            f"{len(conns)} connections are linked and no default is set",
            "pass --to, or `fermentrack-backup config set default_connection LABEL`; "
            "candidates: " + _candidates(conns),
        )

    def history_id(self, ref: str | None) -> str | None:
        """What history rows record for `ref`, without opening it (None: names nothing)."""
        if ref is not None and (spec := providers.for_reference(ref)) is not None:
            return providers.load(spec.id).adhoc_id(ref)
        try:
            return self.resolve(ref).id
        except errors.BackupError:
            return None

    # targets ----------------------------------------------------------------------

    def retry_policy(self, max_duration: float | None = None) -> RetryPolicy:
        """The run's policy: its time budget counts from the start of the run, so every
        target of one run (an upload and its --prune) shares one deadline."""
        budget = None
        if max_duration is None:
            budget = str(self.settings.get("upload.max_duration"))
            max_duration = parse_duration(budget)
        attempts = int(self.settings.get("upload.max_attempts"))
        policy = RetryPolicy.for_duration(attempts, max_duration, budget=budget, start=self.started)
        return replace(policy, on_wait=self.on_wait)

    def token_store(self, conn: Connection | None = None) -> TokenStore:
        """The store of `conn`'s token (where it was linked), else the configured one."""
        kind = (conn.token_store if conn is not None else None) or self.settings.get("token_store")
        return self.token_store_of(str(kind))

    def token_store_of(self, kind: str) -> TokenStore:
        from ..auth.tokens import open_store  # deferred: keyring

        return open_store(kind, self.dirs.token_file)

    def limiter(self) -> Limiter | None:
        """The run's bandwidth limit (`upload.bwlimit`): one bucket for every target and
        request of the run, made once."""
        if self._limiter is None:
            self._limiter = (bandwidth.limiter(str(self.settings.get("upload.bwlimit"))),)
        return self._limiter[0]

    def env(self, conn: Connection | None, *, retry: RetryPolicy | None = None) -> TargetEnv:
        policy = retry or self.retry_policy()
        if policy.on_wait is None:
            policy = replace(policy, on_wait=self.on_wait)
        tokens: TokenStore | None = None
        resume: ResumeStore = NoResume()
        if conn is not None:
            conn_id = conn.id
            mark = self.db.connections.mark_needs_relink
            policy = replace(policy, on_refused=lambda: mark(conn_id))
            resume = self.db.sessions.for_connection(conn_id)
            if conn.token_store:
                tokens = self.token_store(conn)
        transfer = Transfer(
            chunk_size_mib=_auto_zero(self.settings.get("upload.chunk_size_mib")),
            parallel=_auto_zero(self.settings.get("upload.parallel")),
            memory_mib=int(self.settings.get("upload.memory_mib")),
            bwlimit=self.limiter(),
        )
        return TargetEnv(self.settings, policy, tokens, resume, transfer)

    def open(self, ref: str | None, *, mkdir: bool = False) -> Opened:
        """The target `--to REF` names (the default connection when None)."""
        if ref is not None and (spec := providers.for_reference(ref)) is not None:
            provider = providers.load(spec.id)
            target, target_id = provider.open_adhoc(ref, self.env(None), mkdir=mkdir)
            return Opened(target, target_id, None, provider, ref)
        return self.open_connection(self.resolve(ref))

    def open_connection(self, conn: Connection, *, retry: RetryPolicy | None = None) -> Opened:
        provider = providers.load(provider_of(conn).id)
        target = provider.open(conn, self.env(conn, retry=retry))
        return Opened(target, conn.id, conn, provider, conn.label)

    def lock(self, opened: Opened, timeout: float) -> FileLock:
        """The per-target run lock: one storage is one lock however it was named (a
        linked folder, `local:DIR`, a path through a symlink); the lock file names the
        run's label so a waiting run can say whom it waits for."""
        target = opened.target
        key = target.lock_key
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return FileLock(
            self.dirs.lock_dir / f"{digest}.lock",
            timeout,
            target.description,
            label=opened.label,
            on_wait=self.on_wait,
        )


def _auto_zero(value: object) -> int:
    """A setting that may be "auto": 0 stands for auto in `Transfer`."""
    return 0 if value == "auto" else int(str(value))
