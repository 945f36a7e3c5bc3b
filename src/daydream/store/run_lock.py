"""One running `snakemake` per cohort, across checkouts that share a data root.

Snakemake locks its working directory (`.snakemake/`), not the files it writes. Two runs of one
cohort from two checkouts would each delete and rewrite the same targets (Snakemake removes a
job's outputs before running it and checks their times after), failing each other's jobs. The
cohort's folder under the data root therefore carries an OS file lock, held by the run's main
process until it exits (a killed run's lock goes with it, no unlocking needed)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from daydream.store.fileio import write_json_atomic
from daydream.store.layout import RUN_LOCK, RUN_OWNER, StoreLayout


class CohortBusy(Exception):
    pass


def acquire_run_lock(store: StoreLayout, cohort_id: str, checkout: str | Path) -> FileLock:
    """Hold the cohort's run lock (keep the returned lock referenced for the run's lifetime), or
    raise CohortBusy naming the run that holds it."""
    cohort_dir = store.cohort_dir(cohort_id)
    cohort_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(cohort_dir / RUN_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CohortBusy(
            f"cohort {cohort_dir.name} is being run right now by another snakemake ({describe_owner(cohort_dir)}) "
            f"on this data root ({cohort_dir.parent.parent}). Each of its generations is made once: wait for that "
            "run to end, then run this command again (it finds the finished work and pays for nothing twice)."
        ) from None
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "checkout": str(checkout), "since": time.time()}
    write_json_atomic(cohort_dir / RUN_OWNER, owner)
    return lock


def describe_owner(cohort_dir: Path) -> str:
    try:
        owner = json.loads((cohort_dir / RUN_OWNER).read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner["since"])))
        return f"pid {owner['pid']} on {owner['host']}, from {owner['checkout']}, since {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "owner unknown"
