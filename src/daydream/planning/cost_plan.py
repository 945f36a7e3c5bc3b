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

from daydream.fileio import exists, read_json_object, read_text, write_atomic
from daydream.planning.specs import GenerationSpec, SpecIndex
from daydream.stages import PARENT_STAGE, STAGES
from daydream.store.archive import request_key
from daydream.store.batches import in_open_batch
from daydream.store.index import index_of, read_record
from daydream.store.layout import METADATA, PARSED, PLAN, REDO, StoreLayout
from daydream.store.responses import own_response
from daydream.text.answer import parsed_answer, read_answer

CHARS_PER_TOKEN = 4.0
PLAN_COLUMNS = [
    "stage",
    "model_id",
    "provider",
    "calls",
    "pending_calls",
    "reused_calls",
    "est_input_tokens",
    "est_output_tokens",
    "est_cost_usd",
    "output_estimate",
    "price_factor",
]


@dataclass
class PlanLine:
    stage: str
    model_id: str
    provider: str
    calls: int = 0  # generations of this stage and model that need an LLM call
    pending: int = 0  # of them, those that will call (no stored response to their request)
    reused: int = 0  # of them, those that will reuse another generation's response (reuse: store)
    in_batch: int = 0  # of them, those whose request is in a batch in flight (committed, not new)
    input_tokens: float = 0.0  # estimated, pending calls only
    output_tokens: float = 0.0
    cost: float | None = 0.0  # None: the model has no price
    output_estimate: str = ""
    price_factor: float = 1.0  # a batched stage's discount (providers.<name>.batch.discount)


@dataclass
class CostPlan:
    cohort_id: str
    generations: dict[str, int]
    lines: list[PlanLine]

    @property
    def pending(self) -> int:
        return sum(line.pending for line in self.lines)

    @property
    def reused(self) -> int:
        return sum(line.reused for line in self.lines)

    @property
    def cost(self) -> float:
        return sum(line.cost or 0.0 for line in self.lines)

    @property
    def in_batch(self) -> int:
        return sum(line.in_batch for line in self.lines)

    def unpriced(self) -> list[PlanLine]:
        return [line for line in self.lines if line.cost is None and line.pending]

    def summary(self) -> str:
        counts = ", ".join(f"{self.generations[stage]} {stage}s" for stage in STAGES)
        reused = f" ({self.reused} more reuse other cohorts' responses)" if self.reused else ""
        if self.in_batch:
            reused += f" ({self.in_batch} more are in batches in flight: daydream batches)"
        text = (
            f"plan: cohort {self.cohort_id}: {counts}; {self.pending} LLM calls pending{reused}, "
            f"estimated ${self.cost:.4f}"
        )
        unpriced = self.unpriced()
        if unpriced:
            calls = sum(line.pending for line in unpriced)
            text += (
                f" plus {calls} calls to models without prices ({', '.join(sorted({u.model_id for u in unpriced}))})"
            )
        return text + " (details: daydream plan)"


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


@dataclass
class Outlook:
    """What a generation will cost this run: "done" (parsed already), "copy" (no call), "stored"
    (its own archived response to its request), "reused" (another generation's, reuse: store),
    "call" (a call is made). text: the parsed text it will have, where that is known now
    (children's prompts are rendered from it); None: unknown until the call is made."""

    outcome: str
    text: str | None = None
    completion_tokens: int | None = None


def outlooks(index: SpecIndex, gens: dict, config: dict, force: bool = False) -> dict[tuple[str, str], Outlook]:
    """Each generation's outcome, parents before children. A generation that is not parsed yet is
    rendered from its parents' texts (stored, or predicted from the responses that will be
    reused) to find its request: whether its own archive or (reuse: store) the store's index holds
    a response to that request and replicate."""
    store = index.store
    shared = index_of(store) if config["reuse"] == "store" else None
    if shared is not None and shared.count() == 0:
        shared = None  # nothing in the store to reuse: no need to render prompts to look it up
    found: dict[tuple[str, str], Outlook] = {}
    file_texts: dict[str, str | None] = {}

    def parsed_file(stage: str, gen_id: str) -> str | None:
        path = store.gen_file(stage, gen_id, PARSED)
        if path not in file_texts:
            try:
                file_texts[path] = read_text(path)
            except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
                file_texts[path] = None
        return file_texts[path]

    def text_of(stage: str, gen_id: str) -> str | None:
        known = found.get((stage, gen_id))
        if known is not None and known.outcome != "done":
            return known.text
        return parsed_file(stage, gen_id)  # done, or a stored parent (a re-scoring cohort's essays)

    def predicted(gen, record: dict | None) -> Outlook | None:
        if record is None or not isinstance(record.get("text"), str):
            return None
        try:
            answer = read_answer(record, gen.reasoning_tag, gen.request.response_format, gen.parser)
            text = parsed_answer(gen.stage, gen.parser, answer)  # as generate will parse it
        except Exception:  # a response that will not parse: its children cannot be foreseen
            text = None
        usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
        tokens = usage.get("completion_tokens")
        return Outlook("", text, tokens if isinstance(tokens, int) else None)

    for key, gen in gens.items():
        if os.path.isfile(gen.parsed_path) and not os.path.isfile(gen.gen_dir / REDO):
            found[key] = Outlook("done")
            continue
        if gen.mode == "copy":
            found[key] = Outlook("copy", text_of(PARENT_STAGE[gen.stage], gen.row.parent_gen_id))
            continue
        texts = {stage: text_of(stage, gen_id) for stage, gen_id in gen.parents.items()}
        has_folder = os.path.isdir(gen.gen_dir)
        if force or any(text is None for text in texts.values()) or (shared is None and not has_folder):
            found[key] = Outlook("call")  # nothing stored that could answer it
            continue
        request = request_key(gen.request, gen.render_prompt(texts))
        redo = gen.redo_after()
        own = own_response(store, gen.stage, gen.gen_id, request, redo) if has_folder else None
        if own is not None:
            outlook = predicted(gen, own.record)
            found[key] = Outlook("stored", outlook.text, outlook.completion_tokens)
            continue
        if shared is not None and redo is None:
            entry = next(
                (e for e in shared.paid(request, gen.row.replicate) if e.folder != f"{gen.stage}/{gen.gen_id}"), None
            )
            outlook = predicted(gen, read_record(store.path / entry.path)) if entry else None
            if outlook is not None:
                found[key] = Outlook("reused", outlook.text, outlook.completion_tokens)
                continue
        in_flight = in_open_batch(store, gen.endpoint.name, request, gen.row.replicate)
        found[key] = Outlook("in_batch" if in_flight is not None else "call")
    return found


