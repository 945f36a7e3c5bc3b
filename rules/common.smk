import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version
from snakemake_interface_executor_plugins.settings import ExecMode

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from daydream.errors import InputError
from daydream.store.run_lock import CohortBusy, acquire_run_lock
from daydream.workflow.runner import Runner
from daydream.analysis.registry import PLOTS_DIR, RESULT_PLOTS, RESULT_TABLES
from daydream.config import validate_config
from daydream.stages import STAGE_PATTERN
from daydream.store import layout
from daydream.store.layout import PARSED, PROMPT
from daydream.planning.workflow_plan import WorkflowPlan

try:
    # the JSON schema (src/daydream/schemas/config.schema.yaml) fills in every default
    config.pop("resolved_cohort_id", None)  # set below, for the report; not a setting
    config.update(validate_config(config))
    PLAN = WorkflowPlan.load(config, os.environ.get("DD_COHORT"))
except (InputError, ValueError) as error:
    # one clear message naming file, row and field, before any job runs
    raise WorkflowError(f"bad experiment input: {error}") from None
DATA = PLAN.data_root
STORE = PLAN.store
if workflow.exec_mode == ExecMode.DEFAULT:  # not in a job re-reading the workflow on a cluster node
    # what this invocation would call and cost, dry runs included, before the checkpoint has run
    try:
        COST_PLAN = PLAN.cost_plan()
    except (InputError, ValueError) as error:
        raise WorkflowError(f"bad experiment input: {error}") from None
    print(COST_PLAN.summary(), file=sys.stderr)
COHORT = PLAN.cohort_id
config["resolved_cohort_id"] = COHORT  # shown in the HTML report
MEMBERSHIP = STORE.cohort_file(COHORT, layout.MEMBERSHIP)
GENS = PLAN.generation_index()
# Interpreter and folder of the job scripts (cohort files, results), for their commands through
# the environment that jobs inherit: neither is a reason to re-run a job (another virtualenv, a
# moved checkout). Each script writes its full command line, paths resolved, to its log.
os.environ.update(
    DAYDREAM_PYTHON=config["python"] or sys.executable,
    DAYDREAM_SCRIPTS=str(Path(workflow.basedir) / "workflow" / "scripts"),
)


wildcard_constraints:
    stage=STAGE_PATTERN,
    gen_id=PLAN.generated_id_pattern(),


MEMBERSHIP_READY = []  # not empty once the membership checkpoint's output exists in this run


def membership_rows():
    """This cohort's generations. Only input functions may wait on the checkpoint this way.
    checkpoints.membership.get() raises until the checkpoint's output exists in this run and then
    keeps succeeding, so it is asked until it first succeeds (it costs ~60 us a call)."""
    if not MEMBERSHIP_READY:
        checkpoints.membership.get()
        MEMBERSHIP_READY.append(True)
    return GENS.load(MEMBERSHIP)


def gen_targets(stage):
    def targets(wildcards):
        membership_rows()
        return [STORE.gen_file(stage, gen_id, PARSED) for gen_id in GENS.gen_ids(stage)]

    return targets


def prompt_inputs(wildcards):
    membership_rows()
    return GENS.get(wildcards.stage, wildcards.gen_id).prompt_inputs()


def generate_inputs(wildcards):
    membership_rows()
    return GENS.get(wildcards.stage, wildcards.gen_id).generate_inputs()


# Params and resources read the membership file without the checkpoint call: a job re-created
# on a cluster node may call checkpoints only from input functions.
def spec(wildcards):
    GENS.load(MEMBERSHIP)
    return GENS.get(wildcards.stage, wildcards.gen_id)


def concept_names(wildcards):
    return spec(wildcards).prompt_param()


def generate_param(wildcards):
    return spec(wildcards).generate_param()


def provider_slot(provider):
    """One unit of the provider's resource for generate jobs that call that provider."""

    def slot(wildcards):
        return 1 if spec(wildcards).provider == provider else 0

    return slot


PROVIDER_RESOURCES = {name: provider_slot(name) for name in PLAN.providers_in_use()}

# Default global resources; `--resources NAME=N` wins. Each provider's cap of calls in flight is
# its max_concurrency in config. In a local run, at most cores + 4 generate jobs wait on providers
# at once: Snakemake runs at most cores + 5 jobs at a time, and the last of those threads stays
# free for prompt jobs, which start the next calls (see rule generate).
for _name, _cap in PLAN.default_caps().items():
    workflow.global_resources.setdefault(_name, _cap)
if workflow.global_resources.get("_nodes").value is None:
    workflow.global_resources.setdefault("generate_jobs", (workflow.global_resources.get("_cores").value or 1) + 4)


def generate_threads(wildcards):
    """A generate job waits on its provider, it does not compute: 0 threads in a local run.
    Submitted to a cluster (profiles/slurm), generate jobs go in groups whose jobs run one after
    another inside one cluster job (the Slurm plugin's job step runs them with --jobs 1), while
    Snakemake sizes a group as if its jobs ran side by side, as many as fit in --cores. Claiming
    all of --cores makes that one at a time too: a group asks for one call's memory and holds one
    unit of its provider's cap, so the cap is the number of calls in flight across the cluster.
    (Its cores on the cluster are cpus_per_task, set in the profile, not these threads.)"""
    if workflow.local_exec:
        return 0
    return workflow.global_resources.get("_cores").value or 1


def provider_caps():
    """Calls in flight per provider, as the resources say."""
    return {name: int(workflow.global_resources.get(name).value) for name in PLAN.provider_names}


