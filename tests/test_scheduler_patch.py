"""workflow/scheduler_patch.py: the one patch of Snakemake's internals. It must install in the
Snakemake this project declares (an upgrade that changes what it relies on fails here, loudly,
instead of making runs silently busier), cut the scheduling rounds of jobs that wait on a
resource, take in the jobs that finish together in one round, read each input's size once (and
keep it for every job weighed when Snakemake prunes them), list the remaining jobs only for a
selector that reads them, and still wake the scheduler when the job-rate limit really holds jobs
back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

from daydream.workflow import scheduler_patch
from daydream.workflow.scheduler_patch import Deferred, Wakeups

from conftest import ROOT, run_env, write

SNAKEFILE = """
import os, sys, threading
sys.path.insert(0, {src!r})
LISTED = []  # how often the remaining jobs were listed
MEASURED = []  # every input whose size was read
from snakemake.scheduling.job_scheduler import JobScheduler
if os.environ.get("PATCH") == "1":
    from daydream.workflow import scheduler_patch
    assert scheduler_patch.install() is None
    _listing = JobScheduler._daydream_original_remaining_jobs.fget
    JobScheduler._daydream_original_remaining_jobs = property(lambda self: LISTED.append(1) or _listing(self))
_measure = getattr(JobScheduler, "_daydream_original_update_input_sizes", JobScheduler.update_input_sizes)
async def measuring(self, jobs):
    MEASURED.extend(path for job in jobs for path in job.input)
    await _measure(self, jobs)
_patched = os.environ.get("PATCH") == "1"
setattr(JobScheduler, "_daydream_original_update_input_sizes" if _patched else "update_input_sizes", measuring)

BARRIER = threading.Barrier(int(os.environ.get("TOGETHER", "1")), timeout=60)

# the test's own count of scheduling rounds that weighed ready jobs
ROUNDS = []
_select = JobScheduler.job_selector
def counting_selector(self, jobs):
    ROUNDS.append(len(jobs))
    return _select(self, jobs)
JobScheduler.job_selector = counting_selector

rule all:
    input: expand("out/{{n}}.txt", n=range({jobs}))

rule wait:
    input: "in/{{n}}.txt"
    output: "out/{{n}}.txt"
    resources: slot=1
    run:
        import time
        BARRIER.wait()  # with TOGETHER=n, jobs finish n at a time
        time.sleep({seconds})
        open(output[0], "w").close()

onsuccess:
    scheduler = workflow.scheduler
    with open("scheduler.txt", "w") as facts:
        facts.write(f"{{type(scheduler._open_jobs).__name__}} {{len(set(MEASURED))}} {{len(ROUNDS)}} ")
        facts.write(f"{{len(LISTED)}} {{len(MEASURED)}}")
