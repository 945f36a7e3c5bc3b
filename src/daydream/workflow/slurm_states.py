"""Where a Slurm run will get its job states from, and whether that works, checked before the
first job is submitted.

The Slurm executor plugin asks `sacct` for the states of its jobs, or `squeue` when told to
(`--slurm-status-command squeue`); it still falls back to `sacct` when Slurm's MinJobAge is unknown
or shorter than three status intervals, since squeue forgets finished jobs after MinJobAge. On a
cluster without job accounting `sacct` fails on every query, and the plugin then waits forever
for the state of jobs that have long finished, printing nothing. This module names that case.
"""

from __future__ import annotations

import subprocess


def effective_status_command(
    requested: str | None, min_job_age_s: int | None, init_seconds: int, sacct_on_path: bool
) -> str:
    """The command the plugin (2.x) will use, given what was requested."""
    command = requested or ("sacct" if sacct_on_path else "squeue")
    if command == "squeue" and sacct_on_path and (min_job_age_s is None or min_job_age_s < 3 * init_seconds):
        command = "sacct"
    if command == "sacct" and not sacct_on_path:
        command = "squeue"
    return command


def job_state_problem(
    requested: str | None, min_job_age_s: int | None, init_seconds: int, sacct_on_path: bool, sacct_error: str | None
) -> str | None:
    """Why job states will never arrive, with the fix; None when they will."""
    if effective_status_command(requested, min_job_age_s, init_seconds, sacct_on_path) != "sacct" or not sacct_error:
        return None
    message = f"Slurm job states would come from sacct, which fails here ({sacct_error}): the run would wait forever. "
    if requested != "squeue":
        return message + (
            "Add --slurm-status-command squeue (or `slurm-status-command: squeue` in profiles/slurm/config.yaml)."
        )
    age = "unknown" if min_job_age_s is None else f"{min_job_age_s} s"
    return message + (
        f"squeue was asked for, but Slurm's MinJobAge ({age}) is under 3 x the first status interval "
        f"({init_seconds} s, --slurm-init-seconds-before-status-checks): lower that interval, or have "
        "MinJobAge raised."
    )


def sacct_error(timeout_s: float = 10) -> str | None:
    """sacct's complaint when it cannot list jobs here (accounting disabled, no database); None
    when it can."""
    try:
        done = subprocess.run(
            ["sacct", "--noheader", "--allocations", "--format=JobID"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    text = (done.stderr or done.stdout).strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"
