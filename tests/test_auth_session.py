"""The pending OAuth attempt: PKCE, state checks, expiry, the one-use store, pasted input."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.auth.session import (
    PENDING_TTL_SECONDS,
    PendingAuth,
    PendingStore,
    check_state,
    code_challenge_s256,
    new_pending,
    parse_pasted,
    restart_hint,
)

URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_code_challenge_matches_rfc7636_appendix_b() -> None:
    # RFC 7636 appendix B, checked against the RFC text (not "...WbuWGAMqrw-M").
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    pending = PendingAuth(state="s", code_verifier=verifier, redirect_uri=None, created_at=0.0)
    assert pending.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_pending_has_random_urlsafe_state_and_64_char_verifier() -> None:
    first = new_pending("http://localhost:53682/")
    second = new_pending(None)
    assert len(first.code_verifier) == 64
    assert set(first.code_verifier) <= URLSAFE
    assert len(first.state) >= 43 and set(first.state) <= URLSAFE
    assert first.state != second.state and first.code_verifier != second.code_verifier
    assert "=" not in first.code_challenge
    assert first.redirect_uri == "http://localhost:53682/" and second.redirect_uri is None


def test_pending_expires_after_ten_minutes() -> None:
    pending = new_pending(None, now=1000.0)
    assert not pending.expired(now=1000.0 + PENDING_TTL_SECONDS)
    assert pending.expired(now=1000.0 + PENDING_TTL_SECONDS + 0.001)
    assert PENDING_TTL_SECONDS == 600


def test_repr_redacts_state_and_verifier() -> None:
    pending = new_pending("http://localhost:1234/")
    text = repr(pending) + str(pending)
    assert pending.state not in text
    assert pending.code_verifier not in text
    assert "redacted" in text


def test_check_state_accepts_the_attempts_own_state() -> None:
    pending = new_pending(None, now=50.0)
    check_state(pending, pending.state, now=60.0)


@pytest.mark.parametrize("received", ["wrong", "", None, "é-not-ascii"])
def test_check_state_rejects_another_state_with_the_restart_hint(received: str | None) -> None:
    pending = new_pending(None, now=50.0)
    with pytest.raises(errors.InvalidState) as info:
        check_state(pending, received, now=60.0)
    assert info.value.message == "Invalid state parameter"
    assert info.value.hint == restart_hint()
    assert info.value.code == "invalid_state"
    assert pending.state not in str(info.value.to_dict())


def test_check_state_rejects_an_expired_attempt() -> None:
    pending = new_pending(None, now=0.0)
    with pytest.raises(errors.InvalidState):
        check_state(pending, pending.state, now=PENDING_TTL_SECONDS + 1)


def test_store_writes_a_0600_file_without_the_challenge(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "state" / "pending-auth.json")
    pending = new_pending("http://localhost:53682/")
    store.save(pending)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.load() == pending
    assert pending.code_challenge not in store.path.read_text()
    assert [p.name for p in store.path.parent.iterdir()] == ["pending-auth.json"]


def test_consume_is_single_use(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending-auth.json")
    pending = new_pending(None)
    store.save(pending)
    assert store.consume(pending.state) == pending
    assert not store.path.exists()
    with pytest.raises(errors.InvalidState) as info:
        store.consume(pending.state)
    assert info.value.hint == restart_hint()


def test_consume_with_a_wrong_state_fails_and_discards_the_attempt(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending-auth.json")
    pending = new_pending(None)
    store.save(pending)
    with pytest.raises(errors.InvalidState):
        store.consume("not-the-state")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_consumers_succeed_at_most_once(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending-auth.json")
    pending = new_pending(None)
    store.save(pending)
    results: list[str] = []

    def consume() -> None:
        try:
            store.consume(pending.state)
            results.append("ok")
        except errors.InvalidState:
            results.append("invalid")

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["invalid"] * 7 + ["ok"]


def test_load_rejects_missing_corrupt_and_expired_attempts(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending-auth.json")
    with pytest.raises(errors.InvalidState, match="no link attempt"):
        store.load()
    store.path.write_text('{"state": "secret-ish", "code_verifier": 3')
    with pytest.raises(errors.InvalidState, match="unreadable") as info:
        store.load()
    assert "secret-ish" not in str(info.value)
    store.path.write_text('{"state": 1, "code_verifier": 2, "redirect_uri": null, "created_at": 0}')
    with pytest.raises(errors.InvalidState, match="unreadable"):
        store.load()
    pending = new_pending(None, now=0.0)
    store.save(pending)
    with pytest.raises(errors.InvalidState) as expired:
        store.load(now=PENDING_TTL_SECONDS + 1)
    assert expired.value.hint == restart_hint()
    with pytest.raises(errors.InvalidState):
        store.consume(pending.state, now=PENDING_TTL_SECONDS + 1)


def test_clear_removes_the_attempt_and_tolerates_none(tmp_path: Path) -> None:
    store = PendingStore(tmp_path / "pending-auth.json")
    store.clear()
    store.save(new_pending(None))
    store.clear()
    assert not store.path.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  AbC123_-xyz.~AbC123_-xyz.~\n", ("AbC123_-xyz.~AbC123_-xyz.~", None, None)),
        (
            "http://localhost:53682/?code=the-code&state=the-state",
            ("the-code", "the-state", None),
        ),
        (
            " http://localhost:53682/?state=s1&code=c1&extra=1 ",
            ("c1", "s1", None),
        ),
        (
            "http://localhost:53682/?error=access_denied"
            "&error_description=The+user+chose+not+to+give+your+app+access&state=s2",
            (None, "s2", "access_denied"),
        ),
        ("?code=c3&state=s3", ("c3", "s3", None)),
        ("code=c4&state=s4", ("c4", "s4", None)),
    ],
)
def test_parse_pasted_accepts_codes_and_redirect_addresses(
    text: str, expected: tuple[str | None, str | None, str | None]
) -> None:
    assert parse_pasted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "http://localhost:53682/",
        "http://localhost:53682/?state=only",
        "http://localhost:53682/?code=c5",
        "short-code",
        "http://localhost:53682/?code=&state=s",
        "two words",
        "<script>",
    ],
)
def test_parse_pasted_rejects_bad_input_with_a_hint(text: str) -> None:
    with pytest.raises(errors.UsageError) as info:
        parse_pasted(text)
    assert info.value.hint
    assert info.value.exit_code == errors.ExitCode.USAGE


@pytest.mark.parametrize(
    "text",
    [
        "http://localhost:53682/?code=" + "c" * 43,  # cut before &state=
        "http://localhost:53682/?state=" + "s" * 43,  # cut before &code= (state first)
        "Ab3dE5gH1",  # the first part of a 43-character code
    ],
)
def test_a_truncated_paste_is_called_truncated_with_a_hint_to_copy_the_whole_line(
    text: str,
) -> None:
    with pytest.raises(errors.UsageError) as info:
        parse_pasted(text)
    assert "looks truncated" in info.value.message
    assert info.value.hint is not None and "whole line" in info.value.hint


def test_a_whole_bare_code_is_accepted() -> None:
    code = "Ab3dE5gH1-" * 4 + "xyz"
    assert parse_pasted(code) == (code, None, None)