def cost_plan(
    index: SpecIndex, rows, cohort_id: str, config: dict, prices: dict[str, dict], force: bool = False
) -> CostPlan:
    """rows: the cohort's membership rows; index: a SpecIndex of its own (rows are set on it)."""
    index.use_rows(rows)
    gens = {(row.stage, row.gen_id): index.get(row.stage, row.gen_id) for row in rows}
    ahead = outlooks(index, gens, config, force)
    generations = dict.fromkeys(STAGES, 0)
    for stage, _ in gens:
        generations[stage] += 1
    lines = _lines(gens, ahead)
    if not any(line.pending for line in lines):
        return _priced(CostPlan(cohort_id, generations, lines), prices)

    # observed completions, to estimate the pending ones
    observed: dict[tuple[str, str], list[int]] = {}
    for (stage, _), gen in gens.items():
        outlook = ahead[(stage, gen.row.gen_id)]
        if gen.mode != "llm" or outlook.outcome == "call":
            continue
        tokens = outlook.completion_tokens
        if tokens is None and outlook.outcome == "done":
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
        text, stored, foreseen or estimated."""
        total = float(sum(_file_chars(concept.path, chars) for concept in gen.concepts))
        for stage, path in gen.parent_files.items():
            outlook = ahead.get((stage, gen.parents[stage]))
            if outlook is not None and outlook.text is not None:
                total += len(outlook.text)
                continue
            if exists(path):  # stored (a re-scoring cohort's are all stored)
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
        if gen.mode != "llm" or ahead[key].outcome != "call":
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


def _lines(gens: dict, ahead: dict[tuple[str, str], Outlook]) -> list[PlanLine]:
    lines: dict[tuple[str, str], PlanLine] = {}
    for key, gen in gens.items():
        if gen.mode != "llm":
            continue
        line = lines.get((gen.stage, gen.row.llm_model_id))
        if line is None:
            line = lines[(gen.stage, gen.row.llm_model_id)] = PlanLine(
                gen.stage, gen.row.llm_model_id, gen.endpoint.name
            )
            if gen.batched:
                line.price_factor = gen.endpoint.batch.discount
        line.calls += 1
        line.pending += ahead[key].outcome == "call"
        line.reused += ahead[key].outcome == "reused"
        line.in_batch += ahead[key].outcome == "in_batch"
    return sorted(lines.values(), key=lambda line: (STAGES.index(line.stage), line.model_id))


def _cost(line: PlanLine, prices: dict) -> float | None:
    if line.provider == "offline":
        return 0.0
    price = prices.get(line.model_id) or {}
    if price.get("input") is None or price.get("output") is None:
        return None
    return (line.input_tokens * price["input"] / 1e6 + line.output_tokens * price["output"] / 1e6) * line.price_factor


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
                line.reused,
                round(line.input_tokens),
                round(line.output_tokens),
                cost,
                line.output_estimate,
                line.price_factor,
            ]
        )
    return buffer.getvalue()


def format_plan(plan: CostPlan) -> str:
    header = (
        f"{'stage':<11}{'model':<24}{'calls':>7}{'pending':>9}{'reused':>8}{'in tokens':>12}{'out tokens':>12}"
        f"{'cost $':>11}"
    )
    lines = [header]
    for line in plan.lines:
        cost = "no price" if line.cost is None else f"{line.cost:.4f}"
        lines.append(
            f"{line.stage:<11}{line.model_id[:23]:<24}{line.calls:>7}{line.pending:>9}{line.reused:>8}"
            f"{round(line.input_tokens):>12,}{round(line.output_tokens):>12,}{cost:>11}"
            + (f"  (batched: {line.price_factor:g} x the table's prices)" if line.price_factor != 1 else "")
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