def prefetch_calls():
    """Generation jobs run in this process's threads (the default profile's force-use-threads).
    In the main process of a local run, prompt jobs start their calls in a call engine and
    generate jobs collect the responses, so calls in flight reach each provider's cap whatever
    --cores is. Elsewhere (a job on a cluster node) the generate job makes its call itself; and a
    run asked only for prompts makes no call. Asked when the first job runs."""
    targets = workflow.dag_settings.targets
    only_prompts = bool(targets) and all(Path(str(t)).name == PROMPT for t in targets)
    return workflow.exec_mode == ExecMode.DEFAULT and workflow.local_exec and not only_prompts


RUNNER = Runner(GENS, PLAN.prices(), provider_caps, prefetch_calls)


def check_threaded_jobs():
    """Generation jobs are `run:` blocks; without threads Snakemake would start a whole new
    Snakemake process for each of them."""
    if workflow.local_exec and workflow.exec_mode == ExecMode.DEFAULT and not workflow.use_threads:
        raise WorkflowError(
            "generation jobs must run in Snakemake's threads: run from the project folder (its default "
            "profile, profiles/default, sets force-use-threads) or add --force-use-threads"
        )


RUN_LOCK = []  # the cohort's run lock, held by the main process until it exits


def hold_cohort_lock():
    """One running snakemake per cohort, whichever checkout it comes from (run_lock.py)."""
    if workflow.exec_mode == ExecMode.DEFAULT and not RUN_LOCK:
        try:
            RUN_LOCK.append(acquire_run_lock(STORE, COHORT, workflow.basedir))
        except CohortBusy as busy:
            raise WorkflowError(str(busy)) from None


def side_file_target(wildcards):
    """raw.txt and metadata.json are written by a generate job beside its parsed.txt, and are no
    rule's output (a job's outputs are deleted before it runs; a paid response must never be).
    Targeting one gets this message instead of Snakemake's "No rule to produce"."""
    parsed = STORE.gen_file(wildcards.stage, wildcards.gen_id, PARSED)
    raise WorkflowError(
        f"{wildcards.side_file} is written by the generate job of {parsed}, together with it: "
        f"target that file instead (snakemake {parsed})"
    )


def after_failure():
    """A run with failed jobs (with keep-going, after every job that could run): name the failed
    generations by reason, and, when the run was to make the score tables, write them anyway
    (a failed evaluation is an error row with its reason). Snakemake still exits non-zero."""
    from daydream.analysis.registry import write_results
    from daydream.analysis.status import cohort_status, format_failures

    if not Path(MEMBERSHIP).is_file():
        return
    rows = list(GENS.load(MEMBERSHIP).values())
    status = cohort_status(DATA, COHORT, rows)
    summary = format_failures(status, ids_per_reason=5)
    if summary:
        print(f"{summary}\n(all of them: daydream status)", file=sys.stderr)
    targets = [str(t) for t in (workflow.dag_settings.targets or ["all"])]
    if {"all", "results", "plots"} & set(targets) and status.planned["evaluation"]:
        write_results(DATA, REPORTS, rows, config["compare_templates"], config["top_n"])
        print(
            f"score tables written anyway to {REPORTS} (failed evaluations are rows with an error); "
            "fix the cause, then run the same command: stored responses are not paid for again",
            file=sys.stderr,
        )


def check_slurm_job_states():
    """On Slurm, before any job is submitted: job states must have a source that answers
    (slurm_states.py), or the run would wait forever without a word."""
    plugin = workflow.executor_plugin
    if workflow.exec_mode != ExecMode.DEFAULT or plugin is None or plugin.name != "slurm":
        return
    import shutil

    from snakemake_executor_plugin_slurm.job_status_query import get_min_job_age

    from daydream.workflow.slurm_states import job_state_problem, sacct_error

    settings = workflow.executor_settings
    on_path = shutil.which("sacct") is not None
    problem = job_state_problem(
        requested=getattr(settings, "status_command", None),
        min_job_age_s=get_min_job_age(),
        init_seconds=getattr(settings, "init_seconds_before_status_checks", None) or 40,
        sacct_on_path=on_path,
        sacct_error=sacct_error() if on_path else None,
    )
    if problem:
        raise WorkflowError(problem)


def check_budget():
    """max_cost_usd: a run whose pending calls are estimated above it does not start."""
    from daydream.planning.cost_plan import check_budget as refuse_over_budget

    if workflow.exec_mode == ExecMode.DEFAULT:
        try:
            refuse_over_budget(COST_PLAN, config["max_cost_usd"])
        except InputError as error:
            raise WorkflowError(str(error)) from None


def write_cost_plan(log):
    from daydream.planning.cost_plan import write_plan

    text = write_plan(COST_PLAN, DATA)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{text}\n", encoding="utf-8")
    print(text)


# ---- score tables (rules/results.smk) ----
REPORTS = STORE.reports_dir(COHORT)


def result_tables(folder):
    """The registered result tables (analysis/registry.py) in a results folder, for the report."""
    return {
        table.name: report(
            f"{folder}/{table.file}",
            caption=f"../report/{table.caption}",
            category=table.category,
            subcategory=table.subcategory,
        )
        for table in RESULT_TABLES
    }


def result_plots(folder):
    """The registered plots of a results folder, for the report."""
    return {
        plot.name: report(f"{folder}/{PLOTS_DIR}/{plot.file}", caption=f"../report/{plot.caption}", category="Plots")
        for plot in RESULT_PLOTS
    }
