"""Archive recognition: every real Fermentrack layout verifies and uploads; an unknown one
is a warning (an error only with --strict); a damaged dump is still refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.archive.verify import verify_file
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, history, run, run_json
from tests.samples import (
    DUMP_NAME,
    EXAMPLES,
    LAYOUT_SAMPLES,
    LAYOUTS,
    SAMPLE,
    make_archive,
    make_backup,
)

# layout -> (dump member, file_version) of the committed samples
EXPECTED: dict[str, tuple[str | None, Any]] = {
    "fermentrack2": ("fermentrack_data.json", None),
    "fermentrack-2.0.0": (DUMP_NAME, "2.0.0"),
    "legacy-1.0.0": (DUMP_NAME, None),
    "unknown": (None, None),
}
LOG = b"log_time,beer_temp\n2026-11-27T03:00:00,66.1\n"
ROWS = [{"model": "app.beer", "pk": 1, "fields": {"name": "Batch 1"}}]


def _copy(src: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / src.name
    dest.write_bytes(src.read_bytes())
    return dest


def _usb(tmp_path: Path, name: str = "usb") -> Path:
    """An existing target folder (a missing one is refused, as an unmounted stick is)."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    return folder


def _dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


# ------------------------------------------------------------------ the committed samples


def test_there_is_one_committed_sample_per_layout() -> None:
    assert set(LAYOUTS) == {"fermentrack2", "fermentrack-2.0.0", "legacy-1.0.0", "unknown"}
    for layout, path in LAYOUT_SAMPLES.items():
        assert path.is_file(), layout
        assert path.stat().st_size < 20 * 1024


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_sample_is_recognised(layout: str) -> None:
    report = verify_file(LAYOUT_SAMPLES[layout])
    assert report.ok, report.problems
    assert report.layout == layout
    assert (report.dump_member, report.file_version) == EXPECTED[layout]
    assert report.error_code is None
    if layout == "unknown":
        assert report.warnings and "unrecognised layout" in report.warnings[0]
    else:
        assert report.warnings == ()


def test_the_readme_sample_is_a_fermentrack_200_layout_with_file_version_3() -> None:
    report = verify_file(SAMPLE)
    assert (report.layout, report.file_version, report.dump_member) == (
        "fermentrack-2.0.0",
        3,
        DUMP_NAME,
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_sample_script_regenerates_each_layout_sample_byte_for_byte(
    tmp_path: Path, layout: str
) -> None:
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "make_sample.py"),
            "--layout",
            layout,
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / SAMPLE.name).read_bytes() == LAYOUT_SAMPLES[layout].read_bytes()


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_recognised_in_every_archive_format(
    tmp_path: Path, layout: str, fmt: str
) -> None:
    report = verify_file(make_backup(tmp_path, layout=layout, fmt=fmt))
    assert report.ok, report.problems
    assert report.layout == layout
    assert (report.dump_member, report.file_version) == EXPECTED[layout]


# ------------------------------------------------------------------ verify, from the CLI


@pytest.mark.parametrize("layout", LAYOUTS)
def test_verify_names_the_layout_in_text_and_json(layout: str) -> None:
    path = str(LAYOUT_SAMPLES[layout])
    text = run("verify", path)
    assert text.exit_code == 0, text.stderr
    line = text.stdout.strip()
    assert line.startswith(f"ok: {SAMPLE.name} (tar.xz, {layout}, ")
    assert ("file_version 2.0.0" in line) == (layout == "fermentrack-2.0.0")
    assert ("warning:" in text.stderr) == (layout == "unknown")
    data = run_json("verify", path)["archives"]
    assert data[0]["layout"] == layout
    assert data[0]["ok"] is True
    assert data[0]["file_version"] == EXPECTED[layout][1]
    warnings = data[0]["warnings"]
    if layout == "unknown":
        assert len(warnings) == 1 and warnings[0].startswith("unrecognised layout: ")
    else:
        assert warnings == []


