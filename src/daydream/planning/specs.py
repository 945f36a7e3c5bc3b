"""Per-generation job specs: typed values built once per generation from the cohort's membership
rows, shared by the Snakefile's input functions and the jobs themselves.

A dry run of a large cube asks for every generation's inputs, params and resources, so building
a spec is a few dictionary lookups, cached per generation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daydream.calling.providers import OFFLINE, Endpoint, resolve_endpoint
from daydream.experiment.combos import Combo
from daydream.experiment.definition import Experiment, resolve_description
from daydream.fileio import read_json_object
from daydream.stages import STAGE_MODEL
from daydream.store.archive import Request
from daydream.store.layout import METADATA, PARSED, PROMPT, RAW, REDO, StoreLayout
from daydream.store.membership import MembershipRow, read_membership
from daydream.tables import read_text
from daydream.text import reasoning
from daydream.text.render import render_template
from daydream.text.structured import JUDGE_FORMAT


@dataclass(frozen=True, slots=True)
class ConceptText:
    concept_id: str
    name: str
    level: str  # the description level used (after falling back to a shorter one)
    path: str


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    row: MembershipRow
    store: StoreLayout
    mode: str  # "llm": render, call, parse; "copy": the parent's parsed text, no call
    template: str | None  # template file (llm)
    parents: dict[str, str]  # the gen_ids whose parsed.txt its prompt reads, by stage (direct parent first)
    concepts: tuple[ConceptText, ...]  # stages that read concepts: in concept-table row order
    endpoint: Endpoint | None  # llm
    request: Request | None  # llm
    parser: str  # draft parser name, "identity", a score parser name, or "copy"
    parser_name: str | None  # the template's parser column, recorded in metadata
    min_lines: int
    fail_on_truncation: bool
    reasoning_tag: str = reasoning.DEFAULT_TAG  # thinking blocks taken out of the answer (text/reasoning.py)

    @property
    def stage(self) -> str:
        return self.row.stage

    @property
    def gen_id(self) -> str:
        return self.row.gen_id

    def path(self, name: str) -> str:
        return self.store.gen_file(self.row.stage, self.row.gen_id, name)

    @property
    def gen_dir(self) -> Path:
        return self.store.gen_dir(self.row.stage, self.row.gen_id)

    @property
    def prompt_path(self) -> str:
        return self.path(PROMPT)

    @property
    def raw_path(self) -> str:
        return self.path(RAW)

    @property
    def parsed_path(self) -> str:
        return self.path(PARSED)

    @property
    def metadata_path(self) -> str:
        return self.path(METADATA)

    @property
    def provider(self) -> str | None:
        return self.endpoint.name if self.endpoint else None

    @property
    def parent_files(self) -> dict[str, str]:
        """The parsed.txt of each stage the prompt reads (the direct parent first)."""
        return {stage: self.store.gen_file(stage, gen_id, PARSED) for stage, gen_id in self.parents.items()}

    @property
    def parent(self) -> str | None:
        """The direct parent's parsed.txt (its membership parent_gen_id)."""
        return next(iter(self.parent_files.values()), None)

    @property
    def batched(self) -> bool:
        """Its call goes in a batch (the provider's batch mode covers its stage)."""
        return self.endpoint is not None and self.endpoint.batches(self.row.stage)

    @property
    def calls_remote(self) -> bool:
        return self.endpoint is not None and self.endpoint.name != OFFLINE

    def render_prompt(self, texts: dict[str, str] | None = None) -> str:
        """The prompt: the stage's template filled from its parents' parsed texts (read from their
        files unless given, by stage) and its concepts."""
        if texts is None:
            texts = {stage: read_text(Path(path)) for stage, path in self.parent_files.items()}
        concepts = [{"name": c.name, "content": read_text(Path(c.path)).strip()} for c in self.concepts]
        return render_template(self.template, STAGE_MODEL[self.stage].context(texts, concepts))

    def redo_after(self) -> str | None:
        """Marked for a new call (daydream redo): only a response archived after this stamp is its
        answer (the marker stays: it says which of its responses are superseded); None when not
        marked."""
        marker = self.gen_dir / REDO
        if not os.path.isfile(marker):  # asked per job while the DAG is built: one stat, no walk
            return None
        after = read_json_object(marker).get("after")  # read without following a link (fileio.py)
        return after if isinstance(after, str) and after else "0"

    # ---- what the rules declare -----------------------------------------------------------
    def prompt_inputs(self) -> dict[str, str]:
        if self.mode == "copy":
            raise ValueError(f"{self.stage} {self.gen_id} uses a copy template: it has no prompt")
        inputs = {"template": self.template}
        for i, (stage, path) in enumerate(self.parent_files.items()):
            inputs["parent" if i == 0 else f"parent_{stage}"] = path
        for i, concept in enumerate(self.concepts):
            inputs[f"concept_{i}"] = concept.path
        return inputs

    def generate_inputs(self) -> dict[str, str]:
        if self.mode == "copy":
            return {"parent": self.parent}
        return {"prompt": self.prompt_path}

    def prompt_param(self) -> str:
        """What a prompt depends on besides its input files: the concept names (a renamed
        concept re-renders only the prompts that use it)."""
        return "|".join(c.name for c in self.concepts)

    def generate_param(self) -> str:
        """What the generate job requests, and how it validates and parses the response. A change
        re-runs the job: a new request calls again; a new parser or validation setting reuses the
        archived response (no call)."""
        parse = f"parser={self.parser} min_lines={self.min_lines} fail_on_truncation={self.fail_on_truncation}"
        if self.request is None:
            return f"copy; {parse}"
        r = self.request
        request = f"{r.provider} {r.model} max_tokens={r.max_tokens} temperature={r.temperature}"
        if r.response_format:
            request += f" response_format={r.response_format}"
        if self.reasoning_tag != reasoning.DEFAULT_TAG:
            parse += f" reasoning_tag={self.reasoning_tag}"
        redo = self.redo_after()  # marked for a new call (daydream redo): a new param, so it runs
        return f"{request}; {parse}" + (f"; new response after {redo}" if redo else "")


