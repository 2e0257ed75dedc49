"""One provider contract, run against every registered provider (as rclone's fstests and
restic's backend tests are): upload, identical and conflicting re-uploads, overwrite,
names and their case, listing across pages, stat, the declared hash, download, delete,
space, resume, and how failures are reported.

The suite is parametrised over `providers.specs()`, so a provider added to the registry
shows up here by itself. Each provider supplies a `Harness` (in `HARNESSES`, keyed by
provider id): how a command opens one of its targets (through the registry, with
4 MiB chunks and retry waits recorded, not slept), a backstage to arrange and check the
storage behind the target's back, and how to inject its faults. A registered provider
without a harness fails the suite. The cases use only the `Target` protocol and its
declared `Capabilities`; a case that cannot apply to a provider (a local folder has no
connection to lose) is skipped with the reason its harness gives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fermentrack_backup_cli import contenthash, errors, providers
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.models import Connection
from fermentrack_backup_cli.providers.base import SourceFile, Space, Stored, Target
from fermentrack_backup_cli.providers.spec import TargetEnv, Transfer

MIB = 1024 * 1024
CHUNK = 4 * MIB  # the chunk size every harness opens its targets with
MAX_ATTEMPTS = 3  # tries per request before a target gives up


def expected_hash(kind: str, data: bytes) -> str:
    """The hash of `data` a target declaring `kind` must report."""
    if kind == contenthash.KIND:
        return contenthash.content_hash(data)
    pytest.fail(
        f"the contract suite does not know the hash kind {kind!r}: teach expected_hash() "
        "in tests/test_contract.py to compute it",
        pytrace=False,
    )


class Killed(BaseException):
    """The process dying mid-upload (SIGKILL, power loss), raised from a progress report."""


def killed_after_first_chunk(size: int) -> Callable[[int], None]:
    """A progress callback that kills the upload once some, not all, bytes are through."""
    done = 0

    def progress(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if 0 < done < size:
            raise Killed

    return progress


# harnesses ----------------------------------------------------------------------------


class Harness:
    """How the suite reaches one provider's storage; one subclass per provider id.

    `target` is opened as a command opens it (`open()` again is the next run); `put`,
    `read` and `entries` work behind its back; the fault methods make the storage fail
    the way that provider's storage fails. What a provider cannot do, its harness skips
    with a reason."""

    identical_reupload: ClassVar[str]  # "refused" or "accepted": what the target does today
    target: Target  # the target under test, opened by `open()`

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sleeps: list[float] = []  # retry waits, recorded instead of slept
        self.connection: Connection | None = None
        self._contexts: list[Context] = []
        self._cleanups: list[Callable[[], object]] = []
        self._sources = 0

    def env(self) -> TargetEnv:
        """What a command's run passes to the provider (a fresh Context: a new run)."""
        ctx = Context.create()
        self._contexts.append(ctx)
        policy = replace(
            ctx.targets.retry_policy(), max_attempts=MAX_ATTEMPTS, sleep=self.sleeps.append
        )
        env = ctx.targets.env(self.connection, retry=policy)
        env.transfer = Transfer(chunk_size_mib=CHUNK // MIB, parallel=1)
        return env

    def source(self, name: str, data: bytes) -> SourceFile:
        """A local archive to upload as `name`."""
        self._sources += 1
        path = self.tmp / "sources" / str(self._sources) / name
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        return SourceFile.from_path(path)

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()
        for ctx in self._contexts:
            ctx.close()

    # what each provider supplies ---------------------------------------------------

    def open(self) -> Target:
        """A target of the same storage, opened through the registry as a run opens it."""
        raise NotImplementedError

    def put(self, name: str, data: bytes) -> None:
        """Store `data` as `name` in the target's folder ("sub/x" makes a subfolder)."""
        raise NotImplementedError

    def read(self, name: str) -> bytes | None:
        """The bytes stored as `name`, None when there is no such file."""
        raise NotImplementedError

    def entries(self) -> list[str]:
        """Everything in the target's folder, temp and hidden files included, sorted."""
        raise NotImplementedError

    def small_pages(self, size: int) -> Callable[[], int] | None:
        """List in pages of at most `size` entries; returns a count of listing requests
        (None: the provider lists in one go)."""
        raise NotImplementedError

    def fail_requests(self, fault: str, times: int) -> None:
        """The next `times` requests fail with `fault`: one of `TRANSPORT_FAULTS`, or
        "lost_reply" (the storage acts, then the connection drops before the answer)."""
        raise NotImplementedError

    def lose_connection_after_first_chunk(self) -> None:
        """Every request after an upload's first chunk fails, until `heal()`."""
        raise NotImplementedError

    def heal(self) -> None:
        raise NotImplementedError

    def writes_refused(self) -> contextlib.AbstractContextManager[None]:
        """Inside: the storage refuses to create, replace or delete files."""
        raise NotImplementedError

    def small_target(self, room: int) -> None:
        """From now on `self.target` is storage with about `room` bytes free."""
        raise NotImplementedError

    def use_up_space(self) -> None:
        """No free space is left (called from inside an upload)."""
        raise NotImplementedError


TRANSPORT_FAULTS = ("500", "503", "429", "reset")
RETRY_AFTER = 3  # seconds a 429 asks to wait


class LocalHarness(Harness):
    """A folder on this machine's disk (and a tiny tmpfs for a full target)."""

    identical_reupload = "refused"  # link(2) refuses any existing name, identical or not
    NO_TRANSPORT = "a local folder has no connection that can fail and recover"

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        super().__init__(tmp)
        self.root = tmp / "usb"
        self.root.mkdir()
        self.target = self.open()

    def open(self) -> Target:
        target, _ = providers.load("local").open_adhoc(f"local:{self.root}", self.env())
        return target

    @property
    def folder(self) -> Path:
        return Path(self.target.remote_path("x")).parent

    def put(self, name: str, data: bytes) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read(self, name: str) -> bytes | None:
        path = self.folder / name
        return path.read_bytes() if path.is_file() else None

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.folder)) if self.folder.is_dir() else []

    def small_pages(self, size: int) -> Callable[[], int] | None:
        return None

    def fail_requests(self, fault: str, times: int) -> None:
        pytest.skip(self.NO_TRANSPORT)

    def lose_connection_after_first_chunk(self) -> None:
        pytest.skip(self.NO_TRANSPORT)

    def heal(self) -> None:
        return None

    @contextlib.contextmanager
    def writes_refused(self) -> Iterator[None]:
        """chmod for a user; root ignores permissions, so chattr +i (as test_local_safety)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            mode = self.folder.stat().st_mode
            self.folder.chmod(0o555)
            try:
                yield
            finally:
                self.folder.chmod(mode)
            return
        if shutil.which("chattr") is None:
            pytest.skip("root ignores permissions and chattr is not installed")
        cmd = ["chattr", "+i", str(self.folder)]
        if subprocess.run(cmd, capture_output=True, check=False).returncode:
            pytest.skip("root ignores permissions and this filesystem has no chattr +i")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(self.folder)], check=True)

    def small_target(self, room: int) -> None:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("making a tiny filesystem (a tmpfs) needs root and mount")
        tiny = self.tmp / "tiny"
        tiny.mkdir()
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={room}", "tmpfs", str(tiny)]
        mounted = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if mounted.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        self._cleanups.append(lambda: subprocess.run(["umount", str(tiny)], check=True))
        self.root = tiny
        self.target = self.open()

    def use_up_space(self) -> None:
        """Fill the filesystem behind the target's back, outside its folder."""
        block = b"\0" * 65536
        with (self.root / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise


class DropboxHarness(Harness):
    """The fake Dropbox over real HTTPS, through the real SDK."""

    identical_reupload = "accepted"  # add mode: identical content is no conflict for Dropbox

    def __init__(self, request: pytest.FixtureRequest, tmp: Path) -> None:
        super().__init__(tmp)
        self.fake: Any = request.getfixturevalue("fake_dropbox")
        self.connection = request.getfixturevalue("make_dropbox_conn")()
        self.target = self.open()
        self._cleanups.append(self.fake.clear_faults)

    def open(self) -> Target:
        assert self.connection is not None
        return providers.load(self.connection.provider).open(self.connection, self.env())

    def put(self, name: str, data: bytes) -> None:
        self.fake.put_file(self.target.remote_path(name), data)

    def read(self, name: str) -> bytes | None:
        try:
            return bytes(self.fake.read_file(self.target.remote_path(name)))
        except KeyError:
            return None

    def entries(self) -> list[str]:
        prefix = self.target.remote_path("").lower()
        return sorted(
            p[len(prefix) :] for p in self.fake.file_paths() if p.lower().startswith(prefix)
        )

    def small_pages(self, size: int) -> Callable[[], int] | None:
        self.fake.list_page_size = size
        return lambda: (
            len(self.fake.requests_to("files/list_folder"))
            + len(self.fake.requests_to("files/list_folder/continue"))
        )

    def fail_requests(self, fault: str, times: int) -> None:
        kw = {"retry_after": RETRY_AFTER} if fault == "429" else {}
        self.fake.inject("*", fault, times=times, **kw)

    def lose_connection_after_first_chunk(self) -> None:
        # the first chunk rides on upload_session/start; every append after it is cut
        self.fake.inject("files/upload_session/append_v2", "reset", times=1000)

    def heal(self) -> None:
        self.fake.clear_faults()

    @contextlib.contextmanager
    def writes_refused(self) -> Iterator[None]:
        self.fake.inject("*", "no_write_permission", times=1000)
        try:
            yield
        finally:
            self.fake.clear_faults()

    def small_target(self, room: int) -> None:
        self.fake.quota_allocated = self.fake.used_bytes() + room

    def use_up_space(self) -> None:
        self.fake.quota_allocated = self.fake.used_bytes()


HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path], Harness]] = {
    "local": LocalHarness,
    "dropbox": DropboxHarness,
}
PROVIDER_IDS = [spec.id for spec in providers.specs()]


