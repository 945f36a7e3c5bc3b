import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from daydream.errors import InputError
from daydream.settings import SCHEMA_PATH, normalize_config
from daydream.workflow_plan import WorkflowPlan

validate(config, SCHEMA_PATH)
try:
    CONFIG = normalize_config(config)
    PLAN = WorkflowPlan.load(CONFIG, os.environ.get("DD_COHORT"))
except (InputError, ValueError) as error:
    # one clear message naming file, row and field, before any job runs
    raise WorkflowError(f"bad experiment input: {error}") from None
DATA = PLAN.data_root
COHORT = PLAN.cohort_id
config["resolved_cohort_id"] = COHORT  # shown in the HTML report
COHORT_DIR = f"{DATA}/cohorts/{COHORT}"
MEMBERSHIP = f"{COHORT_DIR}/membership.csv"
# Job commands call `$PY $SCRIPTS/<script>.py`. The interpreter, the script folder and the runtime
# settings (timeouts, retries, provider URLs, prices) live in the shell prefix, not in params or
# the command text, so none of them counts as a change that would re-run paid LLM jobs.
shell.prefix(
    "set -euo pipefail; "
    f"PY={shlex.quote(CONFIG['python'] or sys.executable)}; "
    f"SCRIPTS={shlex.quote(str(Path(workflow.basedir) / 'workflow' / 'scripts'))}; "
    # (the prefix is formatted like a command, so the JSON's braces are doubled)
    "export DAYDREAM_RUNTIME="
    + shlex.quote(json.dumps(PLAN.runtime_settings())).replace("{", "{{").replace("}", "}}")
    + "; "
)


wildcard_constraints:
    stage="draft|essay|evaluation",
    gen_id="[A-Za-z0-9_-][A-Za-z0-9._-]*",


def membership_index():
    """Rows of this cohort's membership by (stage, gen_id); the file is read once per process."""
    checkpoints.membership.get()
    return PLAN.membership_index(MEMBERSHIP)


def gen_targets(stage):
    def targets(wildcards):
        index = membership_index()
        return [f"{DATA}/gens/{stage}/{gen_id}/parsed.txt" for (s, gen_id) in index if s == stage]

    return targets


def prompt_inputs(wildcards):
    return PLAN.prompt_inputs(membership_index(), wildcards.stage, wildcards.gen_id)


def prompt_params(wildcards):
    return PLAN.prompt_params(membership_index(), wildcards.stage, wildcards.gen_id)


def raw_params(wildcards):
    return PLAN.raw_params(membership_index(), wildcards.stage, wildcards.gen_id)


def parse_inputs(wildcards):
    return PLAN.parse_inputs(membership_index(), wildcards.stage, wildcards.gen_id)


def parse_params(wildcards):
    return PLAN.parse_params(membership_index(), wildcards.stage, wildcards.gen_id)


def provider_slot(provider):
    """One unit of the provider's resource for raw jobs of that provider, zero otherwise."""

    def slot(wildcards):
        return 1 if PLAN.provider_of(membership_index(), wildcards.stage, wildcards.gen_id) == provider else 0

    return slot


PROVIDER_RESOURCES = {name: provider_slot(name) for name in PLAN.provider_names}
