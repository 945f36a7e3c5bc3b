"""The Slurm profile on a real one-node Slurm cluster (tests/slurm_cluster.py): the tests' tiny cube
through `snakemake --profile profiles/slurm`, with the offline backend and with a loopback HTTP
provider. .ci/run installs Slurm where it can; elsewhere these tests skip and say why."""

import math
import os
import re

import pytest

from conftest import ROOT, make_experiment, membership_digest, run_snakemake, write_config
from llm_server import FakeLLM
from slurm_cluster import PACKAGES, SYSTEM_CONF, SlurmCluster, missing_binaries, most_running_at_once
from test_workflow import http_setup, membership, scores, scores_of

MISSING = missing_binaries()
pytestmark = [
    pytest.mark.skipif(
        bool(MISSING) or os.geteuid() != 0,
        reason=(
            f"no Slurm here ({', '.join(MISSING)} missing; .ci/run installs the Debian packages "
            f"{' '.join(PACKAGES)} where it runs as root)"
            if MISSING
            else "a one-node Slurm cluster needs root (its daemons, and the link at " + str(SYSTEM_CONF) + ")"
        ),
    ),
]  # the test workers take a file each (--dist loadfile): one cluster, started once, on one of them

CAP = 2  # offline calls in flight, across the cluster
CALLS_PER_JOB = 3  # group-components of the test run (the profile's is 10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


def slurm_run(root, cluster, check=True, env=None, status_command=("--slurm-status-command", "squeue"), timeout=600):
    """The profile's run, with what this cluster needs: no job accounting (squeue for job
    states), no account, short status intervals; the Slurm jobs' logs kept, to be read; and
    smaller groups, so that there are more group jobs than the cap lets run at once."""
    return run_snakemake(
        root,
        "all_evaluations",
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        *status_command,
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        "--group-components",
        f"llm_{{stage}}={CALLS_PER_JOB}",
        check=check,
        env={**cluster.environment(), **(env or {})},
        timeout=timeout,
    )


def test_cube_through_slurm_matches_the_local_run(tmp_path, cluster):
    local, through_slurm = tmp_path / "local", tmp_path / "slurm"
    for root in (local, through_slurm):
        make_experiment(root)
        write_config(root, llm={"max_concurrency": CAP})
    run_snakemake(local, "all_evaluations")
    result = slurm_run(through_slurm, cluster)

    # the same cohort, every evaluation scored, the same scores
    assert membership_digest(membership(through_slurm)) == membership_digest(membership(local))
    run_snakemake(local, "results")
    run_snakemake(through_slurm, "results")
    slurm_scores, local_scores = scores(through_slurm), scores(local)
    assert len(slurm_scores) == 12 and all(row["score"] for row in slurm_scores)
    key = lambda row: (row["gen_id"], row["score"], row["error"])  # noqa: E731
    assert sorted(map(key, slurm_scores)) == sorted(map(key, local_scores))

    # every generation was made inside a Slurm job of its stage's group, a few calls per job
    text = result.stdout + result.stderr
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", text))
    jobs = [job for job in cluster.jobs() if job["id"] in submitted]
    assert len(jobs) == len(submitted) and all(job["state"] == "COMPLETED" for job in jobs), jobs
    rows = membership(through_slurm)
    per_stage = {stage: sum(1 for r in rows if r["stage"] == stage) for stage in ("draft", "essay", "evaluation")}
    for stage, calls in per_stage.items():
        stage_jobs = [job for job in jobs if job["comment"] == f"rule_llm_{stage}_generate"]
        assert len(stage_jobs) == math.ceil(calls / CALLS_PER_JOB), (stage, stage_jobs)
    assert len(jobs) == sum(math.ceil(calls / CALLS_PER_JOB) for calls in per_stage.values())
    slurm_logs = "".join(path.read_text() for path in (through_slurm / ".snakemake/slurm_logs").rglob("*.log"))
    for row in membership(through_slurm):
        assert f"stage={row['stage']},gen_id={row['gen_id']}" in slurm_logs, row

    # a group job asks for one call's core and holds one unit of the provider's cap: the cap
    # bounds the calls in flight across the cluster (the node would take 8 such jobs at once)
    assert {job["cpus"] for job in jobs} == {"1"}
    evaluation_jobs = [job for job in jobs if job["comment"] == "rule_llm_evaluation_generate"]
    assert most_running_at_once(evaluation_jobs) == CAP


def test_a_failed_call_stops_its_group_and_the_same_command_pays_nothing_twice(tmp_path, cluster):
    """Through a real HTTP provider on 127.0.0.1: a call refused with a 400 fails its generation
    and the calls after it in its group job do not run (Snakemake runs a group's jobs without
    keep-going); the same command again makes every other call once, and the cap holds at the
    server across the cluster's jobs."""
    with FakeLLM(latency_s=0.5) as server:
        env = http_setup(tmp_path, server, llm={"max_concurrency": CAP})
        server.faults = ["400"]
        failed = slurm_run(tmp_path, cluster, check=False, env=env)
        assert failed.returncode != 0
        assert "400" in failed.stdout + failed.stderr
        assert len(server.requests) == 1  # the other drafts of its group job were not called

        slurm_run(tmp_path, cluster, env=env)
        calls = [r for r in membership(tmp_path) if r["stage"] != "essay" or r["template_id"] == "plain-essay"]
        assert len(server.requests) == 1 + len(calls)  # the refused call, then each call once
        assert server.max_in_flight <= CAP  # the cap reached and held: the first test
        assert len(scores_of(tmp_path)) == 12


def test_a_cluster_without_job_accounting_is_named_before_any_job(tiny, cluster):
    """This cluster has no accounting database, so sacct fails: left to its default (sacct),
    the Slurm plugin would wait forever for job states. The run stops at once, saying what to add."""
    before = {job["id"] for job in cluster.jobs()}
    result = slurm_run(tiny, cluster, check=False, status_command=(), timeout=60)  # a hang fails here
    assert result.returncode != 0
    assert "Slurm accounting storage is disabled" in result.stderr
    assert "--slurm-status-command squeue" in result.stderr
    assert {job["id"] for job in cluster.jobs()} == before  # nothing submitted
    assert not (tiny / "data/gens").exists()