"""


def test_the_patch_installs_in_the_declared_snakemake():
    assert scheduler_patch.why_not() is None, scheduler_patch.why_not()
    assert scheduler_patch.install() is None and scheduler_patch.installed()
    assert scheduler_patch.install() is None  # twice is once
    low, high = scheduler_patch.SUPPORTED
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"snakemake>={low[0]}.{low[1]},<{high[0]}"' in pyproject  # the same range


def run(tmp_path, patch: bool, jobs: int, seconds: float, *args: str, slots: int = 1, together: int = 1, timeout=300):
    """Scheduling rounds that weighed ready jobs, wall time and what the onsuccess handler saw of
    the scheduler, for a run of `jobs` jobs that wait for one slot each."""
    folder = tmp_path / f"{'patched' if patch else 'plain'}-{jobs}-{together}-{len(args)}"
    write(folder / "Snakefile", SNAKEFILE.format(src=str(ROOT / "src"), jobs=jobs, seconds=seconds))
    for n in range(jobs):
        write(folder / "in" / f"{n}.txt", "x" * n)
    command = [sys.executable, "-m", "snakemake", "--cores", "16", "--resources", f"slot={slots}"]
    command += ["--force-use-threads", *args]
    started = time.monotonic()
    env = run_env({"PATCH": "1" if patch else "0", "TOGETHER": str(together)})
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((folder / "out").glob("*.txt"))) == jobs
    facts = (folder / "scheduler.txt").read_text().split()
    return int(facts[2]), wall, facts


def test_jobs_waiting_on_a_resource_no_longer_keep_the_scheduler_busy(tmp_path):
    plain, plain_wall, _ = run(tmp_path, False, 6, 1.5)
    patched, patched_wall, facts = run(tmp_path, True, 6, 1.5)
    assert facts[0] == "Wakeups"
    # one round per finished job (and the first), against chains of one a second per finished job
    assert patched <= 8, patched
    assert plain >= 2 * patched, (plain, patched)
    assert patched_wall < plain_wall + 2.0


def test_jobs_finishing_together_are_taken_in_by_one_round(tmp_path):
    """48 jobs for 16 slots, finishing 16 at a time: while the third 16 wait, Snakemake's
    semaphore makes a round per finished job of the second (each weighing the 16 waiting);
    coalesced, a handful."""
    plain, _, _ = run(tmp_path, False, 48, 0.5, slots=16, together=16)
    patched, _, _ = run(tmp_path, True, 48, 0.5, slots=16, together=16)
    assert plain >= 17, plain
    assert patched <= 10, (patched, plain)


def test_each_input_size_is_read_once_and_remaining_jobs_only_for_a_selector_that_reads_them(tmp_path):
    """12 jobs waiting for 2 slots: every round weighs the waiting jobs by their input sizes."""
    *_, plain = run(tmp_path, False, 12, 0.2, "--scheduler", "greedy", slots=2)
    *_, greedy = run(tmp_path, True, 12, 0.2, "--scheduler", "greedy", slots=2)
    *_, ilp = run(tmp_path, True, 12, 0.2, "--scheduler", "ilp", slots=2)  # it reads the listing if it can
    distinct, read, listed = 1, 4, 3
    assert int(plain[read]) > 2 * int(plain[distinct])  # each input read again every round
    assert int(greedy[read]) == int(greedy[distinct]) == 24 and int(ilp[read]) == 24  # 12 in, 12 out
    # the greedy selector never reads the remaining jobs (listed once, at the end, by Snakemake)
    assert int(greedy[listed]) <= 1


def test_a_binding_job_rate_limit_still_wakes_the_scheduler(tmp_path):
    """Two jobs a second and nothing running in between: only the timer can start the rest."""
    _, wall, _ = run(tmp_path, True, 8, 0.0, "--max-jobs-per-timespan", "2/1s", slots=100, timeout=60)
    assert wall < 60  # 8 jobs at 2 a second: about 4 s; a scheduler never woken again would hang


READ: list[str] = []  # the inputs whose size was read


class MeasuredPath(str):
    async def exists(self):
        return True

    async def size(self):
        READ.append(str(self))
        return len(self)


class Job:
    def __init__(self, *inputs):
        self.input = [MeasuredPath(path) for path in inputs]


def sizes_read(known: list[str], jobs: list[Job]) -> tuple[set, dict]:
    """The inputs whose size one round reads, and the sizes kept after it, through the patch and
    Snakemake's own update_input_sizes."""
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert scheduler_patch.install() is None

    class Scheduler:
        _daydream_original_update_input_sizes = JobScheduler._daydream_original_update_input_sizes

    scheduler = Scheduler()
    scheduler._input_sizes = {MeasuredPath(path): 1 for path in known}
    READ.clear()
    asyncio.run(JobScheduler.update_input_sizes(scheduler, jobs))
    return set(READ), scheduler._input_sizes


def test_a_round_reads_the_sizes_of_jobs_with_an_input_not_read_before():
    read, kept = sizes_read(["a", "b"], [Job("new", "a"), Job("b")])
    assert read == {"new", "a"}  # the second job's input was read before
    assert set(kept) == {"new", "a", "b"}
    read, _ = sizes_read(["a", "b"], [Job("a"), Job("b")])
    assert read == set()


def test_input_sizes_kept_for_every_job_weighed_when_snakemake_prunes_them():
    """Above 10,000 sizes Snakemake keeps only those of the jobs it is given: then it is given
    all the round's jobs, or the selector would look up a size no longer kept."""
    known = [f"known{i}" for i in range(scheduler_patch.PRUNED_ABOVE)]
    read, kept = sizes_read(known, [Job("new", "known1"), Job("known2")])
    assert read == {"new", "known1", "known2"}
    assert set(kept) == {"new", "known1", "known2"}  # pruned to the round's


def test_wakeups_coalesce_and_never_drop_one():
    wakeups = Wakeups(1)  # the release Snakemake's __init__ makes
    assert wakeups.acquire() and not wakeups.acquire(blocking=False)
    for _ in range(5):
        wakeups.release()
    assert wakeups.acquire()  # one round for the five
    assert not wakeups.acquire(timeout=0.05)
    threading.Timer(0.1, wakeups.release).start()  # a release while the scheduler waits wakes it
    started = time.monotonic()
    assert wakeups.acquire(timeout=30) and time.monotonic() - started < 15  # woken, not timed out


def test_deferred_lists_on_first_read_only():
    made = []

    def listing():
        made.append(1)
        return ["a", "b"]

    unread = Deferred(listing)
    assert made == [] and unread is not None
    read = Deferred(listing)
    assert len(read) == 2 and list(read) == ["a", "b"] and "b" in read and read[0] == "a"
    assert made == [1]
