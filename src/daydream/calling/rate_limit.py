"""Requests per minute to a provider, held across every process of this user on this machine
that calls it (the Snakemake process's call engine, jobs on this node, another run): the times
of recent requests live in a small file, read and updated under an OS lock on that file.

The file is this user's private state: it lives in a folder only the user can enter
($XDG_RUNTIME_DIR/daydream, else <temp>/daydream-<uid>), created with mode 0700; a folder of
that name owned by someone else, open to others, or a link, is refused with the fix. The file is
opened without following a link, and its contents are not trusted: anything that is not a recent
time (crafted, cut short, or in the future after the clock stepped back) is dropped, so the
wait is never longer than the window."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import stat
import tempfile
import time
from pathlib import Path

from daydream.errors import InputError

WINDOW_S = 60.0
FUTURE_SLACK_S = 1.0  # a time later than now by more than this is a clock that stepped back


def state_dir() -> Path:
    """This user's private folder for state shared by its processes (made when missing)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "daydream" if runtime and os.path.isabs(runtime) else None
    candidates = [base] if base is not None else []
    candidates.append(Path(tempfile.gettempdir()) / f"daydream-{os.getuid()}")
    problem = ""
    for folder in candidates:
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            problem = f"{folder}: {exc.strerror}"
            continue
        info = os.lstat(folder)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            problem = f"{folder} is not a folder (a link?)"
        elif info.st_uid != os.getuid():
            problem = f"{folder} belongs to another user (uid {info.st_uid})"
        elif info.st_mode & 0o077:
            problem = f"{folder} is open to other users (mode {stat.S_IMODE(info.st_mode):o})"
        else:
            return folder
    raise InputError(
        f"no private folder for the rate limit's state: {problem}; remove it (it is this workflow's "
        "own), or set XDG_RUNTIME_DIR to a folder only you can enter",
        field="requests_per_minute",
    )


def limit_file(base_url: str, api_key_env: str | None) -> Path:
    """One file per provider URL and key variable: the limit is the provider's, whoever calls."""
    digest = hashlib.sha256(f"{base_url}\n{api_key_env}".encode()).hexdigest()[:16]
    return state_dir() / f"rate-{digest}.json"


def recent_times(text: str, now: float, window_s: float, per_minute: int) -> list[float]:
    """The request times in a state file's text that fall in the window ending now, latest
    per_minute of them; everything else (not numbers, not finite, in the future) is dropped."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    times = [
        t
        for t in data
        if isinstance(t, int | float)
        and not isinstance(t, bool)
        and math.isfinite(t)
        and now - window_s < t <= now + FUTURE_SLACK_S
    ]
    return sorted(times)[-per_minute:]


def _open_state(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("is a link: the rate limit's state is never written through one", file=path) from None
        raise


def wait_turn(path: Path, per_minute: int, sleep=time.sleep, clock=time.time, window_s: float | None = None) -> float:
    """Block until a request may start (at most per_minute in any window of WINDOW_S seconds),
    record it, and return the time waited. `sleep` may raise to stop waiting (a stopping run)."""
    window_s = window_s or WINDOW_S
    waited = 0.0
    while True:
        fd = _open_state(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = clock()
            with os.fdopen(os.dup(fd), "r+", encoding="utf-8", errors="replace") as handle:
                recent = recent_times(handle.read(1_000_000), now, window_s, per_minute)
                if len(recent) < per_minute:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps([*recent, now]))
                    handle.flush()
                    return waited
            wait = min(window_s, max(0.0, min(recent) + window_s - now))
        finally:
            os.close(fd)  # and with it the lock
        sleep(wait)
        waited += wait
