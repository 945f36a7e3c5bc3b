"""The experiment definition: concept, template, model and replication tables, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daydream.errors import InputError, row_error
from daydream.ids import is_safe_id, unsafe_id_message
from daydream.stages import MODEL_ROLES, STAGE_MODEL, STAGES
from daydream.store.layout import StoreLayout
from daydream.tables import (
    check_unique,
    parse_bool,
    parse_optional_bool,
    parse_optional_float,
    parse_positive_int,
    read_table,
    read_text,
)
from daydream.text import parsers, reasoning

LEVELS = ("sentence", "paragraph", "article")
MAX_REPLICATES = 100  # per stage; the cube's size has its own limit (config max_generations)
DRAFT_PARSERS = tuple(parsers.DRAFT_PARSERS)
EVALUATION_PARSERS = tuple(parsers.SCORE_PARSERS)
TEMPLATE_COLUMNS = ["template_id", "template_name", "description", "parser", "generator", "active"]
MODEL_COLUMNS = ["id", "model", "provider", "display_name", "for_generation", "for_evaluation"]


@dataclass(frozen=True)
class Concept:
    concept_id: str
    name: str
    active: bool


@dataclass(frozen=True)
class Template:
    stage: str
    template_id: str
    name: str
    parser: str
    generator: str
    active: bool
    path: Path
    structured_output: bool = False  # evaluation templates: ask the judge for JSON (text/structured.py)


@dataclass(frozen=True)
class Model:
    model_id: str
    model: str
    provider: str
    display_name: str
    for_generation: bool
    for_evaluation: bool
    input_price: float | None = None
    output_price: float | None = None
    reasoning_tag: str = reasoning.DEFAULT_TAG  # thinking blocks taken out of its answers (text/reasoning.py)
    structured_output: bool = False  # as a judge, asked for JSON (text/structured.py)


@dataclass
class Experiment:
    data_root: Path
    templates_root: Path
    concepts: list[Concept]
    templates: dict[str, list[Template]]
    models: list[Model]
    replicates: dict[str, int]
    sources: dict[str, Path] = field(default_factory=dict)

    def active_concepts(self) -> list[Concept]:
        return [c for c in self.concepts if c.active]

    def active_templates(self, stage: str) -> list[Template]:
        return [t for t in self.templates[stage] if t.active]

    def template(self, stage: str, template_id: str) -> Template:
        for t in self.templates[stage]:
            if t.template_id == template_id:
                return t
        raise InputError(f"unknown {stage} template id {template_id!r}", file=self.sources[stage], field="template_id")

    def model(self, model_id: str) -> Model:
        for m in self.models:
            if m.model_id == model_id:
                return m
        raise InputError(f"unknown model id {model_id!r}", file=self.sources["models"], field="id")

    def models_for(self, role: str) -> list[Model]:
        """The models marked for a role (stages.MODEL_ROLES: its column in llm_models.csv)."""
        column = MODEL_ROLES[role]
        return [m for m in self.models if getattr(m, column)]

    def concept(self, concept_id: str) -> Concept:
        for c in self.concepts:
            if c.concept_id == concept_id:
                return c
        raise InputError(f"unknown concept id {concept_id!r}", file=self.sources["concepts"], field="concept_id")


def _check_safe(row: dict, field_name: str, path: Path) -> str:
    value = row[field_name]
    if not is_safe_id(value):
        raise row_error(unsafe_id_message(value), row, path, field_name)
    return value


def check_inside(path: Path, root: Path) -> Path:
    """path, refused when it resolves (through a symlink) to a file outside root: a shared
    experiment must not make the workflow read, and send to a provider, a file elsewhere."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(root).resolve()):
        raise InputError(f"resolves to {resolved}, outside {root}: files are only read from inside it", file=path)
    return path


def load_concepts(data_root: Path) -> list[Concept]:
    path = StoreLayout(data_root).raw_table("concepts_metadata")
    rows = read_table(path, ["concept_id", "name", "active"])
    concepts = []
    for row in rows:
        _check_safe(row, "concept_id", path)
        if not row["name"]:
            raise row_error("empty concept name", row, path, "name")
        concepts.append(Concept(row["concept_id"], row["name"], parse_bool(row, "active", path)))
    check_unique(rows, "concept_id", path)
    return concepts


