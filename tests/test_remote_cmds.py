"""remote ls, verify --remote, download and prune as a user types them, on a local
folder and on the fake Dropbox; archives are put there with `upload`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.contenthash import content_hash
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.core.download import part_path
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, run, run_json
from tests.samples import flip_byte, make_backup

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@dataclass
class Where:
    """A target as `--to` names it, and a backstage door to its stored bytes."""

    kind: str
    to: str
    root: Path | None = None  # local: the folder holding the remote folder
    fake: Any = None

    def remote(self, name: str) -> str:
        return f"{DEFAULT_REMOTE_FOLDER}/{name}"

    def put(self, name: str, data: bytes) -> None:
        if self.fake is not None:
            self.fake.put_file(self.remote(name), data)
        else:
            assert self.root is not None
            folder = self.root / DEFAULT_REMOTE_FOLDER.strip("/")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)

    def corrupt(self, name: str) -> None:
        if self.fake is not None:
            self.fake.corrupt(self.remote(name))
        else:
            assert self.root is not None
            path = self.root / DEFAULT_REMOTE_FOLDER.strip("/") / name
            flip_byte(path, path.stat().st_size // 2)

    def names(self) -> list[str]:
        if self.fake is not None:
            return sorted(p.rsplit("/", 1)[1] for p in self.fake.file_paths())
        assert self.root is not None
        return sorted(p.name for p in (self.root / DEFAULT_REMOTE_FOLDER.strip("/")).iterdir())


@pytest.fixture(params=["local", "dropbox"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "local":
        root = tmp_path / "usb"
        root.mkdir()
        return Where("local", f"local:{root}", root=root)
    fake = request.getfixturevalue("fake_dropbox")
    request.getfixturevalue("make_dropbox_conn")(label="dropbox")
    return Where("dropbox", "dropbox", fake=fake)


@pytest.fixture
def local(tmp_path: Path) -> Where:
    root = tmp_path / "usb"
    root.mkdir()
    return Where("local", f"local:{root}", root=root)


@pytest.fixture
def dropbox(fake_dropbox: Any, make_dropbox_conn: Any) -> Where:
    make_dropbox_conn(label="dropbox")
    return Where("dropbox", "dropbox", fake=fake_dropbox)


def upload(where: Where, tmp_path: Path, *days: int) -> list[Path]:
    """Make one backup per day offset from T0 and upload them with the CLI."""
    src = tmp_path / "backups"
    paths = [make_backup(src, T0 + timedelta(days=d)) for d in days]
    result = run("upload", *map(str, paths), "--to", where.to)
    assert result.exit_code == 0, result.output
    return paths


# ------------------------------------------------------------------------------ remote ls


def test_remote_ls_lists_backups_newest_first_with_known_and_last_verified(
    where: Where, tmp_path: Path
) -> None:
    older, newer = upload(where, tmp_path, 0, 1)
    where.put("2026-11-19T03.00.00.tar.xz", older.read_bytes())  # stored by someone else
    where.put("notes.txt", b"not a backup")
    listed = run_json("remote", "ls", "--to", where.to)["backups"]
    assert [b["name"] for b in listed] == [newer.name, older.name, "2026-11-19T03.00.00.tar.xz"]
    first = listed[0]
    assert set(first) >= {"name", "size", "modified", "content_hash", "known", "last_verified_at"}
    assert first["size"] == newer.stat().st_size
    assert first["modified"].endswith("Z")
    expected_hash = content_hash(newer.read_bytes()) if where.kind == "dropbox" else None
    assert first["content_hash"] == expected_hash  # a local folder lists without reading
    assert [b["known"] for b in listed] == [True, True, where.kind == "dropbox"]
    assert all(b["last_verified_at"] is None for b in listed)

    assert run("verify", "--remote", newer.name, "--to", where.to).exit_code == 0
    again = {b["name"]: b for b in run_json("remote", "ls", "--to", where.to)["backups"]}
    assert again[newer.name]["last_verified_at"] is not None
    assert again[newer.name]["last_verified_ok"] is True
    assert again[older.name]["last_verified_at"] is None


def test_remote_ls_table_and_empty_target(local: Where, tmp_path: Path) -> None:
    empty = run("remote", "ls", "--to", local.to)
    assert empty.exit_code == 0
    assert "no backups stored" in empty.stderr
    (path,) = upload(local, tmp_path, 0)
    table = run("remote", "ls", "--to", local.to)
    assert path.name in table.stdout
    assert "1 backup(s)" in table.stderr


# ----------------------------------------------------------------------------- verify


def test_deep_verify_passes_good_and_fails_corrupted_stored_archives(
    where: Where, tmp_path: Path
) -> None:
    good, bad = upload(where, tmp_path, 0, 1)
    assert run("verify", "--remote", good.name, bad.name, "--to", where.to).exit_code == 0
    where.corrupt(bad.name)
    result = run("verify", "--remote", "--all", "--to", where.to, "--json")
    assert result.exit_code == ExitCode.VERIFY
    checks = {c["name"]: c for c in json.loads(result.stdout)["backups"]}
    assert checks[good.name]["ok"] is True
    assert checks[good.name]["file_version"] == 3
    assert checks[good.name]["content_hash"] == content_hash(good.read_bytes())
    source = "metadata" if where.kind == "dropbox" else "history"
    assert checks[good.name]["hash_source"] == source
    assert checks[bad.name]["ok"] is False
    assert checks[bad.name]["problems"]
    assert any("content hash" in p for p in checks[bad.name]["problems"])
    listed = {b["name"]: b for b in run_json("remote", "ls", "--to", where.to)["backups"]}
    assert listed[bad.name]["last_verified_ok"] is False
    table = run("verify", "--remote", "--all", "--to", where.to)
    assert "FAILED" in table.stdout
    assert "1 of 2 stored backup(s) are damaged" in table.stderr


def test_deep_verify_reads_a_stored_zip_from_a_stream(dropbox: Where, tmp_path: Path) -> None:
    path = make_backup(tmp_path / "backups", T0, fmt="zip")
    assert run("upload", str(path), "--to", dropbox.to).exit_code == 0
    (check,) = run_json("verify", "--remote", path.name, "--to", dropbox.to)["backups"]
    assert check["ok"] is True, check
    assert (check["format"], check["file_version"]) == ("zip", 3)
    dropbox.corrupt(path.name)
    result = run("verify", "--remote", path.name, "--to", dropbox.to)
    assert result.exit_code == ExitCode.VERIFY


def test_verify_latest_checks_only_the_newest_stored_backups(local: Where, tmp_path: Path) -> None:
    paths = upload(local, tmp_path, 0, 1, 2)
    checks = run_json("verify", "--remote", "--latest", "2", "--to", local.to)["backups"]
    assert [c["name"] for c in checks] == [paths[2].name, paths[1].name]


def test_verify_remote_of_an_unknown_name_is_not_found(local: Where, tmp_path: Path) -> None:
    upload(local, tmp_path, 0)
    result = run("verify", "--remote", "nope.tar.xz", "--to", local.to)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "nope.tar.xz" in result.stdout
    hint = result.stderr.splitlines()[-1]  # where to look, not "the stored copy is damaged"
    assert hint == "hint: see the stored backups with `fermentrack-backup remote ls`", hint


def test_verify_remote_needs_names_or_all(local: Where) -> None:
    result = run("verify", "--remote", "--to", local.to)
    assert result.exit_code == ExitCode.USAGE
    assert "hint:" in result.stderr
    assert run("verify").exit_code == ExitCode.USAGE


# --------------------------------------------------------------------------- download


def test_download_restores_the_stored_bytes(where: Where, tmp_path: Path) -> None:
    (path,) = upload(where, tmp_path, 0)
    out = tmp_path / "restore"
    data = run_json("download", path.name, "--to", where.to, "--output", str(out))
    restored = out / path.name
    assert restored.read_bytes() == path.read_bytes()
    assert data["path"] == str(restored)
    assert data["content_hash"] == content_hash(path.read_bytes())
    assert data["resumed_from"] is None
    assert sorted(p.name for p in out.iterdir()) == [path.name]


def test_download_with_a_hash_mismatch_fails_and_leaves_nothing(
    dropbox: Where, tmp_path: Path
) -> None:
    (path,) = upload(dropbox, tmp_path, 0)
    dropbox.fake.download_hash_mismatch(dropbox.remote(path.name))
    out = tmp_path / "restore"
    result = run("download", path.name, "--to", dropbox.to, "-o", str(out))
    assert result.exit_code == ExitCode.VERIFY
    assert "content hash" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []


def test_download_resumes_a_partial_file_with_a_range_request(
    dropbox: Where, tmp_path: Path
) -> None:
    (path,) = upload(dropbox, tmp_path, 0)
    out = tmp_path / "restore"
    out.mkdir()
    part_path(out / path.name).write_bytes(path.read_bytes()[:1000])
    data = run_json("download", path.name, "--to", dropbox.to, "-o", str(out))
    assert data["resumed_from"] == 1000
    assert (out / path.name).read_bytes() == path.read_bytes()
    assert not part_path(out / path.name).exists()
    (last,) = dropbox.fake.requests_to("files/download")
    ranges = [v for k, v in last.headers.items() if k.lower() == "range"]
    assert ranges == ["bytes=1000-"]


def test_download_resumes_from_a_local_folder_too(local: Where, tmp_path: Path) -> None:
    (path,) = upload(local, tmp_path, 0)
    out = tmp_path / "restore"
    out.mkdir()
    part_path(out / path.name).write_bytes(path.read_bytes()[:700])
    data = run_json("download", path.name, "--to", local.to, "-o", str(out))
    assert data["resumed_from"] == 700
    assert (out / path.name).read_bytes() == path.read_bytes()


def test_download_starts_over_when_the_partial_is_not_a_prefix(
    local: Where, tmp_path: Path
) -> None:
    (path,) = upload(local, tmp_path, 0)
    out = tmp_path / "restore"
    out.mkdir()
    part_path(out / path.name).write_bytes(b"\x00" * 500)
    data = run_json("download", path.name, "--to", local.to, "-o", str(out))
    assert data["resumed_from"] is None
    assert (out / path.name).read_bytes() == path.read_bytes()


def test_download_never_overwrites_without_force(where: Where, tmp_path: Path) -> None:
    (path,) = upload(where, tmp_path, 0)
    out = tmp_path / "restore"
    out.mkdir()
    (out / path.name).write_bytes(b"mine")
    result = run("download", path.name, "--to", where.to, "-o", str(out))
    assert result.exit_code == ExitCode.USAGE
    assert "--force" in result.stderr
    assert (out / path.name).read_bytes() == b"mine"
    forced = run("download", path.name, "--to", where.to, "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / path.name).read_bytes() == path.read_bytes()


def test_download_of_a_missing_backup_is_not_found(local: Where, tmp_path: Path) -> None:
    result = run("download", "nope.tar.xz", "--to", local.to, "-o", str(tmp_path / "r"))
    assert result.exit_code == ExitCode.NOT_FOUND
    bad = run("download", "../etc/passwd", "--to", local.to)
    assert bad.exit_code == ExitCode.USAGE


# ------------------------------------------------------------------------------ prune


def test_prune_dry_run_removes_nothing_and_shows_the_plan(where: Where, tmp_path: Path) -> None:
    paths = upload(where, tmp_path, 0, 1, 2, 3)
    before = where.names()
    plan = run_json("prune", "--to", where.to, "--keep-last", "2", "--dry-run")
    assert plan["dry_run"] is True
    assert [d["name"] for d in plan["kept"]] == [paths[3].name, paths[2].name]
    assert all(d["reasons"] == ["last snapshot"] for d in plan["kept"])
    assert [d["name"] for d in plan["removed"]] == [paths[1].name, paths[0].name]
    assert plan["deleted"] == []
    assert where.names() == before
    table = run("prune", "--to", where.to, "--keep-last", "2", "--dry-run")
    assert "would remove" in table.stdout
    assert "last snapshot" in table.stdout
    assert where.names() == before


def test_prune_deletes_only_old_backups_and_records_each_deletion(
    where: Where, tmp_path: Path
) -> None:
    paths = upload(where, tmp_path, 0, 1, 2, 3, 4)
    where.put("notes.txt", b"keep me")
    where.put("2026-01-01T00.00.00.tar.xz.bak", b"not an archive name")
    # --keep-within counts back from now: just long enough to reach the newest backup
    within = f"{(datetime.now(UTC) - (T0 + timedelta(days=4))).days + 1}d"
    result = run_json("prune", "--to", where.to, "--keep-daily", "2", "--keep-within", within)
    assert sorted(result["deleted"]) == sorted(p.name for p in paths[:3])
    assert result["failed"] == []
    kept = {d["name"]: d["reasons"] for d in result["kept"]}
    assert kept == {
        paths[4].name: [f"within {within}", "daily snapshot"],
        paths[3].name: ["daily snapshot"],
    }
    assert where.names() == sorted(
        [paths[3].name, paths[4].name, "notes.txt", "2026-01-01T00.00.00.tar.xz.bak"]
    )
    if where.fake is not None:
        assert where.fake.requests_to("files/delete_batch")
    app = Context.create()
    rows = app.db.attempts.list(action="delete")
    app.close()
    assert sorted(Path(r.remote_path or "").name for r in rows) == sorted(p.name for p in paths[:3])
    assert {r.status for r in rows} == {"completed"}
    again = run_json("prune", "--to", where.to, "--keep-daily", "2", "--keep-within", within)
    assert again["deleted"] == []


def test_prune_refuses_a_policy_that_keeps_nothing(local: Where, tmp_path: Path) -> None:
    upload(local, tmp_path, 0, 1)
    result = run("prune", "--to", local.to)
    assert result.exit_code == ExitCode.USAGE
    assert "keeps nothing" in result.stderr
    assert "--keep-daily" in result.stderr
    assert len(local.names()) == 2
    zero = run("prune", "--to", local.to, "--keep-last", "0")
    assert zero.exit_code == ExitCode.USAGE


def test_prune_uses_the_policy_saved_in_the_config(local: Where, tmp_path: Path) -> None:
    paths = upload(local, tmp_path, 0, 1, 2)
    assert run("config", "set", "retention.keep_last", "1").exit_code == 0
    result = run_json("prune", "--to", local.to)
    assert result["policy"] == "1 last"
    assert sorted(result["deleted"]) == sorted(p.name for p in paths[:2])
    assert local.names() == [paths[2].name]


def test_prune_after_upload_applies_the_config_policy_or_nothing(
    local: Where, tmp_path: Path
) -> None:
    from fermentrack_backup_cli.core.prune import prune_after_upload

    paths = upload(local, tmp_path, 0, 1, 2)
    app = Context.create()
    opened = app.targets.open(local.to)
    assert prune_after_upload(app.targets, opened) is None
    app.settings.set("retention.keep_last", 2)
    report = prune_after_upload(app.targets, opened)
    app.close()
    assert report is not None
    assert list(report.deleted) == [paths[0].name]


def test_retention_config_accepts_unlimited_and_calendar_durations() -> None:
    assert run("config", "set", "retention.keep_daily", "--", "-1").exit_code == 0
    assert run("config", "set", "retention.keep_weekly", "unlimited").exit_code == 0
    shown = {row["key"]: row["value"] for row in run_json("config", "show")["settings"]}
    assert shown["retention.keep_daily"] == shown["retention.keep_weekly"] == -1
    assert run("config", "set", "retention.keep_within", "1y6m").exit_code == 0
    bad = run("config", "set", "retention.keep_within", "90s")
    assert bad.exit_code == ExitCode.USAGE
    assert "m=months" in bad.stderr
    assert run("config", "set", "retention.keep_weekly", "--", "-2").exit_code == ExitCode.USAGE


def test_a_full_temp_folder_during_a_zip_check_is_not_blamed_on_the_stored_copy(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    import io
    import os
    import subprocess
    import zipfile

    small = tmp_path / "smalltmp"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        make_dropbox_conn(store="file")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("fermentrack_backup.json", b'{"file_version": 3}')
            zf.writestr("data/log.csv", os.urandom(12 * 1024 * 1024))
        name = "2026-11-27T03.00.00.zip"
        fake_dropbox.put_file(f"/Fermentrack Backups/{name}", buf.getvalue())
        env = {**dropbox_env, "TMPDIR": str(small)}
        result = cli("verify", "--remote", name, "--to", "dropbox", env=env)
    finally:
        subprocess.run(["umount", str(small)], check=False)
    assert result.returncode == ExitCode.INSUFFICIENT_SPACE, result.stderr
    assert "temporary folder" in result.stderr and "TMPDIR" in result.stderr
    assert "damaged" not in result.stderr
    ls = cli("remote", "ls", "--to", "dropbox", "--json", env=dropbox_env)
    (listed,) = json.loads(ls.stdout)["backups"]
    assert listed["last_verified_at"] is None  # not recorded as a failed verification
