"""Where a Slurm run gets its job states from (slurm_states.py), without Slurm."""

import pytest

from daydream.workflow.slurm_states import effective_status_command, job_state_problem

FAILS = "Slurm accounting storage is disabled"


@pytest.mark.parametrize(
    "requested, min_job_age, init, on_path, expected",
    [
        ("sacct", 300, 40, True, "sacct"),
        ("squeue", 300, 40, True, "squeue"),
        ("squeue", 100, 40, True, "sacct"),  # squeue would forget finished jobs: the plugin falls back
        ("squeue", None, 40, True, "sacct"),
        ("squeue", 100, 40, False, "squeue"),
        ("sacct", 300, 40, False, "squeue"),
        (None, 300, 40, True, "sacct"),
        (None, 300, 40, False, "squeue"),
    ],
)
def test_effective_status_command(requested, min_job_age, init, on_path, expected):
    assert effective_status_command(requested, min_job_age, init, on_path) == expected


def test_sacct_that_fails_is_named_with_the_fix():
    problem = job_state_problem("sacct", 600, 40, True, FAILS)
    assert FAILS in problem and "--slurm-status-command squeue" in problem
    assert job_state_problem("squeue", 600, 40, True, FAILS) is None
    assert job_state_problem("sacct", 600, 40, True, None) is None  # sacct works
    assert job_state_problem("sacct", 600, 40, False, None) is None  # no sacct: squeue is used


def test_squeue_asked_for_but_min_job_age_too_short_is_named():
    problem = job_state_problem("squeue", 60, 40, True, FAILS)
    assert "MinJobAge (60 s)" in problem and "(40 s, --slurm-init-seconds-before-status-checks)" in problem
    assert "MinJobAge (unknown)" in job_state_problem("squeue", None, 40, True, FAILS)


def test_most_running_at_once_counts_overlaps_to_the_second():
    from slurm_cluster import most_running_at_once

    def job(start, end):
        return {"start": f"2026-01-01T00:00:{start:02d}", "end": f"2026-01-01T00:00:{end:02d}"}

    assert most_running_at_once([job(0, 5), job(5, 9)]) == 1  # one ends as the other starts
    assert most_running_at_once([job(0, 5), job(4, 9), job(4, 6)]) == 3
    assert most_running_at_once([]) == 0
