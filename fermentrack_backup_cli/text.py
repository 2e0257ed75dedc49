"""Text that comes from outside: which labels may be stored, and how any text is shown.

Labels, file names, account names and server messages can carry newlines, terminal
escape sequences (ESC [ ...) or bidi overrides that make a terminal lie about what it
shows. `check_label` refuses such a label where the user typed it, `derived_label`
cleans one the tool made up, and `safe_text` renders any text so a terminal shows
every such character as a visible escape (\\x1b, \\u202e) instead of obeying it.
Leaf module: stdlib only.
"""

from __future__ import annotations

import unicodedata

from . import errors

MAX_LABEL = 64
# Room left in a derived label for the " 2", " 3"... that makes it unique.
_SUFFIX_ROOM = 4
# Control (Cc: C0, DEL, C1 with CSI), format (Cf: bidi embeddings/overrides/isolates,
# zero-width characters, BOM), line/paragraph separators, and lone surrogates (an
# undecodable file name read with surrogateescape; printing one raises UnicodeEncodeError).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# A label must also avoid unassigned and private-use code points: nobody can see them.
_UNPRINTABLE_CATEGORIES = _UNSAFE_CATEGORIES | {"Cn", "Co"}

LABEL_HINT = f"use printable text of at most {MAX_LABEL} characters, e.g. --label usb"


def _is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(text: str) -> str:
    """`text` with every control, format, separator or surrogate character escaped."""
    if text.isprintable():  # the common case: nothing unsafe (or even unprintable) in it
        return text
    return "".join(_escape(c) if _is_unsafe(c) else c for c in text)


def label_problem(label: str) -> str | None:
    """Why `label` cannot be a connection label, or None when it can."""
    if not label.strip():
        return "it is empty"
    if len(label) > MAX_LABEL:
        return f"it is longer than {MAX_LABEL} characters"
    bad = next((c for c in label if unicodedata.category(c) in _UNPRINTABLE_CATEGORIES), None)
    if bad is not None:
        return f"it contains the non-printable character {_escape(bad)}"
    return None


def check_label(label: str) -> str:
    """A label the user gave, without surrounding spaces; InvalidValue (exit 2) when unfit."""
    cleaned = label.strip(" ")  # only spaces: a trailing newline is refused, not hidden
    problem = label_problem(cleaned)
    if problem is not None:
        raise errors.InvalidValue(f"invalid label '{safe_text(label)}': {problem}", LABEL_HINT)
    return cleaned


def derived_label(text: str, fallback: str) -> str:
    """A label made from outside text (an account name, a folder name): unprintable
    characters dropped, whitespace runs collapsed, cut to fit; `fallback` if nothing is left."""
    kept = "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c) not in _UNPRINTABLE_CATEGORIES
    )
    cleaned = " ".join(kept.split())
    limit = MAX_LABEL - _SUFFIX_ROOM
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned or fallback