def harness_for(provider_id: str) -> Callable[[pytest.FixtureRequest, Path], Harness]:
    factory = HARNESSES.get(provider_id)
    if factory is None:
        pytest.fail(
            f"provider {provider_id!r} is registered but the contract suite has no harness "
            f"for it: add a Harness subclass for {provider_id!r} to HARNESSES in "
            "tests/test_contract.py (how to open its target, put/read behind its back, "
            "its faults), then make the suite pass",
            pytrace=False,
        )
    return factory


@pytest.fixture(params=PROVIDER_IDS)
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    harness = harness_for(request.param)(request, tmp_path)
    try:
        yield harness
    finally:
        harness.close()


def check_stored(h: Harness, name: str, data: bytes, stored: Stored) -> None:
    """`stored` says what the target now holds as `name`, and it holds exactly `data`."""
    kind = h.target.capabilities.hash_kind
    assert stored.file.name == name
    assert stored.file.size == len(data)
    assert stored.file.content_hash == expected_hash(kind, data)
    assert stored.file.path == h.target.remote_path(name)
    assert stored.file.modified is not None
    assert h.read(name) == data


# the registry -------------------------------------------------------------------------


@pytest.mark.parametrize("provider_id", PROVIDER_IDS)
def test_every_registered_provider_has_a_contract_harness(provider_id: str) -> None:
    assert harness_for(provider_id)


