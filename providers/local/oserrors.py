"""Translation of OS and SQLite failures into the provider exception tree."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from providers.errors import (
    AlreadyExistsError,
    ConflictError,
    InsufficientStorageError,
    InvalidPathError,
    NotFoundError,
    ProviderError,
    StorageIOError,
)

P = ParamSpec("P")
R = TypeVar("R")

_FULL = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(exc: OSError) -> bool:
    """True if ``exc`` reports a full disk or an exhausted quota."""
    return exc.errno in _FULL


def map_os_error(exc: OSError, what: str) -> ProviderError:
    """The provider error for an OSError raised while working on ``what``.

    ENOSPC/EDQUOT become InsufficientStorageError; ENOENT and ELOOP (a refused symlink)
    NotFoundError; ENOTDIR/EISDIR ConflictError; EEXIST/ENOTEMPTY AlreadyExistsError;
    ENAMETOOLONG InvalidPathError; everything else StorageIOError.
    """
    code = exc.errno
    message = f"{what}: {exc.strerror or exc}"
    if code in _FULL:
        return InsufficientStorageError(message)
    if code in (errno.ENOENT, errno.ELOOP):
        return NotFoundError(message)
    if code in (errno.ENOTDIR, errno.EISDIR):
        return ConflictError(message)
    if code in (errno.EEXIST, errno.ENOTEMPTY):
        return AlreadyExistsError(message)
    if code == errno.ENAMETOOLONG:
        return InvalidPathError(message)
    return StorageIOError(message)


def map_db_error(exc: sqlite3.Error) -> ProviderError:
    """The provider error for a failure of the metadata database."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "full" in text.lower():
        return InsufficientStorageError(f"metadata database: {text}")
    return StorageIOError(f"metadata database: {text}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise OSError and sqlite3.Error from the block as provider errors.

    Provider errors pass through unchanged.
    """
    try:
        yield
    except ProviderError:
        raise
    except OSError as exc:
        raise map_os_error(exc, what) from exc
    except sqlite3.Error as exc:
        raise map_db_error(exc) from exc


def translate_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of ``translated`` (the message names the function)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated(func.__name__):
            return func(*args, **kwargs)

    return wrapper
