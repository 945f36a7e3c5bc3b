"""Where every file of a data root lives: the one place a store path is built.

    <data_root>/1_raw/                      the experiment definition (tables, concept texts)
    <data_root>/2_tasks/                    curation inputs (selected combos, selected essays)
    <data_root>/combo_mappings.csv          every combo ever planned (append-only)
    <data_root>/gens/<stage>/<gen_id>/      one generation: prompt.txt, raw.txt, parsed.txt,
                                            metadata.json, responses/ (every response received)
    <data_root>/logs/                       job logs
    <data_root>/cohorts/<cohort_id>/        combos.csv, manifest.json, membership.csv, plan.csv,
                                            reports/ (score tables, plots), the run lock
    <data_root>/7_cross_experiment/         score tables over every cohort (unless results_dir)
    <data_root>/batches/<provider>/         batches submitted (ids, the requests in each): written
                                            before anything is sent, so none is submitted twice
    <data_root>/.daydream/                  the response index, request locks (rebuilt, never data)

A generation's files are built as plain strings: Snakemake's input functions take strings, and a
dry run of a large cube builds hundreds of thousands of them. Everything else is a Path. Pass
wildcard patterns ("{stage}", "{gen_id}") to get the rules' output patterns."""

from __future__ import annotations

from pathlib import Path

from daydream.fileio import register_root

# the files of one generation
PROMPT = "prompt.txt"
RAW = "raw.txt"
PARSED = "parsed.txt"
METADATA = "metadata.json"
REASONING = "reasoning.txt"  # a reasoning model's reasoning, apart from its answer (text/reasoning.py)
RESPONSES = "responses"  # every response received, never deleted by Snakemake
REDO = "redo.json"  # a generation marked for a new call (daydream redo)
GENERATION_FILES = (PROMPT, RAW, PARSED, METADATA, REASONING)

# the job logs of one generation, by job
JOB_LOGS = ("generate", "prompt")  # the last job first

# the files of one cohort
COMBOS = "combos.csv"
MANIFEST = "manifest.json"
MEMBERSHIP = "membership.csv"
PLAN = "plan.csv"
HUMAN_LABELS = "human_labels.csv"  # a reviewer's verdicts (review/labels.py)
RUN_LOCK = ".run.lock"  # held by the cohort's running snakemake (store/run_lock.py)
RUN_OWNER = ".run.owner.json"  # who holds it


def responses_dir(gen_dir: str | Path) -> Path:
    """A generation's response archive."""
    return Path(gen_dir) / RESPONSES


class StoreLayout:
    """The paths of one data root."""

    __slots__ = ("root", "path")

    def __init__(self, data_root: str | Path):
        self.root = str(data_root).rstrip("/") or "."
        self.path = Path(self.root)
        register_root(self.root)  # below it, no file is reached through a link (fileio.py)

    # ---- the experiment definition and curation inputs ------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.path / "1_raw"

    def raw_table(self, name: str) -> Path:
        """A table of the definition: concepts_metadata, <stage>_templates, llm_models, ..."""
        return self.raw_dir / f"{name}.csv"

    def description(self, level: str, concept_id: str) -> Path:
        return self.raw_dir / "concepts" / f"descriptions-{level}" / f"{concept_id}.txt"

    @property
    def tasks_dir(self) -> Path:
        return self.path / "2_tasks"

    @property
    def selected_combos(self) -> Path:
        return self.tasks_dir / "selected_combo_mappings.csv"

    @property
    def selected_essays(self) -> Path:
        return self.tasks_dir / "selected_essays.txt"

    @property
    def selection_candidates(self) -> Path:
        return self.tasks_dir / "selection_candidates.csv"

    @property
    def combo_mappings(self) -> Path:
        return self.path / "combo_mappings.csv"

    # ---- generations ------------------------------------------------------------------------
    @property
    def gens_dir(self) -> Path:
        return self.path / "gens"

    def stage_dir(self, stage: str) -> Path:
        return self.gens_dir / stage

    def gen_dir(self, stage: str, gen_id: str) -> Path:
        return self.gens_dir / stage / gen_id

    def gen_file(self, stage: str, gen_id: str, name: str) -> str:
        return f"{self.root}/gens/{stage}/{gen_id}/{name}"

    def archive_dir(self, stage: str, gen_id: str) -> Path:
        return responses_dir(self.gen_dir(stage, gen_id))

    # ---- logs -------------------------------------------------------------------------------
    def job_log(self, stage: str, gen_id: str, job: str) -> str:
        return f"{self.root}/logs/{stage}/{gen_id}/{job}.log"

    def job_log_dir(self, stage: str, gen_id: str) -> Path:
        return self.path / "logs" / stage / gen_id

    def cohort_log(self, cohort_id: str, step: str) -> str:
        return f"{self.root}/logs/cohorts/{cohort_id}/{step}.log"

    def log(self, name: str) -> str:
        """A log of a job that is neither a generation's nor a cohort file's (plan, results)."""
        return f"{self.root}/logs/{name}.log"

    # ---- cohorts ----------------------------------------------------------------------------
    @property
    def cohorts_dir(self) -> Path:
        return self.path / "cohorts"

    def cohort_dir(self, cohort_id: str) -> Path:
        return self.cohorts_dir / cohort_id

    def cohort_file(self, cohort_id: str, name: str) -> str:
        """COMBOS, MANIFEST, MEMBERSHIP, PLAN, RUN_LOCK, RUN_OWNER, HUMAN_LABELS"""
        return f"{self.root}/cohorts/{cohort_id}/{name}"

    def membership(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / MEMBERSHIP

    def reports_dir(self, cohort_id: str) -> str:
        return f"{self.root}/cohorts/{cohort_id}/reports"

    def cover_cache(self, digest: str) -> Path:
        return self.cohorts_dir / "cover-cache" / f"{digest}.json"

    def human_labels(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / HUMAN_LABELS

    def human_labels_lock(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / f".{HUMAN_LABELS}.lock"

    def human_label_files(self) -> list[Path]:
        """Every cohort's human_labels.csv."""
        return sorted(self.cohorts_dir.glob(f"*/{HUMAN_LABELS}"))

    def membership_files(self) -> list[Path]:
        """Every cohort's membership.csv."""
        return sorted(self.cohorts_dir.glob(f"*/{MEMBERSHIP}"))

    # ---- the response index and request locks ----------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.path / ".daydream"

    @property
    def index_file(self) -> Path:
        return self.state_dir / "responses.sqlite3"

    @property
    def index_lock(self) -> Path:
        return self.state_dir / "index.lock"

    def request_lock(self, key: str, slot: int) -> Path:
        return self.state_dir / "locks" / key[:2] / f"{key}-{slot}.lock"

    # ---- batches -----------------------------------------------------------------------------
    def batches_dir(self, provider: str | None = None) -> Path:
        folder = self.path / "batches"
        return folder / provider if provider else folder

    def batch_ledger(self, provider: str, local_id: str) -> Path:
        return self.batches_dir(provider) / f"{local_id}.json"

    @property
    def batch_lock(self) -> Path:
        return self.batches_dir() / ".lock"

    # ---- results over every cohort --------------------------------------------------------
    @property
    def cross_experiment_dir(self) -> Path:
        return self.path / "7_cross_experiment"
