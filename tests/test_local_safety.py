"""Issue 8, items 4 and 5: safe temp and partial files, local copies that notice a
vanished source, one lock per real folder, and local targets that are never created
by accident nor used while their drive is not mounted."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.core.download import part_path
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.fsutil import TEMP_NAME, atomic_write, create_new, create_temp, os_error
from fermentrack_backup_cli.providers.base import SourceFile
from fermentrack_backup_cli.providers.local.target import LocalTarget
from tests.cli_helpers import EXE, cli, history, lock_for, run, run_json
from tests.samples import SAMPLE

MIB = 1024 * 1024
FOLDER = DEFAULT_REMOTE_FOLDER.strip("/")


def long_name(nbytes: int) -> str:
    """A backup name of exactly `nbytes` bytes."""
    stem = "2026-11-27T03.00.00-"
    return stem + "x" * (nbytes - len(stem) - len(".tar.xz")) + ".tar.xz"


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`path` refuses every change, even root's (chattr +i)."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr to make a file refuse changes")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("this filesystem does not support chattr +i")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Nothing can be created in `folder`: chmod for a user, chattr +i for root."""
    if os.geteuid() == 0:
        with immutable(folder):
            yield
        return
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(mode)


# ------------------------------------------------------------- safe file creation


def test_create_new_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    planted = tmp_path / "planted.part"
    planted.symlink_to(victim)
    dangling = tmp_path / "dangling.part"
    dangling.symlink_to(tmp_path / "would-be-created")
    for path in (planted, dangling):
        with pytest.raises(FileExistsError):
            create_new(path)
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "would-be-created").exists()


def test_temp_files_are_private_and_named_to_fit_whatever_the_name(tmp_path: Path) -> None:
    fd, tmp = create_temp(tmp_path, "y" * 255, ".part")
    os.close(fd)
    assert TEMP_NAME.match(tmp.name)
    assert len(tmp.name.encode()) < 64
    assert tmp.stat().st_mode & 0o777 == 0o600


def test_atomic_write_works_for_a_255_byte_file_name(tmp_path: Path) -> None:
    path = tmp_path / ("c" * 255)
    atomic_write(path, b"data", mode=0o640)
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("nbytes", [249, 255])
def test_a_long_archive_name_uploads_and_downloads(tmp_path: Path, nbytes: int) -> None:
    archive = tmp_path / "src" / long_name(nbytes)
    archive.parent.mkdir()
    archive.write_bytes(SAMPLE.read_bytes())
    dest = tmp_path / "usb"
    dest.mkdir()
    up = run("upload", str(archive), "--to", f"local:{dest}")
    assert up.exit_code == 0, up.output
    assert (dest / FOLDER / archive.name).read_bytes() == archive.read_bytes()
    out = tmp_path / "restore"
    down = run("download", archive.name, "--to", f"local:{dest}", "-o", str(out))
    assert down.exit_code == 0, down.output
    assert (out / archive.name).read_bytes() == archive.read_bytes()
    assert [p.name for p in out.iterdir()] == [archive.name]


def test_a_name_too_long_for_the_filesystem_is_a_clear_usage_error(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    exc = os_error(OSError(errno.ENAMETOOLONG, "File name too long"), "create", "/x")
    assert (exc.code, exc.exit_code) == ("name_too_long", ExitCode.USAGE)
    deep = tmp_path / ("d" * 300)
    result = cli("upload", str(SAMPLE), "--to", f"local:{deep}", "--mkdir", env=subprocess_env)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "too long" in result.stderr
    assert "hint:" in result.stderr
    assert "unexpected" not in result.stderr


# ------------------------------------------------------------- download partials


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Path]:
    """A backup stored in a local target folder: (`--to` value, the archive)."""
    dest = tmp_path / "usb"
    (dest / FOLDER).mkdir(parents=True)
    shutil.copyfile(SAMPLE, dest / FOLDER / SAMPLE.name)
    return f"local:{dest}", SAMPLE


