"""The Dropbox target against the fake over real HTTPS: listing, stat, download, delete."""

from __future__ import annotations

from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.core.context import Context


def target(make_dropbox_conn: Any) -> Any:
    from tests.cli_helpers import target_of

    return target_of(Context.create(), make_dropbox_conn())


def test_listing_paginates_over_thousands_of_files(
    fake_dropbox: Any, make_dropbox_conn: Any
) -> None:
    fake_dropbox.list_page_size = 500
    for i in range(2100):
        fake_dropbox.put_file(f"/Fermentrack Backups/{i:05d}.tar.xz", b"x")
    files = list(target(make_dropbox_conn).list_files())
    assert len(files) == 2100
    assert files[0].content_hash is not None
    assert len(fake_dropbox.requests_to("files/list_folder/continue")) >= 4


def test_a_missing_folder_lists_nothing_and_stat_is_none(
    fake_dropbox: Any, make_dropbox_conn: Any
) -> None:
    t = target(make_dropbox_conn)
    assert list(t.list_files()) == []
    assert t.stat("nope.tar.xz") is None


def test_download_streams_and_resumes_with_a_range(
    fake_dropbox: Any, make_dropbox_conn: Any
) -> None:
    data = bytes(range(256)) * 1000
    fake_dropbox.put_file("/Fermentrack Backups/a.tar.xz", data)
    t = target(make_dropbox_conn)
    with t.open_read("a.tar.xz") as stream:
        assert stream.read() == data
    with t.open_read("a.tar.xz", offset=1000) as stream:
        assert stream.read() == data[1000:]


def test_delete_single_and_batch(fake_dropbox: Any, make_dropbox_conn: Any) -> None:
    for i in range(5):
        fake_dropbox.put_file(f"/Fermentrack Backups/{i}.tar.xz", b"x")
    t = target(make_dropbox_conn)
    assert t.delete(["0.tar.xz"]) == ["0.tar.xz"]
    assert sorted(t.delete(["1.tar.xz", "2.tar.xz", "3.tar.xz"])) == [
        "1.tar.xz",
        "2.tar.xz",
        "3.tar.xz",
    ]
    assert [f.name for f in t.list_files()] == ["4.tar.xz"]


def test_account_and_space_usage(fake_dropbox: Any, make_dropbox_conn: Any) -> None:
    t = target(make_dropbox_conn)
    account = t.account()
    assert account.email == fake_dropbox.email
    space = t.space()
    assert space.allocated == fake_dropbox.quota_allocated


def test_rate_limits_are_retried_with_bounds(fake_dropbox: Any, make_dropbox_conn: Any) -> None:
    t = target(make_dropbox_conn)
    sleeps: list[float] = []
    t.retry.sleep = sleeps.append
    fake_dropbox.inject("users/get_space_usage", "429", times=2, retry_after=3)
    t.space()
    assert len(sleeps) == 2
    assert all(s >= 3 for s in sleeps)
    fake_dropbox.inject("users/get_space_usage", "503", times=50)
    with pytest.raises(errors.RetryExhausted):
        t.space()
    assert len(sleeps) == 2 + t.retry.max_attempts - 1


def test_a_revoked_refresh_token_means_needs_relink(
    fake_dropbox: Any, make_dropbox_conn: Any
) -> None:
    t = target(make_dropbox_conn)
    fake_dropbox.revoke_all_tokens()
    with pytest.raises(errors.NeedsRelink):
        t.account()


def test_a_server_that_stops_answering_is_named_a_stall_not_a_lost_connection(
    fake_dropbox: Any,
) -> None:
    import requests

    from fermentrack_backup_cli.providers.dropbox.convert import convert

    fake_dropbox.inject("files/get_metadata", "stall")
    with pytest.raises(requests.exceptions.ReadTimeout) as info:
        requests.post(
            f"{fake_dropbox.base_url}/2/files/get_metadata",
            json={"path": "/x"},
            timeout=(5, 0.5),
            verify=str(fake_dropbox.ca_path),
        )
    error = convert(info.value, "uploading a.tar.xz at 4194304")
    assert isinstance(error, errors.Transient)  # retried, as any network failure
    assert error.code == "stalled"
    assert error.message == (
        "Dropbox stopped answering while uploading a.tar.xz at 4194304 "
        "(no answer in 0.5 s: the connection stalled)"
    )
