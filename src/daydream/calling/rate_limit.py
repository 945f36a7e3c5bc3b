"""Requests per minute to a provider, held across every process on this machine that calls it
(the Snakemake process's call engine, jobs on this node, another run): the times of recent
requests live in a small file under the temp folder, read and updated under a file lock."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

from filelock import FileLock

WINDOW_S = 60.0


def limit_file(base_url: str, api_key_env: str | None) -> Path:
    """One file per provider URL and key variable: the limit is the provider's, whoever calls."""
    digest = hashlib.sha256(f"{base_url}\n{api_key_env}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "daydream-rate-limits" / f"{digest}.json"


def wait_turn(path: Path, per_minute: int, sleep=time.sleep, clock=time.time, window_s: float | None = None) -> float:
    """Block until a request may start (at most per_minute in any window of WINDOW_S seconds),
    record it, and return the time waited. `sleep` may raise to stop waiting (a stopping run)."""
    window_s = window_s or WINDOW_S
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = 0.0
    while True:
        with FileLock(path.with_suffix(".lock")):
            now = clock()
            try:
                recent = [t for t in json.loads(path.read_text()) if now - t < window_s]
            except (OSError, ValueError, TypeError):
                recent = []
            if len(recent) < per_minute:
                path.write_text(json.dumps(sorted([*recent, now])))
                return waited
            wait = min(recent) + window_s - now
        sleep(wait)
        waited += wait
