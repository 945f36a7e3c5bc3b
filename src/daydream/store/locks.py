"""OS locks on files under a data root, opened without following a link (fileio.py): held by
an open file description, so a process that dies (even by kill -9) lets go of its locks. Used
for the cohort's run lock and the request locks."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from daydream.fileio import open_file


class Busy(Exception):
    """The lock is held by someone else (a try-lock that did not wait)."""


class StoreLock:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, wait: bool = True) -> StoreLock:
        fd = open_file(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise Busy(str(self.path)) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
