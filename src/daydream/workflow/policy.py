"""Run-time policy: what a `snakemake` invocation of this workflow checks before it starts, how
its generation jobs run, and what it does after a failure. The rules build a small RunContext
from Snakemake's workflow object (rules/common.smk, the one place that reads Snakemake's
internals); everything here takes that context and the plan, and is tested without Snakemake."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import exists
from daydream.store.layout import PROMPT

# In a local run Snakemake runs at most cores + 5 jobs at once; generate jobs that wait on a
# provider may take all but one of those threads, which stays free for prompt jobs (they start
# the next calls).
WAITING_GENERATE_JOBS_BEYOND_CORES = 4
BATCH_WAITS = "batch_waits"  # the resource held by generate jobs whose call is in a batch


class RunRefused(Exception):
    """A run that must not start (the message says why and what to do)."""


@dataclass(frozen=True)
class RunContext:
    """What this invocation is, as Snakemake says."""

    main_process: bool  # the invoked snakemake (not a job re-reading the workflow on a node)
    local: bool  # jobs run on this machine (not submitted to a cluster)
    use_threads: bool  # `run:` jobs run in Snakemake's threads (--force-use-threads)
    cores: int  # --cores
    targets: tuple[str, ...]  # what was asked for (empty: the default target)
    caps: dict[str, int] = field(default_factory=dict)  # calls in flight per provider (its resource)
    executor: str | None = None  # the executor plugin's name ("slurm", ...)
    executor_settings: object | None = None
    keep_going: bool = False  # --keep-going


def resource_defaults(
    provider_caps: dict[str, int], cores: int | None, nodes: int | None, batching: bool = False
) -> dict[str, int]:
    """Default global resources (`--resources NAME=N` wins): each provider's cap of calls in
    flight, and in a local run a bound on generate jobs waiting at once (not on a cluster), of
    which one may wait on a batch: the others of batched stages start once it is collected (then
    they find their responses archived), and meanwhile the rest of the run goes on."""
    defaults = dict(provider_caps)
    if nodes is None:
        defaults["generate_jobs"] = (cores or 1) + WAITING_GENERATE_JOBS_BEYOND_CORES
        if batching:
            defaults[BATCH_WAITS] = 1
    return defaults


class RunPolicy:
    """The policy of one invocation. `context` is asked once, when first needed: some of what it
    reads (local or cluster execution) is only known after the workflow is parsed."""

    def __init__(self, context: Callable[[], RunContext]):
        self._make_context = context
        self._context: RunContext | None = None
        self._run_lock = None  # the cohort's run lock, held until the process exits

    @property
    def context(self) -> RunContext:
        if self._context is None:
            self._context = self._make_context()
        return self._context

    # ---- before any job -------------------------------------------------------------------
    def check_threaded_jobs(self) -> None:
        """Generation jobs are `run:` blocks; without threads Snakemake would start a whole new
        Snakemake process for each of them."""
        ctx = self.context
        if ctx.local and ctx.main_process and not ctx.use_threads:
            raise RunRefused(
                "generation jobs must run in Snakemake's threads: run from the project folder (its default "
                "profile, profiles/default, sets force-use-threads) or add --force-use-threads"
            )

    def check_budget(self, cost_plan, max_cost_usd: float | None) -> None:
        """max_cost_usd: a run whose pending calls are estimated above it does not start."""
        from daydream.planning.cost_plan import check_budget

        if self.context.main_process:
            try:
                check_budget(cost_plan, max_cost_usd)
            except InputError as error:
                raise RunRefused(str(error)) from None

    def hold_cohort_lock(self, store, cohort_id: str, checkout: str) -> None:
        """One running snakemake per cohort, whichever checkout it comes from (run_lock.py)."""
        from daydream.store.run_lock import CohortBusy, acquire_run_lock

        if self.context.main_process and self._run_lock is None:
            try:
                self._run_lock = acquire_run_lock(store, cohort_id, checkout)
            except CohortBusy as busy:
                raise RunRefused(str(busy)) from None

    def check_slurm_job_states(self) -> None:
        """On Slurm, before any job is submitted: job states must have a source that answers
        (slurm_states.py), or the run would wait forever without a word."""
        ctx = self.context
        if not ctx.main_process or ctx.executor != "slurm":
            return
        import shutil

        from snakemake_executor_plugin_slurm.job_status_query import get_min_job_age

        from daydream.workflow.slurm_states import job_state_problem, sacct_error

        settings = ctx.executor_settings
        on_path = shutil.which("sacct") is not None
        problem = job_state_problem(
            requested=getattr(settings, "status_command", None),
            min_job_age_s=get_min_job_age(),
            init_seconds=getattr(settings, "init_seconds_before_status_checks", None) or 40,
            sacct_on_path=on_path,
            sacct_error=sacct_error() if on_path else None,
        )
        if problem:
            raise RunRefused(problem)

    # ---- generation jobs ------------------------------------------------------------------
    def generate_threads(self) -> int:
        """A generate job waits on its provider, it does not compute: 0 threads in a local run.
        Submitted to a cluster (profiles/slurm), generate jobs go in groups whose jobs run one
        after another inside one cluster job (the Slurm plugin's job step runs them with --jobs 1),
        while Snakemake sizes a group as if its jobs ran side by side, as many as fit in --cores.
        Claiming all of --cores makes that one at a time too: a group asks for one call's memory
        and holds one unit of its provider's cap, so the cap is the number of calls in flight
        across the cluster. (Its cores on the cluster are cpus_per_task, set in the profile.)"""
        ctx = self.context
        return 0 if ctx.local else max(1, ctx.cores)

    def prefetch_calls(self) -> bool:
        """In the main process of a local run, prompt jobs start their calls in a call engine and
        generate jobs collect the responses, so calls in flight reach each provider's cap
        whatever --cores is. Elsewhere (a job on a cluster node) the generate job makes its call
        itself; and a run asked only for prompts makes no call."""
        ctx = self.context
        only_prompts = bool(ctx.targets) and all(Path(t).name == PROMPT for t in ctx.targets)
        return ctx.main_process and ctx.local and not only_prompts

    def batch_notes(self, batched: dict) -> list[str]:
        """What to tell the user about batch mode in this invocation (batched: provider ->
        its BatchSettings)."""
        notes = []
        for name, settings in sorted(batched.items()):
            stages = ", ".join(settings.stages)
            if not self.prefetch_calls():
                notes.append(
                    f"{name} batches {stages} calls, but this run's generate jobs make their own calls (a cluster "
                    "run): they are not batched; run those stages locally to batch them"
                )
            elif not settings.wait and not self.context.keep_going:
                notes.append(
                    f"{name}: batch wait is false and --keep-going is not given: the run stops at the first "
                    f"{stages} call in flight, before the rest are submitted (add --keep-going)"
                )
        return notes

    def provider_caps(self) -> dict[str, int]:
        return dict(self.context.caps)

    # ---- after a failure ------------------------------------------------------------------
    def makes_results(self) -> bool:
        """The run was asked for the score tables (its default target included)."""
        targets = set(self.context.targets or ("all",))
        return bool({"all", "results", "score_tables", "statistics"} & targets)


def stop_paying_on_interrupt(stop: Callable[[], None], signals=(signal.SIGINT, signal.SIGTERM)) -> None:
    """On Ctrl-C or SIGTERM, first stop paying (`stop`: no new call starts, queued calls and
    calls waiting for a rate-limit turn are dropped, calls in flight finish and are archived),
    then do what the signal did before (Snakemake's own handling: KeyboardInterrupt, or finishing
    the running jobs). Installed from onstart, in the main thread, after Snakemake's scheduler
    has set its own handlers."""
    for number in signals:
        previous = signal.getsignal(number)

        def handler(signum, frame, previous=previous):
            stop()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(number, handler)


def mark_stale(reports_dir: str, membership: str) -> None:
    """Date the tables written despite failures before the cohort's membership, so that the same
    command runs the failed generations and then the tables again: Snakemake takes outputs newer
    than their inputs as up to date, and then never asks for their missing inputs."""
    from daydream.analysis.registry import result_paths

    before = os.stat(membership).st_mtime - 1
    for path in result_paths(reports_dir):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (before, before))


def after_failure(plan, index, membership: str, reports_dir: str, makes_results: bool, out=sys.stderr) -> None:
    """A run with failed jobs (with keep-going, after every job that could run): name the failed
    generations by reason, and, when the run was to make the score tables, write them anyway
    (a failed evaluation is an error row with its reason). Snakemake still exits non-zero."""
    from daydream.analysis.registry import write_results
    from daydream.analysis.status import cohort_status, format_failures

    if not exists(membership):
        return
    try:
        rows = list(index.load(membership).values())
        status = cohort_status(plan.data_root, plan.cohort_id, rows)
    except InputError as error:  # a store file that cannot be read as it should: say so, no traceback
        print(f"the failed generations could not be listed: {error}", file=out)
        return
    summary = format_failures(status, ids_per_reason=5)
    if summary:
        print(f"{summary}\n(all of them: daydream status)", file=out)
    if makes_results and status.planned["evaluation"]:
        config = plan.config
        write_results(
            plan.data_root, reports_dir, rows, config["compare_templates"], config["top_n"], config["statistics"]
        )
        mark_stale(reports_dir, membership)
        print(
            f"score tables written anyway to {reports_dir} (failed evaluations are rows with an error); "
            "fix the cause, then run the same command: stored responses are not paid for again",
            file=out,
        )