def test_verify_of_an_unknown_layout_exits_0_with_a_warning_line(
    subprocess_env: dict[str, str],
) -> None:
    result = cli("verify", str(LAYOUT_SAMPLES["unknown"]), env=subprocess_env)
    assert result.returncode == 0
    assert result.stdout.startswith(f"ok: {SAMPLE.name} (tar.xz, unknown, 4 members, ")
    assert result.stderr.startswith(f"warning: {SAMPLE.name}: unrecognised layout")
    assert "Traceback" not in result.stderr


def test_verify_strict_refuses_an_unknown_layout(subprocess_env: dict[str, str]) -> None:
    path = str(LAYOUT_SAMPLES["unknown"])
    result = cli("verify", "--strict", path, env=subprocess_env)
    assert result.returncode == ExitCode.VERIFY
    assert result.stdout.startswith(f"FAILED: {SAMPLE.name}: unrecognised layout")
    assert "error: 1 archive(s) of an unrecognised layout (--strict)" in result.stderr
    assert "hint: " in result.stderr
    data = json.loads(cli("verify", "--strict", "--json", path, env=subprocess_env).stdout)[
        "archives"
    ]
    assert (data[0]["ok"], data[0]["error_code"], data[0]["layout"]) == (
        False,
        "unknown_layout",
        "unknown",
    )


@pytest.mark.parametrize("layout", ["fermentrack2", "fermentrack-2.0.0", "legacy-1.0.0"])
def test_verify_strict_accepts_every_recognised_layout(layout: str) -> None:
    result = run("verify", "--strict", str(LAYOUT_SAMPLES[layout]))
    assert result.exit_code == 0, result.stdout
    assert "warning" not in result.stderr


def test_verify_strict_with_remote_is_a_usage_error() -> None:
    result = run("verify", "--strict", "--remote", "--all", "--to", "local:/nonexistent")
    assert result.exit_code == ExitCode.USAGE
    assert "--strict" in result.stderr and "hint:" in result.stderr


# ------------------------------------------------------------------ upload, from the CLI


@pytest.mark.parametrize("layout", LAYOUTS)
def test_upload_to_a_local_folder_stores_every_layout(
    tmp_path: Path, subprocess_env: dict[str, str], layout: str
) -> None:
    src = _copy(LAYOUT_SAMPLES[layout], tmp_path / "backups")
    dest = _usb(tmp_path)
    result = cli("upload", str(src), "--to", f"local:{dest}", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"completed: {SAMPLE.name} -> ")
    stored = dest / "Fermentrack Backups" / SAMPLE.name
    assert stored.read_bytes() == src.read_bytes()
    warned = f"warning: {SAMPLE.name}: unrecognised layout" in result.stderr
    assert warned == (layout == "unknown")