def check_template_text(path: Path, stage: str) -> None:
    """Parse a Jinja2 template, refuse what the sandbox would refuse in a job (other files,
    variables the stage does not provide, Python internals), and render it once with sample
    values, so a template that would fail fails before any job."""
    from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes
    from jinja2.exceptions import SecurityError

    from daydream.text.render import environment, render_bounded

    text = read_text(path)
    env = environment()
    try:
        ast = env.parse(text)
    except TemplateSyntaxError as exc:
        raise InputError(f"template syntax error: {exc.message}", file=path, line=exc.lineno) from None
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        keyword = {nodes.Include: "include", nodes.Extends: "extends"}.get(type(node), "import")
        raise InputError(
            f"templates cannot {keyword} other files ({{% {keyword} %}}): put the text in this template",
            file=path,
            line=node.lineno,
        )
    variables = STAGE_MODEL[stage].variables
    unknown = sorted(meta.find_undeclared_variables(ast) - variables - set(env.globals))
    if unknown:
        raise InputError(
            f"undefined template variable(s) {', '.join(unknown)}; {stage} templates may use: "
            + ", ".join(sorted(variables)),
            file=path,
            field=unknown[0],
        )
    try:
        render_bounded(env.from_string(text), STAGE_MODEL[stage].sample_context)
    except SecurityError as exc:
        raise InputError(f"template refused by the sandbox: {exc}", file=path) from None
    except TemplateError as exc:
        raise InputError(f"template fails with sample values: {exc}", file=path) from None


def load_templates(data_root: Path, templates_root: Path, stage: str) -> list[Template]:
    path = StoreLayout(data_root).raw_table(f"{stage}_templates")
    rows = read_table(path, TEMPLATE_COLUMNS)
    kind = STAGE_MODEL[stage].parser_kind
    templates = []
    for row in rows:
        template_id = _check_safe(row, "template_id", path)
        active = parse_bool(row, "active", path)
        generator = row["generator"].lower()
        if generator not in ("llm", "copy"):
            raise row_error(f"generator must be 'llm' or 'copy', got {row['generator']!r}", row, path, "generator")
        if generator == "copy" and not STAGE_MODEL[stage].copy_allowed:
            copying = " and ".join(name for name, s in STAGE_MODEL.items() if s.copy_allowed)
            raise row_error(f"generator 'copy' is only for {copying} templates, not {stage}", row, path, "generator")
        parser = row["parser"]
        if kind == "text" and parser not in DRAFT_PARSERS:
            raise row_error(
                f"unknown {stage} parser {parser!r}; known: {', '.join(p for p in DRAFT_PARSERS if p)} (or empty)",
                row,
                path,
                "parser",
            )
        if kind == "score" and active and parser not in EVALUATION_PARSERS:
            raise row_error(
                f"unknown {stage} parser {parser!r}; known: {', '.join(EVALUATION_PARSERS)}",
                row,
                path,
                "parser",
            )
        text_path = templates_root / stage / f"{template_id}.txt"
        if active and generator == "llm":
            if not text_path.is_file():
                raise row_error(f"template file missing: {text_path}", row, path, "template_id")
            check_inside(text_path, templates_root)
            check_template_text(text_path, stage)
        structured = parse_optional_bool(row, "structured_output", path)
        if structured and kind != "score":
            raise row_error(
                f"structured_output is for judges (evaluation templates), not {stage}", row, path, "structured_output"
            )
        templates.append(
            Template(stage, template_id, row["template_name"], parser, generator, active, text_path, structured)
        )
    check_unique(rows, "template_id", path)
    return templates


def _reasoning_tag(row: dict, path: Path) -> str:
    """The optional reasoning_tag column: the thinking blocks' tag (default think), or none."""
    tag = (row.get("reasoning_tag") or "").strip() or reasoning.DEFAULT_TAG
    if tag.lower() == reasoning.NO_TAG:
        return reasoning.NO_TAG
    if not reasoning.TAG_PATTERN.match(tag):
        raise row_error(
            f"reasoning_tag must be a tag name like think (for <think>...</think>) or none, got {tag!r}",
            row,
            path,
            "reasoning_tag",
        )
    return tag


