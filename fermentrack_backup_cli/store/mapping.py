"""sqlite3 errors -> BackupErrors with a hint, for every method of every table.

A damaged page is often found only by a later query, long after the open succeeded,
so each table class is decorated with `mapped`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .. import errors


def database_error(path: Path, exc: sqlite3.DatabaseError | OverflowError) -> errors.BackupError:
    """What a failing query means for the user."""
    text = str(exc)
    if isinstance(exc, OverflowError):  # a Python int beyond SQLite's 64 bits
        return errors.InvalidValue(
            f"a number is too large for the history database ({text})",
            "use a smaller number (see the command's --help)",
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return errors.BackupError(
            f"the history database {path} refused a change: {text}",
            "run the command again; if it persists, report it with the output of --debug",
            code="history_refused",
        )
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return errors.Locked(
            f"the history database {path} is busy: {text}",
            "another fermentrack-backup run is using it: wait for it to finish, then run again",
            code="history_busy",
        )
    if isinstance(exc, sqlite3.OperationalError) and "no such" not in text:
        return errors.BackupError(
            f"cannot use the history database {path}: {text}",
            "check the data directory's permissions and free space",
            code="history_unavailable",
        )
    return errors.BackupError(  # malformed page, not a database, missing tables
        f"the history database {path} is damaged: {text}",
        f"move it away with its -wal and -shm files (e.g. `mkdir '{path.parent}/damaged' && "
        f"mv '{path}'* '{path.parent}/damaged/'`): the tool then starts a new, empty history, "
        "and connections have to be linked again",
        code="history_damaged",
    )


_Method = TypeVar("_Method", bound=Callable[..., Any])
_Cls = TypeVar("_Cls", bound=type)


def _mapped_method(method: _Method) -> _Method:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # our own bug (a closed database, a bad parameter type): stay loud
        except (sqlite3.DatabaseError, OverflowError) as exc:
            raise database_error(self.db.path, exc) from None

    return cast(_Method, wrapper)


def mapped(cls: _Cls) -> _Cls:
    """Wrap every public method of a table class (whose `db` is the Database), so no
    sqlite3 error leaves the store as anything but a BackupError; methods added later
    are covered too."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, _mapped_method(value))
    return cls
