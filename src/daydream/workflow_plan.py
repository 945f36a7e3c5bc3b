"""What the Snakefile needs at parse time: the cohort plan, and per-gen inputs and params.

Everything here is read once per Snakemake process; membership.csv is cached by mtime, so a
dry run over thousands of generations does not re-read it per job."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import ids
from .cohort import (
    MEMBERSHIP_COLUMNS,
    CohortPlan,
    MembershipRow,
    Settings,
    plan_cohort,
    read_membership,
    selected_combos_path,
    selected_essays_path,
)
from .combos import Combo
from .experiment import Experiment, check_experiment_axes, load_experiment, resolve_description
from .providers import Endpoint, check_endpoints, provider_names
from .settings import results_dir


@dataclass
class WorkflowPlan:
    config: dict
    experiment: Experiment
    plan: CohortPlan
    endpoints: dict[str, Endpoint]
    env_cohort: str | None = None
    _index: dict = field(default_factory=dict)
    _combos: dict = field(default_factory=dict)
    _index_key: tuple | None = None

    @classmethod
    def load(cls, config: dict, env_cohort: str | None) -> WorkflowPlan:
        experiment = load_experiment(config["data_root"], config["templates_root"])
        check_experiment_axes(experiment)
        endpoints = check_endpoints(experiment, config)
        settings = settings_from_config(config)
        plan = plan_cohort(experiment, settings, env_cohort)
        return cls(config, experiment, plan, endpoints, env_cohort)

    # ---- cohort-level values -------------------------------------------------------------
    @property
    def data_root(self) -> str:
        return str(self.config["data_root"]).rstrip("/") or "."

    @property
    def cohort_id(self) -> str:
        return self.plan.cohort_id

    @property
    def results_dir(self) -> str:
        return str(results_dir(self.config))

    @property
    def provider_names(self) -> list[str]:
        return provider_names(self.config)

    @property
    def settings_json(self) -> str:
        """What the cohort jobs re-plan from: the config's settings with the explicit cohort id
        (config or DD_COHORT) resolved here, and the id this plan expects them to reach."""
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
        raw = Path(self.data_root) / "1_raw"
        paths = [raw / "concepts_metadata.csv"]
        if selected_combos_path(self.data_root).exists():
            paths.append(selected_combos_path(self.data_root))
        return [str(p) for p in paths]

    @property
    def table_inputs(self) -> list[str]:
        raw = Path(self.data_root) / "1_raw"
        names = [
            "draft_templates.csv",
            "essay_templates.csv",
            "evaluation_templates.csv",
            "llm_models.csv",
            "replication_config.csv",
        ]
        paths = [raw / n for n in names]
        if selected_essays_path(self.data_root).exists():
            paths.append(selected_essays_path(self.data_root))
        return [str(p) for p in paths]

    def runtime_settings(self) -> dict:
        """Settings a raw job needs that must not count as a change of the request."""
        return {
            "llm": self.config["llm"],
            "providers": {
                e.name: {"base_url": e.base_url, "api_key_env": e.api_key_env} for e in self.endpoints.values()
            },
            "prices": {
                m.model_id: {"input": m.input_price, "output": m.output_price}
                for m in self.experiment.models
                if m.input_price is not None or m.output_price is not None
            },
        }

    def missing_api_keys(self) -> list[str]:
        """Key variables that active models' remote providers need but that are not set."""
        from .jobs import missing_api_key

        return sorted({e.api_key_env for e in self.endpoints.values() if missing_api_key(e.base_url, e.api_key_env)})

    # ---- per generation --------------------------------------------------------------------
    def membership_index(self, path: str) -> dict[tuple[str, str], MembershipRow]:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key != self._index_key:
            self._index = {(r.stage, r.gen_id): r for r in read_membership(Path(path))}
            self._index_key = key
        return self._index

    def _row(self, index, stage: str, gen_id: str) -> MembershipRow:
        try:
            return index[(stage, gen_id)]
        except KeyError:
            raise ValueError(f"{stage} {gen_id} is not a member of cohort {self.cohort_id}") from None

    def _gen_path(self, stage: str, gen_id: str, name: str) -> str:
        return f"{self.data_root}/gens/{stage}/{gen_id}/{name}"

    def _combo(self, combo_id: str) -> Combo:
        if not self._combos:  # a dict, since the full cube can have thousands of combos
            self._combos = {combo.combo_id: combo for combo in self.plan.combos}
        try:
            return self._combos[combo_id]
        except KeyError:
            raise ValueError(f"combo {combo_id} is not part of cohort {self.cohort_id}") from None

    def is_copy(self, row: MembershipRow) -> bool:
        return row.stage == "essay" and self.experiment.template("essay", row.template_id).generator == "copy"

    def prompt_inputs(self, index, stage: str, gen_id: str) -> dict[str, str]:
        row = self._row(index, stage, gen_id)
        if self.is_copy(row):
            raise ValueError(f"essay {gen_id} uses a copy template: it has no prompt")
        inputs = {"template": str(self.experiment.template(stage, row.template_id).path)}
        if stage == "draft":
            inputs["concepts_table"] = str(self.experiment.sources["concepts"])
            for i, (_, _, path) in enumerate(self._concept_files(row)):
                inputs[f"concept_{i}"] = str(path)
        else:
            inputs["parent"] = self._gen_path(_parent_stage(stage), row.parent_gen_id, "parsed.txt")
        return inputs

    def _concept_files(self, row: MembershipRow):
        combo = self._combo(row.combo_id)
        for concept_id in combo.concept_ids:
            level, path = resolve_description(self.experiment.data_root, concept_id, combo.description_level)
            yield concept_id, level, path

    def prompt_params(self, index, stage: str, gen_id: str) -> str:
        row = self._row(index, stage, gen_id)
        spec: dict = {
            "stage": stage,
            "gen_id": gen_id,
            "template": str(self.experiment.template(stage, row.template_id).path),
        }
        if stage == "draft":
            spec["concepts"] = [
                {"concept_id": cid, "name": self.experiment.concept(cid).name, "level": level, "file": str(path)}
                for cid, level, path in self._concept_files(row)
            ]
        else:
            spec["parent"] = self._gen_path(_parent_stage(stage), row.parent_gen_id, "parsed.txt")
        return json.dumps(spec, sort_keys=True)

    def provider_of(self, index, stage: str, gen_id: str) -> str:
        row = self._row(index, stage, gen_id)
        return self.endpoints[row.llm_model_id].name

    def _row_fields(self, row: MembershipRow) -> dict:
        return {name: getattr(row, name) for name in MEMBERSHIP_COLUMNS}

    def raw_params(self, index, stage: str, gen_id: str) -> str:
        row = self._row(index, stage, gen_id)
        model = self.experiment.model(row.llm_model_id)
        stage_cfg = self.config["stages"][stage]
        spec = self._row_fields(row)
        spec.update(
            provider=self.endpoints[model.model_id].name,
            model=model.model,
            max_tokens=stage_cfg["max_tokens"],
            temperature=stage_cfg["temperature"],
            parser_name=self.experiment.template(stage, row.template_id).parser or None,
        )
        if stage == "draft":
            spec["concept_levels"] = {cid: level for cid, level, _ in self._concept_files(row)}
        return json.dumps(spec, sort_keys=True)

    def parse_inputs(self, index, stage: str, gen_id: str) -> dict[str, str]:
        row = self._row(index, stage, gen_id)
        if self.is_copy(row):
            return {"parent": self._gen_path("draft", row.parent_gen_id, "parsed.txt")}
        return {
            "raw": self._gen_path(stage, gen_id, "raw.txt"),
            "metadata": self._gen_path(stage, gen_id, "metadata.json"),
        }

    def parse_params(self, index, stage: str, gen_id: str) -> str:
        row = self._row(index, stage, gen_id)
        stage_cfg = self.config["stages"][stage]
        spec: dict = {
            "stage": stage,
            "min_lines": stage_cfg["min_lines"],
            "fail_on_truncation": stage_cfg["fail_on_truncation"],
        }
        if self.is_copy(row):
            spec.update(mode="copy", parser="copy", metadata=self._row_fields(row))
            spec["parent"] = self._gen_path("draft", row.parent_gen_id, "parsed.txt")
            spec["metadata_path"] = self._gen_path(stage, gen_id, "metadata.json")
        else:
            template = self.experiment.template(stage, row.template_id)
            spec.update(mode="llm", parser=(template.parser or "identity") if stage != "essay" else "identity")
            spec.update(self.parse_inputs(index, stage, gen_id))
        return json.dumps(spec, sort_keys=True)


def _parent_stage(stage: str) -> str:
    return {"essay": "draft", "evaluation": "essay"}[stage]


def settings_from_config(config: dict) -> Settings:
    return Settings(
        k_max=config["k_max"],
        description_level=config["description_level"],
        cohort_id=config["cohort_id"],
        combo_selection=config["combo_selection"],
        cover_t=config["cover_t"],
        cover_time_limit_s=config["cover_time_limit_s"],
    )
