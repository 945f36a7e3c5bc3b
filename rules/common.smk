import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version
from snakemake_interface_executor_plugins.settings import ExecMode

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from daydream.analysis.registry import (
    PLOTS_DIR,
    RESULT_JOBS,
    RESULT_PLOTS,
    RESULT_TABLES,
    TABLES_JOB,
    STATISTICS_JOB,
)
from daydream.config import validate_config
from daydream.errors import InputError
from daydream.planning.setup import load_setup
from daydream.stages import STAGE_PATTERN, STAGES
from daydream.store import layout
from daydream.store.layout import PARSED, PROMPT
from daydream.workflow.policy import (
    BATCH_WAITS,
    RunContext,
    RunPolicy,
    RunRefused,
    after_failure,
    resource_defaults,
    stop_paying_on_interrupt,
)
from daydream.workflow import scheduler_patch
from daydream.workflow.function_params import read_signatures_once
from daydream.workflow.runner import Runner, force_calls, write_cost_plan

try:
    # the JSON schema (src/daydream/schemas/config.schema.yaml) fills in every default
    config.pop("resolved_cohort_id", None)  # set below, for the report; not a setting
    config.update(validate_config(config))
    SETUP = load_setup(config, os.environ.get("DD_COHORT"))
    SETUP.endpoints  # every active model's provider resolved, or the error naming llm_models.csv
except (InputError, ValueError) as error:
    # one clear message naming file, row and field, before any job runs
    raise WorkflowError(f"bad experiment input: {error}") from None
DATA = SETUP.data_root
STORE = SETUP.store
if workflow.exec_mode == ExecMode.DEFAULT:  # not in a job re-reading the workflow on a cluster node
    # what this invocation would call and cost, dry runs included, before the checkpoint has run
    # (the store is prepared first: the response index refreshed, raws without a record archived)
    try:
        COST_PLAN = SETUP.cost_plan(force_calls())
    except (InputError, ValueError) as error:
        raise WorkflowError(f"bad experiment input: {error}") from None
    print(COST_PLAN.summary(), file=sys.stderr)
COHORT = SETUP.cohort_id
config["resolved_cohort_id"] = COHORT  # shown in the HTML report
MEMBERSHIP = STORE.cohort_file(COHORT, layout.MEMBERSHIP)
REPORTS = STORE.reports_dir(COHORT)
SPECS = SETUP.spec_index()
# Interpreter and folder of the job scripts (cohort files, results), for their commands through
# the environment that jobs inherit: neither is a reason to re-run a job (another virtualenv, a
# moved checkout). Each script writes its full command line, paths resolved, to its log.
os.environ.update(
    DAYDREAM_PYTHON=config["python"] or sys.executable,
    DAYDREAM_SCRIPTS=str(Path(workflow.basedir) / "workflow" / "scripts"),
)

# Default global resources (`--resources NAME=N` wins): each provider's cap of calls in flight,
# and a bound on generate jobs waiting at once in a local run (workflow/policy.py).
for _name, _value in resource_defaults(
    SETUP.default_caps(),
    workflow.global_resources.get("_cores").value,
    workflow.global_resources.get("_nodes").value,
    batching=bool(SETUP.batch_settings()),
).items():
    workflow.global_resources.setdefault(_name, _value)


def run_context():
    """This invocation as Snakemake says (read once, after parsing: workflow/policy.py)."""
    resources = workflow.global_resources
    return RunContext(
        main_process=workflow.exec_mode == ExecMode.DEFAULT,
        local=workflow.local_exec,
        use_threads=workflow.use_threads,
        cores=resources.get("_cores").value or 1,
        targets=tuple(str(t) for t in workflow.dag_settings.targets or ()),
        caps={name: int(resources.get(name).value) for name in SETUP.provider_names},
        executor=getattr(workflow.executor_plugin, "name", None),
        executor_settings=workflow.executor_settings,
        keep_going=bool(getattr(workflow.execution_settings, "keep_going", False)),
    )


# Snakemake's scheduler without its idle work (workflow/scheduler_patch.py)
_SCHEDULER_PATCH = scheduler_patch.install()
if _SCHEDULER_PATCH is not None:
    print(f"note: Snakemake's scheduler left as it is ({_SCHEDULER_PATCH}); long waits use more CPU", file=sys.stderr)

POLICY = RunPolicy(run_context)
RUNNER = Runner(SPECS, SETUP.prices(), POLICY.provider_caps, POLICY.prefetch_calls, config["reuse"])


wildcard_constraints:
    stage=STAGE_PATTERN,
    gen_id=SETUP.generated_id_pattern(),


MEMBERSHIP_READY = []  # not empty once the membership checkpoint's output exists in this run