def test_upload_strict_refuses_an_unknown_layout_and_records_why(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    src = _copy(LAYOUT_SAMPLES["unknown"], tmp_path / "backups")
    dest = _usb(tmp_path)
    result = cli("upload", "--strict", str(src), "--to", f"local:{dest}", env=subprocess_env)
    assert result.returncode == ExitCode.VERIFY
    assert "not a Fermentrack backup layout this tool recognises" in result.stderr
    assert "hint: " in result.stderr
    assert not (dest / "Fermentrack Backups" / SAMPLE.name).exists()
    rows = history()
    assert [(r.status, r.error_code) for r in rows] == [("failed", "unknown_layout")]


def test_upload_strict_uploads_recognised_layouts(tmp_path: Path) -> None:
    for layout in ("fermentrack2", "fermentrack-2.0.0", "legacy-1.0.0"):
        src = _copy(LAYOUT_SAMPLES[layout], tmp_path / "backups" / layout)
        dest = _usb(tmp_path, f"usb/{layout}")
        result = run("upload", "--strict", str(src), "--to", f"local:{dest}")
        assert result.exit_code == 0, result.stderr
        assert (dest / "Fermentrack Backups" / SAMPLE.name).is_file()


def test_quiet_upload_of_an_unknown_layout_prints_nothing(tmp_path: Path) -> None:
    src = _copy(LAYOUT_SAMPLES["unknown"], tmp_path / "backups")
    result = run("upload", "--quiet", str(src), "--to", f"local:{_usb(tmp_path)}")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


def test_upload_json_of_an_unknown_layout_keeps_stdout_pure_json(tmp_path: Path) -> None:
    src = _copy(LAYOUT_SAMPLES["unknown"], tmp_path / "backups")
    result = run("upload", "--json", str(src), "--to", f"local:{_usb(tmp_path)}")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["uploads"][0]["status"] == "completed"
    assert "unrecognised layout" in result.stderr


def test_upload_strict_with_no_check_is_a_usage_error(sample: Path, tmp_path: Path) -> None:
    result = run("upload", "--strict", "--no-check", str(sample), "--to", f"local:{tmp_path}")
    assert result.exit_code == ExitCode.USAGE
    assert "--strict" in result.stderr and "hint:" in result.stderr


# ------------------------------------------------------------------ recognition rules


def test_a_dumpdata_list_is_the_legacy_layout(tmp_path: Path) -> None:
    path = make_archive(tmp_path, [("db.json", _dump(ROWS)), ("data/1.csv", LOG)])
    report = verify_file(path)
    assert (report.ok, report.layout, report.dump_member) == (True, "legacy-1.0.0", "db.json")
    assert report.file_version is None


def test_an_empty_dumpdata_list_is_the_legacy_layout(tmp_path: Path) -> None:
    report = verify_file(make_archive(tmp_path, [("db.json", b"[]")]))
    assert report.layout == "legacy-1.0.0"


def test_a_dump_object_without_file_version_is_the_legacy_layout(tmp_path: Path) -> None:
    path = make_archive(tmp_path, [("backup.json", _dump({"beers": [], "brewpi_devices": []}))])
    report = verify_file(path)
    assert (report.ok, report.layout, report.file_version) == (True, "legacy-1.0.0", None)


@pytest.mark.parametrize("version", ["2.0.0", 3, {"major": 2, "minor": 0}, None])
def test_file_version_is_reported_whatever_its_value(tmp_path: Path, version: Any) -> None:
    path = make_archive(tmp_path, [("backup.json", _dump({"file_version": version}))])
    report = verify_file(path)
    assert (report.layout, report.file_version) == ("fermentrack-2.0.0", version)


@pytest.mark.parametrize(
    "dump", [{"beers": []}, {"file_version": "2.0.0", "beers": []}, ROWS, [1, 2], "text"]
)
def test_fermentrack2_member_names_decide_the_layout_whatever_the_dump_holds(
    tmp_path: Path, dump: Any
) -> None:
    members = [
        ("fermentrack_data.json", _dump(dump)),
        ("ferment_log_index.csv", b"uuid,beer\n"),
        ("data/0b6c8e52-8e4c-4f4a-9f57-1c2d3e4f5a6b.csv", LOG),
    ]
    report = verify_file(make_archive(tmp_path, members))
    assert (report.ok, report.layout, report.dump_member) == (
        True,
        "fermentrack2",
        "fermentrack_data.json",
    )
    expected = dump.get("file_version") if isinstance(dump, dict) else None
    assert report.file_version == expected


def test_fermentrack_data_json_without_the_index_is_judged_by_its_content(tmp_path: Path) -> None:
    report = verify_file(make_archive(tmp_path, [("fermentrack_data.json", _dump({"a": 1}))]))
    assert report.layout == "legacy-1.0.0"
    lonely = verify_file(make_archive(tmp_path / "b", [("ferment_log_index.csv", b"uuid\n")]))
    assert lonely.layout == "unknown"


def test_json_members_that_are_no_dump_leave_the_layout_unknown(tmp_path: Path) -> None:
    members = [("data/beer_1_log.csv", LOG), ("other.json", b"[1, 2]"), ("n.json", b"3")]
    report = verify_file(make_archive(tmp_path, members))
    assert report.ok
    assert (report.layout, report.dump_member, report.file_version) == ("unknown", None, None)
    assert report.members == 3


def test_the_object_with_file_version_wins_over_other_json_objects(tmp_path: Path) -> None:
    members = [
        ("settings.json", _dump({"theme": "dark"})),
        ("data/backup.json", _dump({"file_version": "2.0.0"})),
        ("more.json", _dump({"x": 1})),
    ]
    report = verify_file(make_archive(tmp_path, members))
    assert (report.layout, report.dump_member) == ("fermentrack-2.0.0", "data/backup.json")


# ------------------------------------------------------------------ damaged dumps


def _truncated_dump(tmp_path: Path, fmt: str = "tar.xz") -> Path:
    dump = json.dumps({"file_version": "2.0.0", "beers": [{"id": i} for i in range(50)]})
    return make_archive(tmp_path, [(DUMP_NAME, dump.encode()[:-40]), ("data/1.csv", LOG)], fmt)


@pytest.mark.parametrize("fmt", ["tar.xz", "zip"])
def test_a_truncated_dump_in_a_sound_archive_is_corrupt(tmp_path: Path, fmt: str) -> None:
    report = verify_file(_truncated_dump(tmp_path, fmt))
    assert not report.ok
    assert report.error_code == "corrupt_archive"
    assert report.layout is None
    assert f"the data dump {DUMP_NAME!r} is not valid JSON" in report.problems[0]
    assert "truncated" in report.problems[0]


def test_a_truncated_dump_is_refused_by_verify_and_upload(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    path = _truncated_dump(tmp_path / "backups")
    verified = cli("verify", str(path), env=subprocess_env)
    assert verified.returncode == ExitCode.VERIFY
    assert verified.stdout.startswith("FAILED:") and "not valid JSON" in verified.stdout
    dest = _usb(tmp_path)
    uploaded = cli("upload", str(path), "--to", f"local:{dest}", env=subprocess_env)
    assert uploaded.returncode == ExitCode.VERIFY
    assert "hint: the backup is damaged" in uploaded.stderr
    assert not (dest / "Fermentrack Backups" / path.name).exists()


def test_a_fermentrack2_dump_that_is_not_json_is_corrupt(tmp_path: Path) -> None:
    members = [("fermentrack_data.json", b"<html>oops"), ("ferment_log_index.csv", b"uuid\n")]
    report = verify_file(make_archive(tmp_path, members))
    assert report.error_code == "corrupt_archive"
    assert "fermentrack_data.json" in report.problems[0]


def test_a_broken_json_member_next_to_a_sound_dump_is_only_a_warning(tmp_path: Path) -> None:
    members = [
        (DUMP_NAME, _dump({"file_version": "2.0.0"})),
        *[(f"media/{i}.json", b"{nope") for i in range(5)],
    ]
    report = verify_file(make_archive(tmp_path, members))
    assert report.ok and report.layout == "fermentrack-2.0.0"
    assert len(report.warnings) == 4  # three named, then how many more
    assert report.warnings[0].startswith("member 'media/0.json' is not valid JSON")
    assert report.warnings[-1] == "and 2 more .json member(s) that are not valid JSON"


def test_a_file_version_with_control_characters_is_printed_escaped(tmp_path: Path) -> None:
    path = make_archive(tmp_path, [("b.json", _dump({"file_version": "2\x1b[31m\nX"}))])
    result = run("verify", str(path))
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and result.stdout.count("\n") == 1
    assert 'file_version "2\\u001b[31m\\nX"' in result.stdout


@pytest.mark.parametrize("fmt", ["tar.xz", "zip"])
def test_a_dump_repeated_with_a_broken_last_copy_is_judged_by_that_copy(
    tmp_path: Path, fmt: str
) -> None:
    """Extracting keeps the last copy of a repeated name: a sound first copy must not
    vouch for it."""
    import warnings

    from tests.samples import make_archive

    good = json.dumps({"file_version": "2.0.0", "beers": []}).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        path = make_archive(
            tmp_path, [("fermentrack_backup.json", good), ("fermentrack_backup.json", b"{not")], fmt
        )
    report = verify_file(path)
    assert not report.ok
    assert report.error_code == "corrupt_archive"
    assert any("not valid JSON" in p for p in report.problems)


def test_a_repeated_member_name_is_named_in_a_warning(tmp_path: Path) -> None:
    from tests.samples import make_archive

    good = json.dumps({"file_version": "2.0.0", "beers": []}).encode()
    path = make_archive(tmp_path, [("fermentrack_backup.json", good)] * 2)
    report = verify_file(path)
    assert report.ok
    assert any("appears more than once" in w for w in report.warnings)
