"""What a cohort will still call and cost, before anything is paid: per stage and model, the
pending calls (generations with no stored response), estimated tokens and cost.

Estimates: a token is CHARS_PER_TOKEN characters. Input: the template file plus what fills it
(a draft's concept descriptions; the parent's stored text, or its estimated length). Output: the
mean completion of this cohort's stored responses of the same stage and model, else of the same
stage, else `stages.<stage>.expected_output_tokens` from the config, never above max_tokens."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from daydream.planning.specs import GenerationSpec, SpecIndex
from daydream.stages import PARENT_STAGE, STAGES
from daydream.store.fileio import read_json_object, write_atomic
from daydream.store.layout import METADATA, PARSED, PLAN, RAW, StoreLayout, responses_dir

CHARS_PER_TOKEN = 4.0
PLAN_COLUMNS = [
    "stage",
    "model_id",
    "provider",
    "calls",
    "pending_calls",
    "est_input_tokens",
    "est_output_tokens",
    "est_cost_usd",
    "output_estimate",
]


@dataclass
class PlanLine:
    stage: str
    model_id: str
    provider: str
    calls: int = 0  # generations of this stage and model that need an LLM call
    pending: int = 0  # of them, those with no stored response
    input_tokens: float = 0.0  # estimated, pending calls only
    output_tokens: float = 0.0
    cost: float | None = 0.0  # None: the model has no price
    output_estimate: str = ""


@dataclass
class CostPlan:
    cohort_id: str
    generations: dict[str, int]
    lines: list[PlanLine]

    @property
    def pending(self) -> int:
        return sum(line.pending for line in self.lines)

    @property
    def cost(self) -> float:
        return sum(line.cost or 0.0 for line in self.lines)

    def unpriced(self) -> list[PlanLine]:
        return [line for line in self.lines if line.cost is None and line.pending]

    def summary(self) -> str:
        n = self.generations
        text = (
            f"plan: cohort {self.cohort_id}: {n['draft']} drafts, {n['essay']} essays, {n['evaluation']} evaluations; "
            f"{self.pending} LLM calls pending, estimated ${self.cost:.4f}"
        )
        unpriced = self.unpriced()
        if unpriced:
            calls = sum(line.pending for line in unpriced)
            text += (
                f" plus {calls} calls to models without prices ({', '.join(sorted({u.model_id for u in unpriced}))})"
            )
        return text + " (details: daydream plan)"


def response_stored(gen_dir: Path) -> bool:
    """A response for this generation is in the store (parsed, raw or archived)."""
    if (gen_dir / PARSED).is_file() or (gen_dir / RAW).is_file():
        return True
    try:
        return any(name.endswith(".json") for name in os.listdir(responses_dir(gen_dir)))
    except OSError:
        return False


def _file_chars(path, cache: dict) -> int:
    size = cache.get(path)
    if size is None:
        try:
            size = cache[path] = os.path.getsize(path)
        except OSError:
            size = cache[path] = 0
    return size


def _completion_tokens(gen_dir: Path) -> int | None:
    try:
        return int(read_json_object(gen_dir / METADATA)["usage"]["completion_tokens"])
    except (ValueError, KeyError, TypeError):
        return None


def cost_plan(index: SpecIndex, rows, cohort_id: str, config: dict, prices: dict[str, dict]) -> CostPlan:
    """rows: the cohort's membership rows; index: a SpecIndex of its own (rows are set on it)."""
    index.use_rows(rows)
    gens = {(row.stage, row.gen_id): index.get(row.stage, row.gen_id) for row in rows}
    stored = {key: response_stored(Path(gen.gen_dir)) for key, gen in gens.items()}
    generations = dict.fromkeys(STAGES, 0)
    for stage, _ in gens:
        generations[stage] += 1
    lines = _lines(gens, stored)
    if not any(line.pending for line in lines):
        return _priced(CostPlan(cohort_id, generations, lines), prices)

    # observed completions, to estimate the pending ones
    observed: dict[tuple[str, str], list[int]] = {}
    for (stage, _), gen in gens.items():
        if gen.mode == "llm" and stored[(stage, gen.row.gen_id)]:
            tokens = _completion_tokens(Path(gen.gen_dir))
            if tokens is not None:
                observed.setdefault((stage, gen.row.llm_model_id), []).append(tokens)

    def output_tokens(gen: GenerationSpec) -> tuple[float, str]:
        stage, model_id = gen.stage, gen.row.llm_model_id
        cap = gen.request.max_tokens
        same = observed.get((stage, model_id))
        if same:
            return min(cap, sum(same) / len(same)), f"mean of {len(same)} stored"
        stage_values = [v for (s, _), values in observed.items() if s == stage for v in values]
        if stage_values:
            return min(cap, sum(stage_values) / len(stage_values)), f"mean of {len(stage_values)} stored, other models"
        return min(cap, config["stages"][stage]["expected_output_tokens"]), "expected_output_tokens"

    chars: dict = {}

    def parent_chars(gen: GenerationSpec) -> float:
        """The length of the text that fills the template: concept descriptions, and each parent's
        text, stored or estimated."""
        total = float(sum(_file_chars(concept.path, chars) for concept in gen.concepts))
        for stage, path in gen.parent_files.items():
            if Path(path).is_file():  # stored (a re-scoring cohort's are all stored)
                total += _file_chars(path, chars)
                continue
            parent = gens.get((stage, gen.parents[stage]))
            while parent is not None and parent.mode == "copy":  # a copy is its parent's text
                parent = gens.get((PARENT_STAGE[parent.stage], parent.row.parent_gen_id))
            if parent is not None:
                total += output_tokens(parent)[0] * CHARS_PER_TOKEN
        return total

    by_key = {(line.stage, line.model_id): line for line in lines}
    for key, gen in gens.items():
        if gen.mode != "llm" or stored[key]:
            continue
        line = by_key[(gen.stage, gen.row.llm_model_id)]
        prompt_chars = _file_chars(gen.template, chars) + parent_chars(gen)
        tokens, basis = output_tokens(gen)
        line.input_tokens += prompt_chars / CHARS_PER_TOKEN
        line.output_tokens += tokens
        line.output_estimate = basis
    return _priced(CostPlan(cohort_id, generations, lines), prices)


