"""One running `snakemake` per cohort, across checkouts that share a data root.

Snakemake locks its working directory (`.snakemake/`), not the files it writes. Two runs of one
cohort from two checkouts would each delete and rewrite the same targets (Snakemake removes a
job's outputs before running it and checks their times after), failing each other's jobs. The
cohort's folder under the data root therefore carries an OS file lock, held by the run's main
process until it exits (a killed run's lock goes with it, no unlocking needed)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import read_json_object, write_json_atomic
from daydream.store.layout import RUN_LOCK, RUN_OWNER, StoreLayout
from daydream.store.locks import Busy, StoreLock


class CohortBusy(Exception):
    pass


def acquire_run_lock(store: StoreLayout, cohort_id: str, checkout: str | Path) -> StoreLock:
    """Hold the cohort's run lock (keep the returned lock referenced for the run's lifetime), or
    raise CohortBusy naming the run that holds it."""
    cohort_dir = store.cohort_dir(cohort_id)
    lock = StoreLock(cohort_dir / RUN_LOCK)
    try:
        lock.acquire(wait=False)
    except Busy:
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
        owner = read_json_object(cohort_dir / RUN_OWNER)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner["since"])))
        pid, host, checkout = (str(owner[key])[:200] for key in ("pid", "host", "checkout"))
        return f"pid {pid} on {host}, from {checkout}, since {started}"
    except (OSError, ValueError, KeyError, TypeError, OverflowError, InputError):
        return "owner unknown"