def load_models(data_root: Path) -> list[Model]:
    path = StoreLayout(data_root).raw_table("llm_models")
    rows = read_table(path, MODEL_COLUMNS)
    models = []
    for row in rows:
        _check_safe(row, "id", path)
        for_generation = parse_bool(row, "for_generation", path)
        for_evaluation = parse_bool(row, "for_evaluation", path)
        if (for_generation or for_evaluation) and not row["model"]:
            raise row_error("empty model string", row, path, "model")
        if (for_generation or for_evaluation) and not is_safe_id(row["provider"]):
            raise row_error(f"bad provider name {row['provider']!r}", row, path, "provider")
        models.append(
            Model(
                row["id"],
                row["model"],
                row["provider"],
                row["display_name"],
                for_generation,
                for_evaluation,
                parse_optional_float(row, "input_price_per_mtok", path) if "input_price_per_mtok" in row else None,
                parse_optional_float(row, "output_price_per_mtok", path) if "output_price_per_mtok" in row else None,
                _reasoning_tag(row, path),
                parse_optional_bool(row, "structured_output", path),
            )
        )
    check_unique(rows, "id", path)
    return models


def load_replicates(data_root: Path) -> dict[str, int]:
    path = StoreLayout(data_root).raw_table("replication_config")
    rows = read_table(path, ["stage", "replicates"])
    replicates: dict[str, int] = {}
    for row in rows:
        stage = row["stage"]
        if stage not in STAGES:
            raise row_error(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}", row, path, "stage")
        if stage in replicates:
            raise row_error(f"duplicate stage {stage!r}", row, path, "stage")
        replicates[stage] = parse_positive_int(row, "replicates", path, MAX_REPLICATES)
    for stage in STAGES:
        if stage not in replicates:
            raise InputError(f"no row for stage {stage!r}", file=path, field="stage")
    return replicates


def load_experiment(data_root: str | Path, templates_root: str | Path) -> Experiment:
    """Read and validate every table of an experiment directory (no LLM, no writes)."""
    data_root = Path(data_root)
    templates_root = Path(templates_root)
    store = StoreLayout(data_root)
    raw = store.raw_dir
    if not raw.is_dir():
        raise InputError("experiment directory not found (expected <data_root>/1_raw)", file=raw)
    experiment = Experiment(
        data_root=data_root,
        templates_root=templates_root,
        concepts=load_concepts(data_root),
        templates={stage: load_templates(data_root, templates_root, stage) for stage in STAGES},
        models=load_models(data_root),
        replicates=load_replicates(data_root),
        sources={
            "concepts": store.raw_table("concepts_metadata"),
            "models": store.raw_table("llm_models"),
            "replicates": store.raw_table("replication_config"),
            **{stage: store.raw_table(f"{stage}_templates") for stage in STAGES},
        },
    )
    return experiment


def resolve_description(data_root: Path, concept_id: str, level: str) -> tuple[str, Path]:
    """The level actually used for a concept and its file: the configured level, else the
    nearest shorter one, else (last resort) the nearest longer one."""
    index = LEVELS.index(level)
    order = list(reversed(LEVELS[: index + 1])) + list(LEVELS[index + 1 :])
    for candidate in order:
        path = StoreLayout(data_root).description(candidate, concept_id)
        if path.is_file():
            return candidate, check_inside(path, data_root)
    raise InputError(
        f"concept {concept_id!r} has no description at any level "
        f"(looked for {StoreLayout(data_root).description(level, concept_id)})",
        file=StoreLayout(data_root).raw_table("concepts_metadata"),
        field="concept_id",
    )


def check_experiment_axes(experiment: Experiment) -> None:
    """Errors that make the cube empty or unusable."""
    for stage in STAGES:
        if not experiment.active_templates(stage):
            raise InputError(f"no active {stage} template", file=experiment.sources[stage], field="active")
    for role, column in MODEL_ROLES.items():
        if not experiment.models_for(role):
            raise InputError(f"no model is marked {column}", file=experiment.sources["models"], field=column)
