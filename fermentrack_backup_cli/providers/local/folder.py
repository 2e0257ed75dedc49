"""A local folder as a target: it must exist (a missing mount point means an unmounted
drive), be a writable directory, and, once linked, stay on the filesystem it was
linked on (device id and mount point, recorded by `link local`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ... import errors
from ...fsutil import blame, os_error
from ...units import human_size


def mount_point(folder: Path) -> str:
    """The top folder of the filesystem holding `folder` (its mount point)."""
    path = Path(os.path.realpath(folder))
    device = path.stat().st_dev
    while path.parent != path:
        try:
            if path.parent.stat().st_dev != device:
                break
        except OSError:  # an unreadable parent: as far as we can tell
            break
        path = path.parent
    return str(path)


def filesystem_of(folder: Path) -> tuple[int, str]:
    """What `link local` records: the folder's device id and its mount point."""
    with blame("read", folder):
        return folder.stat().st_dev, mount_point(folder)


def _check_filesystem(folder: Path, linked: tuple[int, str]) -> None:
    """Refuse a linked folder that is no longer on the filesystem it was linked on.

    A drive mounted again at the same mount point may get another device id (a USB
    stick plugged into another port): that is still the drive, so it passes."""
    device, linked_mount = linked
    with blame("read", folder):
        if folder.stat().st_dev == device:
            return
        now_mount = mount_point(folder)
    if now_mount == linked_mount:
        return
    raise errors.NotFound(
        f"{folder} is not on the filesystem it was linked on (mounted at {linked_mount}): "
        "is the USB stick or drive mounted?",
        "mount it, then run again; if the folder now lives on another disk for good, "
        f"record that with `fermentrack-backup link local {folder}`",
        code="target_not_mounted",
    )


def check_folder(folder: Path, linked: tuple[int, str] | None = None) -> Path:
    """The folder must exist, be a directory and be writable; a linked folder must
    also be on the filesystem (`linked`: device id, mount point) it was linked on."""
    folder = folder.expanduser()
    with blame("open", folder):  # a name too long, a folder we may not search
        return _check_folder(folder, linked)


def _check_folder(folder: Path, linked: tuple[int, str] | None) -> Path:
    if not folder.exists():
        raise errors.NotFound(
            f"target folder does not exist: {folder}",
            "mount the drive it lives on, or create it (`upload --mkdir` does)",
            code="target_missing",
        )
    if not folder.is_dir():
        raise errors.TargetError(
            f"target is not a folder: {folder}", "give a directory path", code="target_missing"
        )
    if linked is not None:
        _check_filesystem(folder, linked)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise errors.PermissionDenied(
            f"target folder is not writable: {folder}",
            "fix its permissions or remount the drive read-write",
        )
    return folder.absolute()


def need_space(folder: Path, name: str, need: int, written: int | None = None) -> None:
    """Raise InsufficientSpace (exit 8) unless `folder` has `need` bytes free. With
    `written`, the disk filled up during the copy (another writer): say so, and how far
    the copy got, in human units as the pre-check does."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        if written is None:
            raise os_error(exc, "read", folder) from None
        free = 0  # the copy's own error (no space) is the one to report
    if written is None and free >= need:
        return
    during = (
        ""
        if written is None
        else f" (the disk filled up during the copy, at {human_size(written)})"
    )
    raise errors.InsufficientSpace(
        f"not enough space in {folder} for {name}: need {human_size(need)}, "
        f"{human_size(free)} free{during}",
        "free some space (or run prune) or choose another target folder",
    )