def test_a_provider_without_a_harness_fails_the_suite_saying_which_harness_to_add() -> None:
    with pytest.raises(pytest.fail.Exception, match="add a Harness subclass for 'imaginary'"):
        harness_for("imaginary")


def test_every_harness_belongs_to_a_registered_provider() -> None:
    stale = sorted(set(HARNESSES) - set(PROVIDER_IDS))
    assert not stale, f"harnesses for providers the registry does not list: {stale}"


# upload -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK + 1], ids=lambda n: f"{n}B")
def test_upload_stores_the_bytes_and_reports_size_and_the_declared_hash(
    h: Harness, size: int
) -> None:
    data = os.urandom(size)
    progress: list[int] = []
    stored = h.target.upload(h.source("a.tar.xz", data), overwrite=False, progress=progress.append)
    check_stored(h, "a.tar.xz", data, stored)
    assert stored.resumed_from is None
    assert sum(progress) == size
    assert h.entries() == ["a.tar.xz"]


def test_uploading_identical_content_again_never_changes_the_stored_copy(h: Harness) -> None:
    """Core compares hashes before uploading; a target may still refuse or accept an
    identical re-upload (each provider's harness pins which), but never alters it."""
    data = os.urandom(3000)
    first = h.target.upload(h.source("a.tar.xz", data), overwrite=False)
    try:
        again = h.target.upload(h.source("a.tar.xz", data), overwrite=False)
    except errors.RemoteConflict:
        outcome = "refused"
    else:
        outcome = "accepted"
        check_stored(h, "a.tar.xz", data, again)
        assert again.file.modified == first.file.modified
    assert outcome == h.identical_reupload
    assert h.read("a.tar.xz") == data
    assert h.entries() == ["a.tar.xz"]


