"""Snakemake's scheduler without its idle work: the one place this project reaches into
Snakemake's internals (docs/performance.md, "Snakemake's scheduler while jobs wait").

A run whose jobs wait on a provider spends its CPU in Snakemake's scheduling rounds, not in its
own work. Four changes, each leaving what the scheduler decides as it was:

1. **No idle re-evaluation chains.** With a job-rate limit (Snakemake always has one:
   `--max-jobs-per-timespan`, 100/1s by default, 10000/1s in our profile) every round that leaves
   ready jobs waiting starts a `threading.Timer` that wakes the scheduler again after the
   timespan, so every finished job starts a chain of rounds, one a second, for as long as jobs
   wait. The timer is only needed when the rate limit held jobs back in that round (nothing else
   would wake the scheduler when the window reopens); otherwise the job that frees a resource
   wakes it when it finishes. So: no timer after a round the limit did not bind (the limiter
   records what it allowed and what was taken), and at most one pending timer per delay.
2. **One round for the wake-ups that came while a round ran.** The scheduler is woken through a
   semaphore, one release per finished job, so it runs one round per finished job even when one
   round has already taken in all of them (the finished jobs are kept in lists, read whole by the
   round). Here the wake-ups coalesce: a round takes in everything that came before it started.
3. **The remaining jobs listed only for a selector that reads them.** Each round lists every job
   of the DAG that is neither running nor finished (`remaining_jobs`) for the selector; the greedy
   selector never reads it. Here the list is made on first use (the ILP selector still gets it).
4. **Each input's size read once.** Each round stats every input of the ready jobs it weighs (the
   selector prefers jobs with larger inputs), though a ready job's inputs are complete and no
   longer change; a job waiting on a provider is weighed in many rounds. Here a round reads the
   sizes of inputs not read before; when Snakemake is about to prune the sizes it keeps (above
   10,000, to those of the jobs it is given), it is given all the round's jobs, as before.

Guarded: `install()` patches only a Snakemake of the range pyproject.toml declares whose
scheduler still looks as this module expects (`why_not` names what changed); otherwise it changes
nothing and says why (runs stay correct, only busier). tests/test_scheduler_patch.py fails when an
upgrade changes any of it."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence

SUPPORTED = ((9, 0), (10, 0))  # Snakemake versions this was checked against: [from, to)
_ORIGINAL = "_daydream_original_"  # prefix of the originals kept on the patched classes
PRUNED_ABOVE = 10000  # input sizes kept: above this many, Snakemake keeps only those of the jobs it is given


def _version() -> tuple[int, int]:
    from snakemake import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    return major, minor


def _original(cls, name: str):
    return getattr(cls, _ORIGINAL + name, None) or cls.__dict__.get(name)


def _source(cls, name: str) -> str:
    member = _original(cls, name)
    function = member.fget if isinstance(member, property) else member
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def why_not() -> str | None:
    """Why the patch cannot be installed in this Snakemake, or None when it can."""
    if not SUPPORTED[0] <= _version() < SUPPORTED[1]:
        return f"Snakemake {'.'.join(map(str, _version()))} is outside {SUPPORTED}"
    from snakemake.scheduling import job_scheduler

    scheduler = getattr(job_scheduler, "JobScheduler", None)
    limiter = getattr(job_scheduler, "JobRateLimiter", None)
    if scheduler is None or limiter is None:
        return "snakemake.scheduling.job_scheduler has no JobScheduler or JobRateLimiter"
    method = _original(scheduler, "_schedule_reevalutation")
    if method is None or list(inspect.signature(method).parameters) != ["self", "delay"]:
        return "JobScheduler._schedule_reevalutation(self, delay) is gone or changed"
    if "threading.Timer" not in _source(scheduler, "_schedule_reevalutation"):
        return "JobScheduler._schedule_reevalutation no longer starts a threading.Timer"
    schedule = _source(scheduler, "schedule")
    if "self._schedule_reevalutation(self.job_rate_limiter.timespan)" not in schedule:
        return "JobScheduler.schedule no longer re-evaluates after the rate limiter's timespan"
    for name in ("get_free_jobs", "register_jobs"):
        if not callable(_original(limiter, name)):
            return f"JobRateLimiter.{name} is gone"
    if not isinstance(getattr(limiter, "timespan", None), property):
        return "JobRateLimiter.timespan is gone"
    selector = _source(scheduler, "job_selector")
    if "get_free_jobs()" not in selector or "register_jobs(len(selected))" not in selector:
        return "JobScheduler.job_selector no longer asks the limiter and registers the selection"
    if "self._open_jobs = threading.Semaphore(0)" not in _source(scheduler, "__init__"):
        return "JobScheduler.__init__ no longer makes its wake-up semaphore"
    if "self._open_jobs.acquire()" not in schedule or "self._finish_jobs()" not in schedule:
        return "JobScheduler.schedule no longer waits on its semaphore, then takes in finished jobs"
    if not isinstance(_original(scheduler, "remaining_jobs"), property):
        return "JobScheduler.remaining_jobs is no longer a property"
    if "self.remaining_jobs, self.resources, self._input_sizes" not in selector:
        return "JobScheduler.job_selector no longer hands remaining jobs and input sizes to the selector"
    if "self.update_input_sizes(jobs)" not in selector:
        return "JobScheduler.job_selector no longer updates the input sizes"
    if not inspect.iscoroutinefunction(_original(scheduler, "update_input_sizes")):
        return "JobScheduler.update_input_sizes is no longer a coroutine"
    sizes = _source(scheduler, "update_input_sizes")
    if "self._input_sizes.update(" not in sizes or f"len(self._input_sizes) > {PRUNED_ABOVE}" not in sizes:
        return "JobScheduler.update_input_sizes no longer keeps the sizes in self._input_sizes, pruned as before"
    return None


# 1. No idle re-evaluation chains


def _get_free_jobs(self) -> int:
    free = getattr(self, _ORIGINAL + "get_free_jobs")()
    self._daydream_allowed, self._daydream_taken = free, 0
    return free


def _register_jobs(self, n_jobs: int) -> None:
    getattr(self, _ORIGINAL + "register_jobs")(n_jobs)
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


# 2. One round for the wake-ups that came while a round ran


class Wakeups:
    """The scheduler's wake-up semaphore, coalescing: `acquire` waits for at least one `release`
    since the last acquire and takes in all of them."""

    def __init__(self, pending: int = 0):
        self._condition = threading.Condition(threading.Lock())
        self._pending = pending

    def release(self, n: int = 1) -> None:
        with self._condition:
            self._pending += n
            self._condition.notify()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        with self._condition:
            if not blocking:
                timeout = 0
            if not self._condition.wait_for(lambda: self._pending > 0, timeout):
                return False
            self._pending = 0
            return True


def _init(self, *args, **kwargs) -> None:
    getattr(type(self), _ORIGINAL + "__init__")(self, *args, **kwargs)
    pending = 0
    while self._open_jobs.acquire(blocking=False):  # the release __init__ made, kept
        pending += 1
    self._open_jobs = Wakeups(pending)


# 3. The remaining jobs listed on first use


class Deferred(Sequence):
    """A list made by `compute` when first read."""

    def __init__(self, compute: Callable[[], list]):
        self._compute: Callable[[], list] | None = compute
        self._items: list = []

    def _list(self) -> list:
        if self._compute is not None:
            self._items, self._compute = self._compute(), None
        return self._items

    def __getitem__(self, index):
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())

    def __iter__(self):
        return iter(self._list())

    def __contains__(self, item) -> bool:
        return item in self._list()


def _remaining_jobs(self) -> Deferred:
    listing = getattr(type(self), _ORIGINAL + "remaining_jobs").fget
    return Deferred(lambda: listing(self))


# 4. Each input's size read once


async def _update_input_sizes(self, jobs) -> None:
    known = self._input_sizes
    new = {path for job in jobs for path in job.input if path not in known}
    if not new:
        return
    if len(known) + len(new) <= PRUNED_ABOVE:
        jobs = [job for job in jobs if not new.isdisjoint(job.input)]
    # else it will prune: every job weighed this round must keep its sizes, so it gets them all
    await getattr(type(self), _ORIGINAL + "update_input_sizes")(self, jobs)


def install() -> str | None:
    """Patch Snakemake's scheduler (idempotent). Returns None when installed, else the reason it
    was not."""
    reason = why_not()
    if reason is not None:
        return reason
    from snakemake.scheduling.job_scheduler import JobRateLimiter, JobScheduler

    replacements = [
        (JobScheduler, "_schedule_reevalutation", _schedule_reevaluation),
        (JobScheduler, "__init__", _init),
        (JobScheduler, "remaining_jobs", property(_remaining_jobs)),
        (JobScheduler, "update_input_sizes", _update_input_sizes),
        (JobRateLimiter, "get_free_jobs", _get_free_jobs),
        (JobRateLimiter, "register_jobs", _register_jobs),
    ]
    for cls, name, replacement in replacements:
        if not hasattr(cls, _ORIGINAL + name):
            setattr(cls, _ORIGINAL + name, cls.__dict__[name])
            setattr(cls, name, replacement)
    return None


def installed() -> bool:
    from snakemake.scheduling.job_scheduler import JobScheduler

    return JobScheduler._schedule_reevalutation is _schedule_reevaluation and JobScheduler.__init__ is _init