def _priced(plan: CostPlan, prices: dict) -> CostPlan:
    for line in plan.lines:
        line.cost = _cost(line, prices)
    return plan


def _lines(gens: dict, stored: dict) -> list[PlanLine]:
    lines: dict[tuple[str, str], PlanLine] = {}
    for key, gen in gens.items():
        if gen.mode != "llm":
            continue
        line = lines.setdefault(
            (gen.stage, gen.row.llm_model_id), PlanLine(gen.stage, gen.row.llm_model_id, gen.endpoint.name)
        )
        line.calls += 1
        line.pending += 0 if stored[key] else 1
    return sorted(lines.values(), key=lambda line: (STAGES.index(line.stage), line.model_id))


def _cost(line: PlanLine, prices: dict) -> float | None:
    if line.provider == "offline":
        return 0.0
    price = prices.get(line.model_id) or {}
    if price.get("input") is None or price.get("output") is None:
        return None
    return line.input_tokens * price["input"] / 1e6 + line.output_tokens * price["output"] / 1e6


def plan_csv(plan: CostPlan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PLAN_COLUMNS)
    for line in plan.lines:
        cost = "" if line.cost is None else f"{line.cost:.6f}"
        writer.writerow(
            [
                line.stage,
                line.model_id,
                line.provider,
                line.calls,
                line.pending,
                round(line.input_tokens),
                round(line.output_tokens),
                cost,
                line.output_estimate,
            ]
        )
    return buffer.getvalue()


def format_plan(plan: CostPlan) -> str:
    header = f"{'stage':<11}{'model':<24}{'calls':>7}{'pending':>9}{'in tokens':>12}{'out tokens':>12}{'cost $':>11}"
    lines = [header]
    for line in plan.lines:
        cost = "no price" if line.cost is None else f"{line.cost:.4f}"
        lines.append(
            f"{line.stage:<11}{line.model_id[:23]:<24}{line.calls:>7}{line.pending:>9}"
            f"{round(line.input_tokens):>12,}{round(line.output_tokens):>12,}{cost:>11}"
        )
    lines.append(plan.summary())
    return "\n".join(lines)


def write_plan(plan: CostPlan, data_root) -> str:
    """The plan as a table in <data_root>/cohorts/<cohort>/plan.csv; returns it as printed, with
    where it went."""
    out = StoreLayout(data_root).cohort_file(plan.cohort_id, PLAN)
    write_atomic(out, plan_csv(plan))
    return f"{format_plan(plan)}\n-> {out}"


def check_budget(plan: CostPlan, max_cost_usd: float | None) -> None:
    """Refuse a run whose pending calls are estimated above max_cost_usd, or go to unpriced models."""
    from daydream.errors import InputError

    if max_cost_usd is None:
        return
    unpriced = plan.unpriced()
    if unpriced:
        models = ", ".join(sorted({line.model_id for line in unpriced}))
        raise InputError(
            f"max_cost_usd is set, and {sum(u.pending for u in unpriced)} pending calls go to models without "
            f"prices ({models}): give them input_price_per_mtok and output_price_per_mtok in llm_models.csv",
            field="max_cost_usd",
        )
    if plan.cost > max_cost_usd:
        raise InputError(
            f"the {plan.pending} pending calls are estimated at ${plan.cost:.4f}, "
            f"over max_cost_usd=${max_cost_usd:.4f}: "
            "raise max_cost_usd in the config (or --config max_cost_usd=N), or plan a smaller cohort "
            "(daydream plan shows the estimate per stage and model)",
            field="max_cost_usd",
        )