def test_same_name_with_different_content_is_a_conflict_and_keeps_the_stored_copy(
    h: Harness,
) -> None:
    old = os.urandom(3000)
    h.target.upload(h.source("a.tar.xz", old), overwrite=False)
    for new in (os.urandom(3000), os.urandom(CHUNK + 7)):  # one call, and a session
        with pytest.raises(errors.RemoteConflict):
            h.target.upload(h.source("a.tar.xz", new), overwrite=False)
        assert h.read("a.tar.xz") == old
    assert h.entries() == ["a.tar.xz"]


def test_overwrite_replaces_different_content(h: Harness) -> None:
    h.target.upload(h.source("a.tar.xz", os.urandom(3000)), overwrite=False)
    for new in (os.urandom(2000), os.urandom(CHUNK + 7)):
        stored = h.target.upload(h.source("a.tar.xz", new), overwrite=True)
        check_stored(h, "a.tar.xz", new, stored)
    fresh = os.urandom(10)
    check_stored(h, "b.tar.xz", fresh, h.target.upload(h.source("b.tar.xz", fresh), overwrite=True))
    assert h.entries() == ["a.tar.xz", "b.tar.xz"]


def test_names_differing_only_by_case_are_two_files_or_one_as_declared(h: Harness) -> None:
    lower, upper = os.urandom(100), os.urandom(200)
    caps = h.target.capabilities
    h.target.upload(h.source("brew.tar.xz", lower), overwrite=False)
    if caps.case_sensitive:
        stored = h.target.upload(h.source("BREW.tar.xz", upper), overwrite=False)
        check_stored(h, "BREW.tar.xz", upper, stored)
        assert sorted(f.name for f in h.target.list_files()) == ["BREW.tar.xz", "brew.tar.xz"]
        assert caps.key("BREW.tar.xz") != caps.key("brew.tar.xz")
    else:
        with pytest.raises(errors.RemoteConflict):
            h.target.upload(h.source("BREW.tar.xz", upper), overwrite=False)
        other_case = h.target.stat("BREW.tar.xz")
        assert other_case is not None and other_case.size == len(lower)
        assert [f.name for f in h.target.list_files()] == ["brew.tar.xz"]
        assert caps.key("BREW.tar.xz") == caps.key("brew.tar.xz")
    assert h.read("brew.tar.xz") == lower


NO_TARGET_STORES = ["", "..", "a/b.tar.xz", "nul\0.tar.xz", "x" * 249 + ".tar.xz"]
"""Names no storage keeps as one file (the last is 256 bytes)."""
TRICKY = [
    "2026-11-27T03.00.00.tar.xz",
    "brew day #3 (üñí) & co.tar.xz",
    "x" * 248 + ".tar.xz",  # 255 bytes
    "trailing dot.",
    "trailing space ",
    "desktop.ini",
    "control\x01.tar.xz",
    "colon: question? star*.tar.xz",
]