class SpecIndex:
    """The cohort's generations by (stage, gen_id), read from membership.csv once per process
    (again only when the file changes), and their specs, built on first use."""

    def __init__(self, experiment: Experiment, config: dict, combos: list[Combo], data_root: str):
        self.experiment = experiment
        self.config = config
        self.store = StoreLayout(data_root)
        self._combos = {combo.combo_id: combo for combo in combos}
        self._rows: dict[tuple[str, str], MembershipRow] = {}
        self._rows_key: tuple | None = None
        self._specs: dict[tuple[str, str], GenerationSpec] = {}
        self._concepts: dict[str, tuple[ConceptText, ...]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._templates: dict[tuple[str, str], object] = {}

    def load(self, membership_path: str) -> dict[tuple[str, str], MembershipRow]:
        stat = os.stat(membership_path)
        key = (membership_path, stat.st_mtime_ns, stat.st_size)
        if key != self._rows_key:
            self._rows = {(r.stage, r.gen_id): r for r in read_membership(Path(membership_path))}
            self._rows_key = key
            self._specs.clear()
        return self._rows

    def use_rows(self, rows) -> dict[tuple[str, str], MembershipRow]:
        """The cohort's rows from memory (the cost plan, before the membership file exists)."""
        self._rows = {(r.stage, r.gen_id): r for r in rows}
        self._rows_key = None
        self._specs.clear()
        return self._rows

    def gen_ids(self, stage: str) -> list[str]:
        return [gen_id for (s, gen_id) in self._rows if s == stage]

    def get(self, stage: str, gen_id: str) -> GenerationSpec:
        spec = self._specs.get((stage, gen_id))
        if spec is None:
            row = self._rows.get((stage, gen_id))
            if row is None:
                raise ValueError(f"{stage} {gen_id} is not a generation of this cohort")
            spec = self._specs[(stage, gen_id)] = self._build(row)
        return spec

    def _template(self, stage: str, template_id: str):
        template = self._templates.get((stage, template_id))
        if template is None:
            template = self._templates[(stage, template_id)] = self.experiment.template(stage, template_id)
        return template

    def _endpoint(self, model_id: str) -> Endpoint:
        endpoint = self._endpoints.get(model_id)
        if endpoint is None:
            endpoint = self._endpoints[model_id] = resolve_endpoint(self.experiment.model(model_id), self.config)
        return endpoint

    def _concept_texts(self, combo_id: str) -> tuple[ConceptText, ...]:
        texts = self._concepts.get(combo_id)
        if texts is None:
            combo = self._combos.get(combo_id)
            if combo is None:
                raise ValueError(f"combo {combo_id} is not part of this cohort")
            items = []
            for concept_id in combo.concept_ids:
                level, path = resolve_description(self.experiment.data_root, concept_id, combo.description_level)
                items.append(ConceptText(concept_id, self.experiment.concept(concept_id).name, level, str(path)))
            texts = self._concepts[combo_id] = tuple(items)
        return texts

    def _parents(self, row: MembershipRow) -> dict[str, str]:
        """The parsed.txt of each stage the row's prompt reads, found up its lineage by stage name:
        the direct parent is membership's parent_gen_id, the others its ancestors in the cohort."""
        stage = STAGE_MODEL[row.stage]
        if not stage.parents:
            return {}
        lineage = {stage.parent: row.parent_gen_id}
        current = self._rows.get((stage.parent, row.parent_gen_id))
        while len(lineage) < len(stage.parents) and current is not None and STAGE_MODEL[current.stage].parent:
            lineage[STAGE_MODEL[current.stage].parent] = current.parent_gen_id
            current = self._rows.get((STAGE_MODEL[current.stage].parent, current.parent_gen_id))
        missing = [name for name in stage.parents if name not in lineage]
        if missing:
            raise ValueError(f"{row.stage} {row.gen_id}: no {missing[0]} in its lineage in this cohort")
        return {name: lineage[name] for name in stage.parents}

    def _build(self, row: MembershipRow) -> GenerationSpec:
        stage = STAGE_MODEL[row.stage]
        template = self._template(row.stage, row.template_id)
        stage_cfg = self.config["stages"][row.stage]
        parents = self._parents(row)
        if template.generator == "copy":
            return GenerationSpec(row, self.store, "copy", None, parents, (), None, None, "copy", None, 0, False)
        endpoint = self._endpoint(row.llm_model_id)
        model = self.experiment.model(row.llm_model_id)
        structured = stage.parser_kind == "score" and (template.structured_output or model.structured_output)
        request = Request(
            endpoint.name,
            model.model,
            stage_cfg["max_tokens"],
            stage_cfg["temperature"],
            JUDGE_FORMAT if structured else None,
        )
        parser = "identity" if stage.parser_kind == "none" else template.parser or "identity"
        return GenerationSpec(
            row=row,
            store=self.store,
            mode="llm",
            template=str(template.path),
            parents=parents,
            concepts=self._concept_texts(row.combo_id) if stage.reads_concepts else (),
            endpoint=endpoint,
            request=request,
            parser=parser,
            parser_name=template.parser or None,
            min_lines=stage_cfg["min_lines"],
            fail_on_truncation=stage_cfg["fail_on_truncation"],
            reasoning_tag=model.reasoning_tag,
        )
