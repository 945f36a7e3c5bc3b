"""Snakemake's scheduler without its idle re-evaluation chains: the one place this project
reaches into Snakemake's internals (docs/performance.md, "Snakemake's re-evaluation timers").

With a job-rate limit (Snakemake always has one: `--max-jobs-per-timespan`, 100/1s by default,
10000/1s in our profile), every scheduling round that leaves ready jobs waiting ends by starting
a `threading.Timer` that releases the scheduler again after the timespan. Each such round comes
from a finished job or from an earlier timer, so every finished job starts a chain of rounds, one
a second, that lasts as long as jobs wait; a cube whose jobs wait on a provider cap has hundreds
of chains, and each round weighs the ready jobs: one core busy for the whole run.

The timer is only needed when the rate limit held jobs back in that round: then nothing else
would wake the scheduler when the window reopens. When the round's selection took fewer jobs than
the limiter allowed, a waiting job waits for a resource or a parent, and the job that frees it
wakes the scheduler when it finishes. So: no timer after a round the limit did not bind (the
limiter records what it allowed and what was taken); otherwise at most one pending timer per
scheduler and delay. Snakemake's other use of the method (waiting for queue input) keeps its
timer, one at a time.

Guarded: `install()` patches only a Snakemake of the range pyproject.toml declares whose
scheduler still looks as this module expects (the method, its call with the timespan, the
limiter's `get_free_jobs`); otherwise it changes nothing and says why (runs stay correct, only
busier). tests/test_scheduler_timers.py fails when an upgrade changes any of it."""

from __future__ import annotations

import inspect
import threading

SUPPORTED = ((9, 0), (10, 0))  # Snakemake versions this was checked against: [from, to)
_ORIGINAL = "_daydream_original_schedule_reevalutation"


def _version() -> tuple[int, int]:
    from snakemake import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    return major, minor


def why_not() -> str | None:
    """Why the patch cannot be installed in this Snakemake, or None when it can."""
    if not SUPPORTED[0] <= _version() < SUPPORTED[1]:
        return f"Snakemake {'.'.join(map(str, _version()))} is outside {SUPPORTED}"
    from snakemake.scheduling import job_scheduler

    scheduler = getattr(job_scheduler, "JobScheduler", None)
    limiter = getattr(job_scheduler, "JobRateLimiter", None)
    if scheduler is None or limiter is None:
        return "snakemake.scheduling.job_scheduler has no JobScheduler or JobRateLimiter"
    method = getattr(scheduler, _ORIGINAL, None) or getattr(scheduler, "_schedule_reevalutation", None)
    if method is None or list(inspect.signature(method).parameters) != ["self", "delay"]:
        return "JobScheduler._schedule_reevalutation(self, delay) is gone or changed"
    if "threading.Timer" not in inspect.getsource(method):
        return "JobScheduler._schedule_reevalutation no longer starts a threading.Timer"
    if "self._schedule_reevalutation(self.job_rate_limiter.timespan)" not in inspect.getsource(scheduler.schedule):
        return "JobScheduler.schedule no longer re-evaluates after the rate limiter's timespan"
    for name in ("get_free_jobs", "register_jobs"):
        original = getattr(limiter, f"_daydream_original_{name}", None) or getattr(limiter, name, None)
        if not callable(original):
            return f"JobRateLimiter.{name} is gone"
    if not isinstance(getattr(limiter, "timespan", None), property):
        return "JobRateLimiter.timespan is gone"
    selector = inspect.getsource(scheduler.job_selector)
    if "get_free_jobs()" not in selector or "register_jobs(len(selected))" not in selector:
        return "JobScheduler.job_selector no longer asks the limiter and registers the selection"
    return None


def _get_free_jobs(self) -> int:
    free = self._daydream_original_get_free_jobs()
    self._daydream_allowed, self._daydream_taken = free, 0
    return free


def _register_jobs(self, n_jobs: int) -> None:
    self._daydream_original_register_jobs(n_jobs)
    self._daydream_taken = n_jobs


def _limit_bound(limiter) -> bool:
    """Whether the last selection was held back by the rate limit (or nothing is known of it)."""
    allowed = getattr(limiter, "_daydream_allowed", None)
    return allowed is None or allowed == 0 or getattr(limiter, "_daydream_taken", 0) >= allowed


def _schedule_reevaluation(self, delay) -> None:
    limiter = getattr(self, "job_rate_limiter", None)
    if limiter is not None and delay == limiter.timespan and not _limit_bound(limiter):
        return  # the limit held nothing back: a finished job will wake the scheduler
    pending = self.__dict__.setdefault("_daydream_pending_timers", {})
    guard = self.__dict__.setdefault("_daydream_timer_lock", threading.Lock())
    with guard:
        if pending.get(delay):
            return  # one round after this delay is already coming

        def release() -> None:
            with guard:
                pending[delay] = False
            self._open_jobs.release()

        pending[delay] = True
        timer = threading.Timer(delay, release)
        timer.daemon = True
        timer.start()


def install() -> str | None:
    """Patch Snakemake's scheduler (idempotent). Returns None when installed, else the reason it
    was not."""
    reason = why_not()
    if reason is not None:
        return reason
    from snakemake.scheduling.job_scheduler import JobRateLimiter, JobScheduler

    if not hasattr(JobScheduler, _ORIGINAL):
        setattr(JobScheduler, _ORIGINAL, JobScheduler._schedule_reevalutation)
        JobScheduler._schedule_reevalutation = _schedule_reevaluation
        for name, replacement in (("get_free_jobs", _get_free_jobs), ("register_jobs", _register_jobs)):
            setattr(JobRateLimiter, f"_daydream_original_{name}", getattr(JobRateLimiter, name))
            setattr(JobRateLimiter, name, replacement)
    return None


def installed() -> bool:
    from snakemake.scheduling.job_scheduler import JobScheduler

    return JobScheduler._schedule_reevalutation is _schedule_reevaluation
