"""The local-folder provider: ad-hoc `local:DIR` targets and linked folders."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from ... import errors
from ...fsutil import blame
from ...models import Connection
from ..base import Target
from ..spec import FolderLink, Provider, ProviderSpec, TargetEnv
from .folder import check_folder, filesystem_of
from .target import LocalTarget


class LocalProvider(Provider):
    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.prefix = spec.ref_prefix or ""

    def open(self, conn: Connection, env: TargetEnv) -> LocalTarget:
        if not conn.location:
            raise errors.UsageError(
                f"connection {conn.label} names no folder",
                f"link it again: `fermentrack-backup link local FOLDER --label {conn.label}`",
            )
        folder = check_folder(Path(conn.location), conn.filesystem)
        return LocalTarget(
            folder, env.remote_folder, self.spec.id, env.retry.deadline, env.transfer.bwlimit
        )

    def _folder(self, ref: str) -> Path:
        text = ref.removeprefix(self.prefix)
        if not text.strip():
            raise errors.UsageError(
                f"--to {ref!r} names no folder",
                f"give one: --to {self.prefix}/mnt/usb ({self.prefix}. for the current folder)",
            )
        return Path(text).expanduser()

    def open_adhoc(
        self, ref: str, env: TargetEnv, *, mkdir: bool = False
    ) -> tuple[LocalTarget, str]:
        """`local:DIR` must name an existing folder: a missing one is usually the mount
        point of a drive that is not mounted, and creating it would fill the SD card.
        `mkdir` (`upload --mkdir`) creates it, parents too."""
        folder = self._folder(ref)
        if mkdir:
            with blame("create", folder):
                if not folder.is_dir():
                    folder.mkdir(mode=0o755, parents=True, exist_ok=True)  # runs may race
        folder = check_folder(folder)
        target = LocalTarget(
            folder, env.remote_folder, self.spec.id, env.retry.deadline, env.transfer.bwlimit
        )
        return target, f"{self.prefix}{folder}"

    def adhoc_id(self, ref: str) -> str:
        return f"{self.prefix}{self._folder(ref).absolute()}"

    def link_folder(self, path: Path) -> FolderLink:
        folder = check_folder(path)
        device, mount = filesystem_of(folder)
        return FolderLink(str(folder), device, mount)

    def probe(self, target: Target) -> str:
        return f"{cast(LocalTarget, target).root} is usable"