def test_download_refuses_a_symlinked_partial_and_leaves_its_target_untouched(
    subprocess_env: dict[str, str], stored: tuple[str, Path], tmp_path: Path
) -> None:
    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    victim = out / "victim.txt"
    victim.write_bytes(b"precious")
    part_path(out / archive.name).symlink_to(victim)
    result = cli("download", archive.name, "--to", to, "-o", str(out), env=subprocess_env)
    assert result.returncode == ExitCode.FAILURE
    assert "symbolic link" in result.stderr
    assert "hint:" in result.stderr
    assert victim.read_bytes() == b"precious"
    assert not (out / archive.name).exists()


def test_download_refuses_a_dangling_symlinked_partial_and_creates_nothing(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    part_path(out / archive.name).symlink_to(out / "created-through-the-link")
    result = run("download", archive.name, "--to", to, "-o", str(out))
    assert result.exit_code == ExitCode.FAILURE
    assert not (out / "created-through-the-link").exists()
    assert not (out / archive.name).exists()


def test_download_refuses_a_partial_hard_linked_to_another_file(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    victim = out / "victim.txt"
    victim.write_bytes(b"precious")
    os.link(victim, part_path(out / archive.name))
    result = run("download", archive.name, "--to", to, "-o", str(out))
    assert result.exit_code == ExitCode.FAILURE
    assert "hard link" in result.stderr
    assert victim.read_bytes() == b"precious"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_download_refuses_a_partial_owned_by_another_user(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    part = part_path(out / archive.name)
    part.write_bytes(archive.read_bytes()[:100])
    os.chown(part, 65534, 65534)
    result = run("download", archive.name, "--to", to, "-o", str(out))
    assert result.exit_code == ExitCode.FAILURE
    assert "another user" in result.stderr
    assert part.read_bytes() == archive.read_bytes()[:100]


def test_a_new_download_partial_is_private(stored: tuple[str, Path], tmp_path: Path) -> None:
    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    part = part_path(out / archive.name)
    part.write_bytes(b"\x00" * 10)  # not a prefix: dropped, the download starts over
    part.chmod(0o644)
    result = run_json("download", archive.name, "--to", to, "-o", str(out))
    assert result["resumed_from"] is None
    assert (out / archive.name).read_bytes() == archive.read_bytes()
    assert not part.exists()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the name is free again
    os.close(fd)


# ---------------------------------------------------------- stale upload temp files


def _leave_a_killed_copy(env: dict[str, str], root: Path, tmp_path: Path) -> Path:
    """Run a real local copy in a subprocess and SIGKILL it after its first block."""
    big = tmp_path / "big.tar.xz"
    big.write_bytes(os.urandom(9 * MIB))
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from fermentrack_backup_cli.providers.base import SourceFile
        from fermentrack_backup_cli.providers.local.target import LocalTarget

        target = LocalTarget(Path({str(root)!r}), {DEFAULT_REMOTE_FOLDER!r}, "local")
        source = SourceFile.from_path(Path({str(big)!r}))
        target.upload(source, overwrite=False, progress=lambda n: os.kill(os.getpid(), 9))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL
    (left,) = (root / FOLDER).iterdir()
    assert TEMP_NAME.match(left.name)
    return left


def test_the_next_upload_removes_temp_files_a_killed_copy_left(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    killed = _leave_a_killed_copy(subprocess_env, root, tmp_path)
    folder = root / FOLDER
    # and one left by the previous version, named by tempfile.mkstemp
    fd, legacy = tempfile.mkstemp(prefix=f".{SAMPLE.name}.", suffix=".part", dir=folder)
    os.close(fd)
    others = [".notes.part", "keep.part", ".fbk-notes.part", f".fbk-{'0' * 16}.part"]
    for name in others:
        (folder / name).write_bytes(b"not ours to remove")
    with lock_for(f"local:{root}"):  # a run holding the lock may be writing them
        locked = cli(
            "upload",
            str(SAMPLE),
            "--to",
            f"local:{root}",
            "--lock-timeout",
            "0",
            env=subprocess_env,
        )
    assert locked.returncode == ExitCode.LOCKED
    assert killed.exists() and Path(legacy).exists()

    result = cli("upload", str(SAMPLE), "--to", f"local:{root}", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted([*others, SAMPLE.name])


# ------------------------------------------------------------ source identity


def _target(tmp_path: Path) -> LocalTarget:
    (tmp_path / "usb").mkdir()
    return LocalTarget(tmp_path / "usb", DEFAULT_REMOTE_FOLDER, "local")


def test_a_source_deleted_mid_copy_is_not_committed(tmp_path: Path) -> None:
    src = tmp_path / "a.tar.xz"
    src.write_bytes(os.urandom(9 * MIB))
    target = _target(tmp_path)

    def delete(_: int) -> None:
        src.unlink(missing_ok=True)

    with pytest.raises(errors.SourceChanged, match="vanished"):
        target.upload(SourceFile.from_path(src), overwrite=False, progress=delete)
    assert list(target.folder.iterdir()) == []


def test_a_source_replaced_mid_copy_by_a_same_size_same_mtime_file_is_not_committed(
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.tar.xz"
    src.write_bytes(os.urandom(9 * MIB))
    target = _target(tmp_path)
    source = SourceFile.from_path(src)

    def replace(_: int) -> None:
        if not (tmp_path / "done").exists():
            other = tmp_path / "other"
            other.write_bytes(os.urandom(9 * MIB))
            os.utime(other, ns=(source.mtime_ns, source.mtime_ns))
            other.replace(src)
            (tmp_path / "done").touch()

    with pytest.raises(errors.SourceChanged, match="replaced"):
        target.upload(source, overwrite=False, progress=replace)
    assert list(target.folder.iterdir()) == []


def test_a_source_deleted_mid_copy_is_recorded_as_a_failed_upload(tmp_path: Path) -> None:
    from fermentrack_backup_cli.core.upload import UploadOptions, upload
    from tests.cli_helpers import QuietReporter

    src = tmp_path / "a.tar.xz"
    src.write_bytes(os.urandom(5 * MIB))
    dest = tmp_path / "usb"
    dest.mkdir()

    class Deleting(QuietReporter):
        def advance(self, nbytes: int) -> None:
            src.unlink(missing_ok=True)

    app = Context.create()
    try:
        (result,) = upload(
            app.targets, app.db, [src], f"local:{dest}", UploadOptions(check=False), Deleting()
        )
    finally:
        app.close()
    assert (result.status, result.error_code) == ("failed", "source_changed")
    assert (history()[0].status, history()[0].error_code) == ("failed", "source_changed")
    assert list((dest / FOLDER).iterdir()) == []


# ------------------------------------------------------------------------ locks


def test_the_same_folder_through_a_symlink_takes_the_same_lock(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    real = tmp_path / "usb"
    real.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    assert lock_for(f"local:{alias}").path == lock_for(f"local:{real}").path
    with lock_for(f"local:{real}"):
        result = cli(
            "upload", str(SAMPLE), "--to", f"local:{alias}", "--lock-timeout", "0.5",
            env=subprocess_env,
        )  # fmt: skip
    assert result.returncode == ExitCode.LOCKED
    assert str(real) in result.stderr


# ------------------------------------------------- local targets are not created


def test_upload_to_a_missing_local_folder_creates_nothing(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "usb"  # its parent exists: an unmounted stick's mount point
    result = cli("upload", str(SAMPLE), "--to", f"local:{missing}", env=subprocess_env)
    assert result.returncode == ExitCode.NOT_FOUND
    assert "does not exist" in result.stderr
    assert "--mkdir" in result.stderr
    assert not missing.exists()
    (row,) = history()
    assert (row.connection_id, row.status, row.error_code) == (
        f"local:{missing}",
        "failed",
        "target_missing",
    )


def test_upload_mkdir_creates_the_folder_and_its_parents(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    deep = tmp_path / "a" / "b" / "c"
    result = cli("upload", str(SAMPLE), "--to", f"local:{deep}", "--mkdir", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert (deep / FOLDER / SAMPLE.name).read_bytes() == SAMPLE.read_bytes()


@pytest.mark.parametrize(
    "argv",
    [
        ("upload", str(SAMPLE), "--to", "local:"),
        ("upload", str(SAMPLE), "--to", "local:", "--mkdir"),
        ("remote", "ls", "--to", "local:"),
        ("download", SAMPLE.name, "--to", "local:"),
    ],
)
def test_an_empty_local_target_is_a_usage_error(
    subprocess_env: dict[str, str], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = subprocess.run(
        [EXE, *argv], env=subprocess_env, cwd=cwd, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "names no folder" in result.stderr
    assert "hint: give one: --to local:" in result.stderr
    assert list(cwd.iterdir()) == []


# ----------------------------------------------------------- destination errors


def test_an_unwritable_target_folder_blames_the_destination_not_the_archive(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "usb"
    (dest / FOLDER).mkdir(parents=True)
    with unwritable(dest / FOLDER):
        result = run("upload", str(SAMPLE), "--to", f"local:{dest}")
    assert result.exit_code == ExitCode.FAILURE
    assert "permission denied" in result.stderr
    assert str(dest / FOLDER) in result.stderr
    assert "cannot read" not in result.stderr
    assert str(SAMPLE) not in result.stderr
    row = history()[0]
    assert row.error_code == "permission_denied"
    assert "read" not in (row.error_message or "")
    assert list((dest / FOLDER).iterdir()) == []


def test_a_refused_rename_blames_the_stored_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "usb"
    (dest / FOLDER).mkdir(parents=True)
    stored = dest / FOLDER / SAMPLE.name
    stored.write_bytes(b"an older, different copy")
    with immutable(stored):
        result = run("upload", str(SAMPLE), "--to", f"local:{dest}", "--overwrite")
        assert [p.name for p in (dest / FOLDER).iterdir()] == [SAMPLE.name]
    assert result.exit_code == ExitCode.FAILURE
    assert f"permission denied: cannot write {stored}" in result.stderr
    assert "cannot read" not in result.stderr
    assert stored.read_bytes() == b"an older, different copy"


# ---------------------------------------------- a linked folder's filesystem


@pytest.fixture
def stick(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem (tmpfs), standing in for a mounted USB stick."""
    base = Path("/dev/shm")
    if not base.is_dir() or base.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    folder = Path(tempfile.mkdtemp(dir=base, prefix="fbk-test-stick-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _link_stick(env: dict[str, str], tmp_path: Path, stick: Path) -> Path:
    """`/mnt/usb` as the stick's mount point: here a symlink onto the stick."""
    mount = tmp_path / "usb"
    mount.symlink_to(stick)
    linked = cli("link", "local", str(mount), "--label", "usb", env=env)
    assert linked.returncode == 0, linked.stderr
    assert cli("upload", str(SAMPLE), "--to", "usb", env=env).returncode == 0
    return mount


def _unmount(mount: Path) -> None:
    """What is left when the stick is not mounted: an empty folder on the SD card."""
    mount.unlink()
    mount.mkdir()


def test_link_local_records_the_folders_filesystem(
    subprocess_env: dict[str, str], tmp_path: Path, stick: Path
) -> None:
    _link_stick(subprocess_env, tmp_path, stick)
    (conn,) = run_json("connections")["connections"]
    assert conn["device"] == stick.stat().st_dev
    assert conn["mount_point"] == "/dev/shm"


@pytest.mark.parametrize(
    "argv",
    [
        ("upload", str(SAMPLE), "--to", "usb"),
        ("verify", str(SAMPLE), "--to", "usb"),
        ("prune", "--to", "usb", "--keep-last", "1"),
        ("remote", "ls", "--to", "usb"),
        ("download", SAMPLE.name, "--to", "usb", "-o", "{out}"),
    ],
)
def test_a_linked_folder_whose_drive_is_not_mounted_is_refused(
    subprocess_env: dict[str, str], tmp_path: Path, stick: Path, argv: tuple[str, ...]
) -> None:
    mount = _link_stick(subprocess_env, tmp_path, stick)
    _unmount(mount)
    args = [a.format(out=tmp_path / "restore") for a in argv]
    result = cli(*args, env=subprocess_env)
    assert result.returncode == ExitCode.NOT_FOUND, result.stderr
    assert f"{mount} is not on the filesystem it was linked on" in result.stderr
    assert "is the USB stick or drive mounted?" in result.stderr
    assert "hint: mount it, then run again" in result.stderr
    assert list(mount.iterdir()) == []  # nothing went to the SD card
    assert not (tmp_path / "restore").exists()
    if argv[0] == "upload":
        assert history()[0].error_code == "target_not_mounted"


def test_status_and_doctor_report_a_linked_drive_that_is_not_mounted(
    subprocess_env: dict[str, str], tmp_path: Path, stick: Path
) -> None:
    mount = _link_stick(subprocess_env, tmp_path, stick)
    _unmount(mount)
    status = cli("status", env=subprocess_env)
    assert status.returncode == ExitCode.UNHEALTHY
    assert "not on the filesystem it was linked on" in status.stdout + status.stderr
    doctor = cli("doctor", env=subprocess_env)
    assert doctor.returncode == ExitCode.UNHEALTHY
    assert "not on the filesystem it was linked on" in doctor.stdout + doctor.stderr


def test_linking_the_folder_again_records_where_it_lives_now(
    subprocess_env: dict[str, str], tmp_path: Path, stick: Path
) -> None:
    mount = _link_stick(subprocess_env, tmp_path, stick)
    _unmount(mount)  # say the backups now go to the SD card on purpose
    again = cli("link", "local", str(mount), env=subprocess_env)
    assert again.returncode == 0, again.stderr
    assert "recorded its filesystem again" in again.stdout
    (conn,) = run_json("connections")["connections"]
    assert conn["device"] == mount.stat().st_dev
    assert cli("upload", str(SAMPLE), "--to", "usb", env=subprocess_env).returncode == 0
    assert (mount / FOLDER / SAMPLE.name).exists()


def test_a_drive_mounted_again_with_a_new_device_id_is_still_accepted(
    tmp_path: Path, stick: Path, subprocess_env: dict[str, str]
) -> None:
    _link_stick(subprocess_env, tmp_path, stick)
    app = Context.create()
    (conn,) = app.db.connections.all()
    # plugged into another port: same mount point, another device number
    app.db.connections.update(conn.id, device=stick.stat().st_dev + 1)
    app.close()
    result = cli("upload", str(SAMPLE), "--to", "usb", "--overwrite", env=subprocess_env)
    assert result.returncode == 0, result.stderr


def test_a_connection_linked_before_filesystems_were_recorded_is_not_checked(
    tmp_path: Path, stick: Path, subprocess_env: dict[str, str]
) -> None:
    mount = _link_stick(subprocess_env, tmp_path, stick)
    app = Context.create()
    (conn,) = app.db.connections.all()
    app.db.connections.update(conn.id, device=None, mount_point=None)
    app.close()
    _unmount(mount)
    assert cli("upload", str(SAMPLE), "--to", "usb", env=subprocess_env).returncode == 0


def test_a_version_4_database_gains_an_empty_filesystem_record(tmp_path: Path) -> None:
    from fermentrack_backup_cli.store import Database as History
    from fermentrack_backup_cli.store.migrations import MIGRATIONS

    db = tmp_path / "h.sqlite3"
    raw = sqlite3.connect(db)
    raw.executescript(";".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    raw.execute(
        "INSERT INTO connections (id, provider, label, location, created_at) "
        "VALUES ('c1', 'local', 'usb', '/mnt/usb', '2026-01-01T00:00:00Z')"
    )
    raw.commit()
    raw.close()
    h = History(db)
    (conn,) = h.connections.all()
    assert (conn.label, conn.device, conn.mount_point, conn.filesystem) == (
        "usb",
        None,
        None,
        None,
    )
    h.close()


# ----------------------------------------------- shared folders, the run's time budget


def test_a_copy_in_progress_elsewhere_is_not_removed_as_stale(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """Another user's (or another Pi's) run on the same NAS folder takes another run
    lock; its temp file is held with an flock while it copies, so it is left alone."""
    import fcntl

    from fermentrack_backup_cli.fsutil import create_temp

    root = tmp_path / "nas"
    folder = root / FOLDER
    folder.mkdir(parents=True)
    fd, theirs = create_temp(folder, SAMPLE.name, ".part")
    fcntl.flock(fd, fcntl.LOCK_EX)  # as their copy does
    try:
        result = cli("upload", str(SAMPLE), "--to", f"local:{root}", env=subprocess_env)
        assert result.returncode == 0, result.stderr
        assert theirs.exists()
    finally:
        os.close(fd)  # their copy ended (or was killed): the kernel drops the lock
    assert cli("upload", str(SAMPLE), "--to", f"local:{root}", env=subprocess_env).returncode == 0
    assert not theirs.exists()


def test_one_folder_named_two_ways_takes_one_run_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "usb"
    (root / FOLDER).mkdir(parents=True)
    default = lock_for(f"local:{root}").path
    monkeypatch.setenv("FERMENTRACK_BACKUP_REMOTE_FOLDER", "/")
    assert lock_for(f"local:{root / FOLDER}").path == default


def test_a_local_copy_stops_at_the_run_deadline_and_leaves_nothing(tmp_path: Path) -> None:
    from fermentrack_backup_cli.providers.base import SourceFile
    from fermentrack_backup_cli.retry import Deadline

    root = tmp_path / "usb"
    root.mkdir()
    target = LocalTarget(root, DEFAULT_REMOTE_FOLDER, "local", Deadline.after(0.0, "1s"))
    with pytest.raises(errors.MaxDurationExceeded) as info:
        target.upload(SourceFile.from_path(SAMPLE), overwrite=False)
    assert "(--max-duration 1s) is used up" in info.value.message
    assert list((root / FOLDER).iterdir()) == []


def test_status_offline_still_reports_an_unmounted_linked_stick(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    stick = tmp_path / "usb"
    stick.mkdir()
    assert cli("link", "local", str(stick), "--label", "usb", env=subprocess_env).returncode == 0
    app = Context.create()
    (conn,) = app.db.connections.all()
    app.db.connections.update(conn.id, device=stick.stat().st_dev + 1, mount_point="/mnt/gone")
    app.close()
    result = cli("status", "--offline", env=subprocess_env)
    assert result.returncode == ExitCode.UNHEALTHY, result.stdout
    assert "is the USB stick or drive mounted?" in result.stdout


def test_a_second_download_into_the_same_folder_waits_its_turn_instead_of_failing_oddly(
    stored: tuple[str, Path], tmp_path: Path
) -> None:
    import fcntl

    to, archive = stored
    out = tmp_path / "restore"
    out.mkdir()
    part = part_path(out / archive.name)
    fd = os.open(part, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the first download, still writing
    try:
        result = run("download", archive.name, "--to", to, "-o", str(out))
    finally:
        os.close(fd)
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert "another download of" in result.stderr
    assert run("download", archive.name, "--to", to, "-o", str(out)).exit_code == 0
    assert (out / archive.name).read_bytes() == archive.read_bytes()
