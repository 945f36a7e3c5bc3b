"""workflow/scheduler_timers.py: the one patch of Snakemake's internals. It must install in the
Snakemake this project declares (an upgrade that changes what it relies on fails here, loudly,
instead of making runs silently busier), cut the scheduling rounds of jobs that wait on a
resource, and still wake the scheduler when the job-rate limit really holds jobs back."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from daydream.workflow import scheduler_timers

from conftest import ROOT, run_env, write

SNAKEFILE = """
import os, sys
sys.path.insert(0, {src!r})
if os.environ.get("PATCH") == "1":
    from daydream.workflow import scheduler_timers
    assert scheduler_timers.install() is None

rule all:
    input: expand("out/{{n}}.txt", n=range({jobs}))

rule wait:
    output: "out/{{n}}.txt"
    resources: slot=1
    shell: "sleep {seconds} && touch {{output}}"
"""


def test_the_patch_installs_in_the_declared_snakemake():
    assert scheduler_timers.why_not() is None, scheduler_timers.why_not()
    assert scheduler_timers.install() is None and scheduler_timers.installed()
    assert scheduler_timers.install() is None  # twice is once
    low, high = scheduler_timers.SUPPORTED
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"snakemake>={low[0]}.{low[1]},<{high[0]}"' in pyproject  # the same range


def rounds(
    tmp_path, patch: bool, jobs: int, seconds: float, *args: str, slots: int = 1, timeout: float = 300
) -> tuple[int, float]:
    """Scheduling rounds (Snakemake's debug line per round) and wall time of a run of `jobs`
    jobs that wait for one slot each."""
    folder = tmp_path / ("patched" if patch else "plain")
    write(folder / "Snakefile", SNAKEFILE.format(src=str(ROOT / "src"), jobs=jobs, seconds=seconds))
    command = [sys.executable, "-m", "snakemake", "--cores", "4", "--verbose", "--resources", f"slot={slots}", *args]
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=folder,
        capture_output=True,
        text=True,
        env=run_env({"PATCH": "1" if patch else "0"}),
        timeout=timeout,
    )
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((folder / "out").glob("*.txt"))) == jobs
    return len(re.findall(r"Ready jobs: \d+", result.stdout + result.stderr)), wall


def test_jobs_waiting_on_a_resource_no_longer_keep_the_scheduler_busy(tmp_path):
    plain, plain_wall = rounds(tmp_path, False, 6, 1.5)
    patched, patched_wall = rounds(tmp_path, True, 6, 1.5)
    # one round per finished job (and the first), against chains of one a second per finished job
    assert patched <= 8, patched
    assert plain >= 2 * patched, (plain, patched)
    assert patched_wall < plain_wall + 2.0


def test_a_binding_job_rate_limit_still_wakes_the_scheduler(tmp_path):
    """Two jobs a second and nothing running in between: only the timer can start the rest."""
    _, wall = rounds(tmp_path, True, 8, 0.0, "--max-jobs-per-timespan", "2/1s", slots=100, timeout=60)
    assert wall < 60  # 8 jobs at 2 a second: about 4 s; a scheduler never woken again would hang
