"""workflow/scheduler_patch.py: the one patch of Snakemake's internals. It must install in the
Snakemake this project declares (an upgrade that changes what it relies on fails here, loudly,
instead of making runs silently busier), cut the scheduling rounds of jobs that wait on a
resource, take in the jobs that finish together in one round, skip the input sizes no selector
reads, and still wake the scheduler when the job-rate limit really holds jobs back."""

from __future__ import annotations

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
if os.environ.get("PATCH") == "1":
    from daydream.workflow import scheduler_patch
    from snakemake.scheduling.job_scheduler import JobScheduler
    assert scheduler_patch.install() is None
    _listing = JobScheduler._daydream_original_remaining_jobs.fget
    JobScheduler._daydream_original_remaining_jobs = property(lambda self: LISTED.append(1) or _listing(self))

BARRIER = threading.Barrier(int(os.environ.get("TOGETHER", "1")), timeout=60)

# the test's own count of scheduling rounds that weighed ready jobs
from snakemake.scheduling.job_scheduler import JobScheduler
ROUNDS = []
_select = JobScheduler.job_selector
def counting_selector(self, jobs):
    ROUNDS.append(len(jobs))
    return _select(self, jobs)
JobScheduler.job_selector = counting_selector

rule all:
    input: expand("out/{{n}}.txt", n=range({jobs}))

rule wait:
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
        print(type(scheduler._open_jobs).__name__, len(scheduler._input_sizes), len(ROUNDS), len(LISTED), file=facts)
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


def test_sizes_and_remaining_jobs_are_read_only_for_a_selector_that_weighs_them(tmp_path):
    omit = ("--scheduler", "greedy", "--scheduler-greedy-omit-prioritize-by-temp-and-input")
    *_, omitted = run(tmp_path, True, 4, 0.0, *omit, slots=2)
    *_, weighed = run(tmp_path, True, 4, 0.0, "--scheduler", "greedy", slots=2)
    *_, ilp = run(tmp_path, True, 8, 0.0, "--scheduler", "ilp", slots=2)  # it reads the remaining jobs too
    assert omitted[1] == "0"
    assert int(weighed[1]) > 0 and int(ilp[1]) > 0
    # the greedy selector never reads the remaining jobs (listed once, at the end, by Snakemake)
    assert int(omitted[3]) <= 1 and int(weighed[3]) <= 1
    assert int(ilp[3]) >= 2


def test_a_binding_job_rate_limit_still_wakes_the_scheduler(tmp_path):
    """Two jobs a second and nothing running in between: only the timer can start the rest."""
    _, wall, _ = run(tmp_path, True, 8, 0.0, "--max-jobs-per-timespan", "2/1s", slots=100, timeout=60)
    assert wall < 60  # 8 jobs at 2 a second: about 4 s; a scheduler never woken again would hang


def test_wakeups_coalesce_and_never_drop_one():
    wakeups = Wakeups(1)  # the release Snakemake's __init__ makes
    assert wakeups.acquire() and not wakeups.acquire(blocking=False)
    for _ in range(5):
        wakeups.release()
    assert wakeups.acquire()  # one round for the five
    assert not wakeups.acquire(timeout=0.05)
    threading.Timer(0.1, wakeups.release).start()  # a release while the scheduler waits wakes it
    assert wakeups.acquire(timeout=10)


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