@pytest.mark.parametrize("name", NO_TARGET_STORES, ids=repr)
def test_a_name_the_rules_refuse_is_refused_by_their_check_before_any_byte_is_sent(
    h: Harness, name: str
) -> None:
    """Core runs `name_rules.check` before uploading: it must refuse, with a hint."""
    rules = h.target.capabilities.name_rules
    assert rules.problem(name) is not None
    with pytest.raises(errors.RemoteNameError) as refused:
        rules.check(name)
    assert refused.value.hint


@pytest.mark.parametrize("name", TRICKY, ids=repr)
def test_a_name_the_rules_accept_is_stored_under_exactly_that_name(h: Harness, name: str) -> None:
    rules = h.target.capabilities.name_rules
    if rules.problem(name) is not None:
        with pytest.raises(errors.RemoteNameError):
            rules.check(name)
        return
    data = os.urandom(50)
    check_stored(h, name, data, h.target.upload(h.source(name, data), overwrite=False))
    assert [f.name for f in h.target.list_files()] == [name]
    meta = h.target.stat(name)
    assert meta is not None and meta.name == name


# list, stat, read, delete, space --------------------------------------------------------


def test_listing_returns_every_file_across_pages_and_skips_folders(h: Harness) -> None:
    pages = h.small_pages(500)
    names = [f"2026-01-01T00.00.{i:04d}.tar.xz" for i in range(2100)] + ["notes.txt"]
    for name in names:
        h.put(name, b"x")
    h.put("sub/nested.tar.xz", b"nested")  # a folder: not a stored file
    caps = h.target.capabilities
    files = list(h.target.list_files())
    assert sorted(f.name for f in files) == sorted(names)
    assert all(f.size == 1 and f.modified is not None for f in files)
    assert all(f.path == h.target.remote_path(f.name) for f in files)
    x_hash = expected_hash(caps.hash_kind, b"x")
    if caps.lists_hashes:
        assert {f.content_hash for f in files} == {x_hash}
    else:  # no hash in the listing (core asks stat), but never a wrong one
        assert {f.content_hash for f in files} <= {None, x_hash}
    if pages is not None:
        assert pages() >= 5  # 2102 entries in pages of 500


def test_an_absent_or_empty_folder_lists_nothing(h: Harness) -> None:
    assert list(h.target.list_files()) == []
    h.put("a.tar.xz", b"x")
    assert h.target.delete(["a.tar.xz"]) == ["a.tar.xz"]
    assert list(h.target.list_files()) == []


def test_stat_gives_name_size_and_the_declared_hash_or_none(h: Harness) -> None:
    data = bytes(range(256)) * 300
    h.put("a.tar.xz", data)
    h.put("sub/nested.tar.xz", b"x")
    meta = h.target.stat("a.tar.xz")
    assert meta is not None
    kind = h.target.capabilities.hash_kind
    assert (meta.name, meta.size, meta.content_hash) == (
        "a.tar.xz",
        len(data),
        expected_hash(kind, data),
    )
    assert meta.path == h.target.remote_path("a.tar.xz")
    assert meta.modified is not None
    assert h.target.stat("missing.tar.xz") is None
    assert h.target.stat("sub") is None  # a folder is not a stored file


def test_open_read_streams_from_the_start_or_an_offset(h: Harness) -> None:
    data = os.urandom(CHUNK + 12345)
    h.put("a.tar.xz", data)
    with h.target.open_read("a.tar.xz") as stream:
        assert stream.read() == data
    for offset in (1, 12345, CHUNK, len(data) - 1):
        with h.target.open_read("a.tar.xz", offset) as stream:
            assert stream.read() == data[offset:]


def test_open_read_of_a_missing_file_is_not_found(h: Harness) -> None:
    h.put("other.tar.xz", b"x")
    with pytest.raises(errors.NotFound):
        h.target.open_read("missing.tar.xz").read()