def checkpoint_rows():
    """This cohort's generations. Only input functions may wait on the checkpoint this way.
    checkpoints.membership.get() raises until the checkpoint's output exists in this run and then
    keeps succeeding, so it is asked until it first succeeds (it costs ~60 us a call)."""
    if not MEMBERSHIP_READY:
        checkpoints.membership.get()
        MEMBERSHIP_READY.append(True)
    return SPECS.load(MEMBERSHIP)


def gen_targets(stage):
    def targets(wildcards):
        checkpoint_rows()
        return [STORE.gen_file(stage, gen_id, PARSED) for gen_id in SPECS.gen_ids(stage)]

    return targets


def prompt_inputs(wildcards):
    checkpoint_rows()
    return SPECS.get(wildcards.stage, wildcards.gen_id).prompt_inputs()


def generate_inputs(wildcards):
    checkpoint_rows()
    return SPECS.get(wildcards.stage, wildcards.gen_id).generate_inputs()


# Params and resources read the membership file without the checkpoint call: a job re-created
# on a cluster node may call checkpoints only from input functions.
def spec(wildcards):
    SPECS.load(MEMBERSHIP)
    return SPECS.get(wildcards.stage, wildcards.gen_id)


def concept_names(wildcards):
    return spec(wildcards).prompt_param()


def generate_param(wildcards):
    return spec(wildcards).generate_param()


def provider_slot(provider):
    """One unit of the provider's resource for generate jobs that call that provider (not for
    those that wait on a batch: they hold batch_waits instead)."""

    def slot(wildcards):
        gen = spec(wildcards)
        return 1 if gen.provider == provider and not waits_on_batch(gen) else 0

    return slot


def waits_on_batch(gen):
    """The generation's call goes in a batch in this run (a local run: calling/batching.py)."""
    return gen.batched and POLICY.prefetch_calls()


def batch_slot(wildcards):
    """One unit of batch_waits for generate jobs whose call goes in a batch."""
    return 1 if waits_on_batch(spec(wildcards)) else 0


PROVIDER_RESOURCES = {name: provider_slot(name) for name in SETUP.providers_in_use()}
if SETUP.batch_settings():
    PROVIDER_RESOURCES[BATCH_WAITS] = batch_slot


def generate_threads(wildcards):
    return POLICY.generate_threads()


# The functions Snakemake calls for every generation job: their signatures read once, not per job
# (workflow/function_params.py).
read_signatures_once(
    prompt_inputs,
    generate_inputs,
    concept_names,
    generate_param,
    generate_threads,
    batch_slot,
    *PROVIDER_RESOURCES.values(),
)


def side_file_target(wildcards):
    """raw.txt, metadata.json and reasoning.txt are written by a generate job beside its parsed.txt, and are no
    rule's output (a job's outputs are deleted before it runs; a paid response must never be).
    Targeting one gets this message instead of Snakemake's "No rule to produce"."""
    parsed = STORE.gen_file(wildcards.stage, wildcards.gen_id, PARSED)
    raise WorkflowError(
        f"{wildcards.side_file} is written by the generate job of {parsed}, together with it: "
        f"target that file instead (snakemake {parsed})"
    )


def result_options(*jobs):
    """The results script's options (shell-quoted) for these jobs of analysis/registry.py."""
    statistics = json.dumps(config["statistics"], sort_keys=True)
    options = [f"--compare-templates={','.join(config['compare_templates'])}", f"--top-n={config['top_n']}"]
    return shlex.join([*options, f"--statistics={statistics}", f"--jobs={','.join(jobs)}"])


def human_labels_if_any(wildcards):
    """The cohort's human_labels.csv once a reviewer has written one: the statistics (judge
    versus human) are written again when it changes."""
    path = STORE.human_labels(COHORT)
    return [str(path)] if path.exists() else []


def results_folder(wildcards, output):
    """The folder a results job writes (its first output is a table at the folder's top)."""
    return str(Path(output[0]).parent)


def result_files(folder, job):
    """The registered result tables and plots (analysis/registry.py) that one job writes in a
    results folder, marked for the report."""
    return {**result_tables(folder, job), **result_plots(folder, job)}


def result_tables(folder, job):
    return {
        table.name: report(
            f"{folder}/{table.file}",
            caption=f"../report/{table.caption}",
            category=table.category,
            subcategory=table.subcategory,
        )
        for table in RESULT_TABLES
        if table.job == job
    }


def result_plots(folder, job):
    return {
        plot.name: report(f"{folder}/{PLOTS_DIR}/{plot.file}", caption=f"../report/{plot.caption}", category="Plots")
        for plot in RESULT_PLOTS
        if plot.job == job
    }
