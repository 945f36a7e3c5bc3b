"""The run-time policy (workflow/policy.py) without Snakemake: what a run checks before it starts,
how its generation jobs run, and what it does after a failure, from a RunContext."""

import pytest

from daydream.planning.cost_plan import CostPlan, PlanLine
from daydream.store.layout import StoreLayout
from daydream.workflow.policy import RunContext, RunPolicy, RunRefused, resource_defaults


def policy(**context) -> RunPolicy:
    values = dict(main_process=True, local=True, use_threads=True, cores=2, targets=(), caps={"openrouter": 16})
    values.update(context)
    return RunPolicy(lambda: RunContext(**values))


def test_the_context_is_read_once_and_only_when_needed():
    reads = []

    def context():
        reads.append(1)
        return RunContext(True, True, True, 2, ())

    rules = RunPolicy(context)
    assert reads == []
    rules.generate_threads(), rules.prefetch_calls(), rules.check_threaded_jobs()
    assert reads == [1]


def test_generation_jobs_need_threads_in_a_local_run():
    with pytest.raises(RunRefused, match="force-use-threads"):
        policy(use_threads=False).check_threaded_jobs()
    policy(use_threads=False, local=False).check_threaded_jobs()  # jobs submitted to a cluster
    policy(use_threads=False, main_process=False).check_threaded_jobs()  # a job on a node


def test_generate_jobs_take_no_thread_locally_and_all_cores_on_a_cluster():
    assert policy(cores=8).generate_threads() == 0
    assert policy(cores=8, local=False).generate_threads() == 8


@pytest.mark.parametrize(
    "context, expected",
    [
        ({}, True),
        ({"local": False}, False),
        ({"main_process": False}, False),
        ({"targets": ("data/gens/draft/x/prompt.txt",)}, False),
        ({"targets": ("data/gens/draft/x/prompt.txt", "all")}, True),
    ],
)
def test_calls_are_prefetched_only_in_the_main_process_of_a_local_run_that_calls(context, expected):
    assert policy(**context).prefetch_calls() is expected


def test_resource_defaults_bound_waiting_generate_jobs_only_locally():
    assert resource_defaults({"openrouter": 16}, 2, None) == {"openrouter": 16, "generate_jobs": 6}
    assert resource_defaults({"openrouter": 16}, None, None)["generate_jobs"] == 5
    assert resource_defaults({"openrouter": 16}, 2, 10) == {"openrouter": 16}


def test_provider_caps_are_the_resources_of_the_run():
    assert policy(caps={"openrouter": 3, "offline": 16}).provider_caps() == {"openrouter": 3, "offline": 16}


def test_budget_is_checked_in_the_main_process_only():
    plan = CostPlan(
        "c", {"draft": 1, "essay": 0, "evaluation": 0}, [PlanLine("draft", "m", "p", calls=1, pending=1, cost=2.0)]
    )
    with pytest.raises(RunRefused, match="over max_cost_usd"):
        policy().check_budget(plan, 1.0)
    policy().check_budget(plan, 3.0)
    policy().check_budget(plan, None)
    policy(main_process=False).check_budget(plan, 1.0)


@pytest.mark.parametrize(
    "targets, expected", [((), True), (("all",), True), (("results",), True), (("all_drafts",), False)]
)
def test_failure_hook_writes_the_tables_when_the_run_was_to_make_them(targets, expected):
    assert policy(targets=targets).makes_results() is expected


def test_a_cohort_is_run_by_one_snakemake_at_a_time(tmp_path):
    store = StoreLayout(tmp_path)
    first = policy()
    first.hold_cohort_lock(store, "cohort-x", "/checkout/one")
    first.hold_cohort_lock(store, "cohort-x", "/checkout/one")  # held already: nothing more
    with pytest.raises(RunRefused, match="being run right now by another snakemake .*from /checkout/one"):
        policy().hold_cohort_lock(store, "cohort-x", "/checkout/two")
    policy(main_process=False).hold_cohort_lock(store, "cohort-x", "/checkout/two")  # a job: no lock
    policy().hold_cohort_lock(store, "cohort-y", "/checkout/two")


def test_batch_notes_name_a_cluster_run_and_a_run_that_stops_before_submitting_everything():
    from daydream.calling.providers import batch_settings

    waits = batch_settings("openai", {"stages": ["evaluation"], **BATCH_DEFAULTS})
    exits = batch_settings("openai", {"stages": ["evaluation"], **BATCH_DEFAULTS, "wait": False})
    local = dict(main_process=True, local=True, use_threads=True, cores=2, targets=())
    assert policy(**local).batch_notes({"openai": waits}) == []
    assert "add --keep-going" in policy(**local).batch_notes({"openai": exits})[0]
    assert policy(**local, keep_going=True).batch_notes({"openai": exits}) == []
    cluster = policy(**{**local, "local": False}).batch_notes({"openai": waits})
    assert "they are not batched" in cluster[0]


BATCH_DEFAULTS = dict(
    discount=0.5, max_requests=10, max_bytes=10_000, completion_window="24h", gather_s=1, poll_s=1, wait=True,
    max_submissions=2,
)  # fmt: skip