def test_delete_removes_one_or_many_and_skips_missing_names(h: Harness) -> None:
    for i in range(5):
        h.put(f"{i}.tar.xz", b"x")
    assert h.target.delete([]) == []
    assert h.target.delete(["0.tar.xz"]) == ["0.tar.xz"]
    assert h.target.delete(["gone.tar.xz"]) == []
    deleted = h.target.delete(["1.tar.xz", "2.tar.xz", "gone.tar.xz", "3.tar.xz"])
    assert sorted(deleted) == ["1.tar.xz", "2.tar.xz", "3.tar.xz"]
    assert [f.name for f in h.target.list_files()] == ["4.tar.xz"]
    assert h.entries() == ["4.tar.xz"]


def test_space_reports_used_and_allocated_bytes_when_declared(h: Harness) -> None:
    space = h.target.space()
    if not h.target.capabilities.reports_space:
        assert space is None
        return
    assert isinstance(space, Space)
    assert isinstance(space.used, int) and space.used >= 0
    assert space.allocated is None or (isinstance(space.allocated, int) and space.allocated > 0)
    assert space.free is None or space.free >= 0


# resume -------------------------------------------------------------------------------


@pytest.mark.parametrize("interruption", ["killed", "connection lost"])
def test_an_interrupted_upload_resumes_or_starts_over_as_declared_and_leaves_nothing_behind(
    h: Harness, interruption: str
) -> None:
    data = os.urandom(2 * CHUNK + 3)
    source = h.source("big.tar.xz", data)
    if interruption == "killed":
        with pytest.raises(Killed):
            h.target.upload(source, overwrite=False, progress=killed_after_first_chunk(len(data)))
    else:
        h.lose_connection_after_first_chunk()
        with pytest.raises(errors.NetworkError):
            h.target.upload(source, overwrite=False)
        h.heal()
    assert h.read("big.tar.xz") is None  # nothing half-stored under the name
    assert h.entries() == []  # and no temp files
    next_run = h.open()
    stored = next_run.upload(source, overwrite=False)
    h.target = next_run
    check_stored(h, "big.tar.xz", data, stored)
    if next_run.capabilities.resumable_uploads:
        assert stored.resumed_from is not None
        assert 0 < stored.resumed_from < len(data)
    else:
        assert stored.resumed_from is None
    assert h.entries() == ["big.tar.xz"]


# error mapping ------------------------------------------------------------------------


def _arranged(h: Harness) -> dict[str, Callable[[], None]]:
    """One call of each kind, each checking its own result; the target's first call
    (stat) is made already, so faults hit the operation itself, not a token refresh."""
    kept = os.urandom(500)
    h.put("kept.tar.xz", kept)
    h.put("also.tar.xz", kept)
    assert h.target.stat("kept.tar.xz") is not None
    small, large = os.urandom(100), os.urandom(CHUNK + 9)

    def listing() -> None:
        assert sorted(f.name for f in h.target.list_files()) == ["also.tar.xz", "kept.tar.xz"]

    def stat() -> None:
        meta = h.target.stat("kept.tar.xz")
        assert meta is not None and meta.size == len(kept)

    def read() -> None:
        with h.target.open_read("kept.tar.xz") as stream:
            assert stream.read() == kept

    def upload() -> None:
        h.target.upload(h.source("small.tar.xz", small), overwrite=False)
        assert h.read("small.tar.xz") == small

    def upload_in_chunks() -> None:
        h.target.upload(h.source("large.tar.xz", large), overwrite=False)
        assert h.read("large.tar.xz") == large

    def delete() -> None:
        assert h.target.delete(["kept.tar.xz"]) == ["kept.tar.xz"]
        assert h.read("kept.tar.xz") is None

    def delete_many() -> None:
        assert sorted(h.target.delete(["kept.tar.xz", "also.tar.xz"])) == [
            "also.tar.xz",
            "kept.tar.xz",
        ]
        assert h.entries() == []

    def space() -> None:
        h.target.space()

    return {
        "list": listing,
        "stat": stat,
        "read": read,
        "upload": upload,
        "upload in chunks": upload_in_chunks,
        "delete": delete,
        "delete many": delete_many,
        "space": space,
    }


