"""Everything a run is set up from, assembled in one place for the Snakefile, the `daydream`
command and the cohort jobs: the validated config, the experiment, the cohort, and the providers
that serve its models. Per-generation job specs are in specs.py."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from daydream import ids
from daydream.calling.credentials import missing_api_key
from daydream.calling.providers import Endpoint, check_endpoints, endpoint, provider_names, resolve_endpoint
from daydream.config import results_dir
from daydream.errors import InputError
from daydream.experiment.definition import Experiment, check_experiment_axes, load_experiment
from daydream.fileio import exists
from daydream.planning.cohort import Cohort, CohortSettings, plan_cohort, settings_from_config
from daydream.planning.specs import SpecIndex
from daydream.stages import GEN_ID_PATTERN, STAGES
from daydream.store.archive import Request, import_unarchived_raw
from daydream.store.index import index_of
from daydream.store.layout import RAW, StoreLayout
from daydream.store.metadata import model_of, read_metadata


@dataclass
class Setup:
    config: dict  # validated (schema defaults filled in)
    experiment: Experiment
    cohort: Cohort
    env_cohort: str | None = None
    _endpoints: dict[str, Endpoint] | None = field(default=None, repr=False)

    @property
    def data_root(self) -> str:
        return str(self.config["data_root"]).rstrip("/") or "."

    @property
    def store(self) -> StoreLayout:
        return StoreLayout(self.data_root)

    @property
    def cohort_id(self) -> str:
        return self.cohort.cohort_id

    @property
    def results_dir(self) -> str:
        return str(results_dir(self.config))

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """The endpoint of every active model, by model id (a model whose provider is not
        configured is an error naming llm_models.csv)."""
        if self._endpoints is None:
            self._endpoints = check_endpoints(self.experiment, self.config)
        return self._endpoints

    @property
    def provider_names(self) -> list[str]:
        return provider_names(self.config)

    @property
    def settings_json(self) -> str:
        """What the cohort jobs re-plan from (cohort_job_setup): the settings that decide the
        cohort, with the explicit cohort id (config or DD_COHORT) resolved here, and the id this
        setup expects them to reach. Nothing else: a change here re-runs the cohort jobs."""
        data = dict(settings_from_config(self.config).__dict__)
        data.update(
            cohort_id=ids.cohort_override(self.config["cohort_id"], self.env_cohort),
            expected_cohort_id=self.cohort_id,
            data_root=self.data_root,
            templates_root=str(self.config["templates_root"]),
        )
        return json.dumps(data, sort_keys=True)

    @property
    def combo_inputs(self) -> list[str]:
        paths = [self.store.raw_table("concepts_metadata")]
        if exists(self.store.selected_combos):
            paths.append(self.store.selected_combos)
        return [str(p) for p in paths]

    @property
    def table_inputs(self) -> list[str]:
        names = [f"{stage}_templates" for stage in STAGES] + ["llm_models", "replication_config"]
        paths = [self.store.raw_table(name) for name in names]
        if exists(self.store.selected_essays):
            paths.append(self.store.selected_essays)
        return [str(p) for p in paths]

    def providers_in_use(self) -> list[str]:
        """Providers of the cohort's models (active ones, and curated mode's models from the store):
        each is a Snakemake resource that generate jobs hold."""
        names = {found.name for found in self.endpoints.values()}
        for item in self.cohort.curated:
            names.add(resolve_endpoint(self.experiment.model(item.llm_model_id), self.config).name)
        return sorted(names)

    def batch_settings(self) -> dict:
        """Providers in use with batch mode, and their batch settings (providers.BatchSettings)."""
        found = {}
        for name in self.providers_in_use():
            batch = endpoint(self.config, name).batch
            if batch is not None:
                found[name] = batch
        return found

    def prices(self) -> dict[str, dict]:
        """Prices per million tokens by model id, for models that have any."""
        return {
            m.model_id: {"input": m.input_price, "output": m.output_price}
            for m in self.experiment.models
            if m.input_price is not None or m.output_price is not None
        }

    def missing_api_keys(self) -> list[str]:
        """Key variables that active models' remote providers need but that are not set."""
        return sorted({e.api_key_env for e in self.endpoints.values() if missing_api_key(e.base_url, e.api_key_env)})

    def default_caps(self) -> dict[str, int]:
        """Calls in flight per provider when no Snakemake resource of that name is given."""
        return {name: endpoint(self.config, name).max_concurrency for name in self.provider_names}

    def membership_rows(self):
        """The cohort's membership built in memory: the rows its cohort jobs write."""
        from daydream.planning.expansion import build_membership

        return build_membership(self.cohort, self.experiment)

    def cost_plan(self, force: bool = False, rows=None):
        """What the cohort will still call and cost (cost_plan.py), from its membership built in
        memory: known before the cohort's checkpoint has run. The store is prepared first
        (prepare_store), so that what it holds is known."""
        from daydream.planning.cost_plan import cost_plan

        rows = self.membership_rows() if rows is None else rows
        self.prepare_store(rows)
        return cost_plan(self.spec_index(), rows, self.cohort_id, self.config, self.prices(), force)

    def prepare_store(self, rows) -> list[Path]:
        """Before any job of a run: the response index in step with the files (store/index.py),
        and every raw.txt in no archived response archived as the answer to the prompt stored
        beside it, as found (Snakemake removes a prompt.txt before rendering it again, so later
        would be too late). For the cohort's generations the request is the one it will send;
        for others the one the config would send for their stage and model. Returns the records
        written."""
        self.check_store_folders()
        index = index_of(self.store)
        index.refresh()
        holding = index.folders_with_responses()
        specs = self.spec_index()
        specs.use_rows(rows)
        cohort = {f"{row.stage}/{row.gen_id}": row for row in rows}
        written = []
        for folder in index.gen_folders():
            if folder in holding or not exists(self.store.path / "gens" / folder / RAW):
                continue
            stage, gen_id = folder.split("/", 1)
            row = cohort.get(folder)
            if row is not None:
                spec = specs.get(stage, gen_id)
                request, replicate = spec.request, row.replicate
            else:
                try:
                    request, replicate = self._stored_request(stage, gen_id)
                except InputError as error:  # another cohort's file: say so, and go on
                    print(f"warning: {error}: its raw.txt is not archived", file=sys.stderr)
                    continue
            if request is None:
                continue  # copy-mode or unknown: its raw is not a response of this experiment's
            record = import_unarchived_raw(self.store.gen_dir(stage, gen_id), request, replicate)
            if record is not None:
                written.append(record)
        if written:
            index.refresh()
            print(f"archived {len(written)} raw.txt found without an archived response", file=sys.stderr)
        return written

    def check_store_folders(self) -> None:
        """The folders this run writes into (through Snakemake too: its job logs and outputs) are
        no links (fileio.py), checked before any job."""
        store, cohort = self.store, self.cohort_id
        folders = [store.gens_dir, store.cohorts_dir, store.path / "logs", store.state_dir, store.tasks_dir]
        folders += [store.cohort_dir(cohort), Path(store.reports_dir(cohort)), store.path / "logs" / "cohorts"]
        folders += [store.path / "logs" / "cohorts" / cohort, *(store.stage_dir(stage) for stage in STAGES)]
        for folder in folders:
            exists(folder)  # a link is refused, naming it

    def _stored_request(self, stage: str, gen_id: str) -> tuple[Request | None, int]:
        """The request the config would send for a stored generation outside the cohort (its
        stage, and the model its metadata names), and its replicate."""
        meta = read_metadata(self.store, stage, gen_id)
        replicate = meta.get("replicate") if isinstance(meta.get("replicate"), int) else 1
        model_id = model_of(meta)
        if stage not in STAGES or not model_id:
            return None, replicate
        try:
            model = self.experiment.model(model_id)
            provider = resolve_endpoint(model, self.config).name
        except InputError:
            return None, replicate
        settings = self.config["stages"][stage]
        return Request(provider, model.model, settings["max_tokens"], settings["temperature"]), replicate

    def spec_index(self) -> SpecIndex:
        return SpecIndex(self.experiment, self.config, self.cohort.combos, self.data_root)

    def generated_id_pattern(self) -> str:
        """The gen_ids the generation rules may build: any, except the stored essays a re-scoring
        cohort evaluates (no rule of this cohort may rebuild them: Snakemake deletes a job's
        outputs before it runs)."""
        stored = [essay.gen_id for essay in self.cohort.stored_essays]
        if not stored:
            return GEN_ID_PATTERN
        # the lookahead sees the rest of the path: the id ends at '/' (or at the end of a value)
        return f"(?!(?:{'|'.join(re.escape(gen_id) for gen_id in sorted(stored))})(?:/|$)){GEN_ID_PATTERN}"


def load_setup(config: dict, env_cohort: str | None) -> Setup:
    """The setup of a run from a validated config (and DD_COHORT): the experiment read and
    checked, the cohort planned. Raises InputError naming file, row and field."""
    experiment = load_experiment(config["data_root"], config["templates_root"])
    check_experiment_axes(experiment)
    cohort = plan_cohort(experiment, settings_from_config(config), env_cohort, config["max_generations"])
    return Setup(config, experiment, cohort, env_cohort)


def cohort_job_setup(settings: dict) -> Setup:
    """The setup a cohort job (combos, manifest, membership) re-plans from its settings
    (Setup.settings_json): values of the run's validated config, so not validated again (a third
    of each job's time); its config holds only them. The cube's size was checked when the run was
    set up."""
    config = {name: settings[name] for name in (*CohortSettings.__dataclass_fields__, "data_root", "templates_root")}
    return load_setup({**config, "max_generations": None}, None)