OPERATIONS = [
    "list",
    "stat",
    "read",
    "upload",
    "upload in chunks",
    "delete",
    "delete many",
    "space",
]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("fault", TRANSPORT_FAULTS)
def test_a_transport_failure_that_clears_is_retried_and_the_call_succeeds(
    h: Harness, fault: str, operation: str
) -> None:
    call = _arranged(h)[operation]
    h.fail_requests(fault, times=MAX_ATTEMPTS - 1)
    call()
    assert len(h.sleeps) == MAX_ATTEMPTS - 1  # recorded, never slept
    if fault == "429":
        assert min(h.sleeps) >= RETRY_AFTER


# the fake streams a download's answer, so it cannot lose the reply of a read
@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op != "read"])
def test_a_reply_lost_after_the_storage_acted_is_retried_and_the_call_still_succeeds(
    h: Harness, operation: str
) -> None:
    """Flaky Wi-Fi: the storage did the work but its answer never arrived. The retry
    finds the work done and the call reports what really happened (a delete whose
    reply was lost deleted the file)."""
    call = _arranged(h)[operation]
    h.fail_requests("lost_reply", times=1)
    call()
    assert len(h.sleeps) == 1


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_transport_failure_that_persists_ends_in_retry_exhausted_after_max_attempts(
    h: Harness, operation: str
) -> None:
    call = _arranged(h)[operation]
    h.fail_requests("503", times=1000)
    with pytest.raises(errors.RetryExhausted) as exhausted:
        call()
    assert isinstance(exhausted.value, errors.NetworkError)
    assert exhausted.value.hint
    assert len(h.sleeps) == MAX_ATTEMPTS - 1
    h.heal()
    assert h.read("kept.tar.xz") is not None
    assert h.read("small.tar.xz") is None and h.read("large.tar.xz") is None


def test_storage_that_refuses_writes_is_permission_denied_and_loses_nothing(h: Harness) -> None:
    kept = os.urandom(500)
    h.put("kept.tar.xz", kept)
    h.put("also.tar.xz", kept)
    with h.writes_refused():
        for data in (os.urandom(100), os.urandom(CHUNK + 9)):
            with pytest.raises(errors.PermissionDenied):
                h.target.upload(h.source("new.tar.xz", data), overwrite=False)
            with pytest.raises(errors.PermissionDenied):
                h.target.upload(h.source("kept.tar.xz", data), overwrite=True)
        # a refused delete raises, or at least never reports the file as deleted
        for names in (["kept.tar.xz"], ["kept.tar.xz", "also.tar.xz"]):
            try:
                deleted = h.target.delete(names)
            except errors.PermissionDenied:
                deleted = []
            assert deleted == []
    assert h.read("kept.tar.xz") == kept
    assert h.entries() == ["also.tar.xz", "kept.tar.xz"]


def test_a_target_without_room_refuses_the_upload_as_insufficient_space(h: Harness) -> None:
    h.small_target(64 * 1024)
    with pytest.raises(errors.InsufficientSpace):
        h.target.upload(h.source("a.tar.xz", os.urandom(MIB)), overwrite=False)
    assert h.entries() == []


def test_space_running_out_mid_upload_is_insufficient_space_and_stores_nothing(
    h: Harness,
) -> None:
    h.small_target(8 * MIB)
    data = os.urandom(CHUNK + 2 * MIB)
    used_up = False

    def fill_after_first_chunk(nbytes: int) -> None:
        nonlocal used_up
        if not used_up:
            used_up = True
            h.use_up_space()

    with pytest.raises(errors.InsufficientSpace):
        h.target.upload(
            h.source("a.tar.xz", data), overwrite=False, progress=fill_after_first_chunk
        )
    assert used_up
    assert h.entries() == []
