"""Where a cohort stands, from its files alone (so it works during a run, from another terminal):
per stage planned, done, failed (with the reason from the job's log) and pending generations,
and the spend recorded so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daydream.fileio import exists, listdir, read_json_object, read_text
from daydream.stages import STAGES
from daydream.store.labels import cohort_labels, verdicts
from daydream.store.layout import JOB_LOGS, METADATA, PARSED, StoreLayout
from daydream.store.metadata import model_of, number, value

ERROR_PREFIX = "error: "  # how runner.job_log records the exception that stopped a job


@dataclass
class CohortStatus:
    cohort_id: str
    planned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {s: [] for s in STAGES})
    cost: float = 0.0
    unpriced_calls: int = 0
    reused_calls: int = 0  # responses taken from other generations (paid there)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # essays by their reviewers' verdict (store/labels.py)
    reviewers: int = 0

    def failed(self, stage: str) -> int:
        return len(self.failures[stage])

    def pending(self, stage: str) -> int:
        return self.planned[stage] - self.done[stage] - self.failed(stage)

    def failures_by_reason(self) -> dict[tuple[str, str], list[str]]:
        """(stage, reason) -> gen_ids, the most frequent reason first."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for stage in STAGES:
            for gen_id, reason in self.failures[stage]:
                grouped.setdefault((stage, reason), []).append(gen_id)
        return dict(sorted(grouped.items(), key=lambda item: -len(item[1])))


def failure_reason(log_dir: Path) -> str | None:
    """The error that stopped the generation's last job (generate, else prompt), if any."""
    for job in JOB_LOGS:
        try:
            lines = read_text(log_dir / f"{job}.log", errors="replace").splitlines()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        errors = [line[len(ERROR_PREFIX) :] for line in lines if line.startswith(ERROR_PREFIX)]
        if errors:
            return errors[-1]
    return None


def cohort_status(data_root: str | Path, cohort_id: str, rows) -> CohortStatus:
    """rows: the cohort's membership (objects with .stage and .gen_id)."""
    rows = list(rows)
    store = StoreLayout(data_root)
    status = CohortStatus(cohort_id)
    for row in rows:
        status.planned[row.stage] += 1
        if exists(store.gen_dir(row.stage, row.gen_id) / PARSED):
            status.done[row.stage] += 1
        else:
            reason = failure_reason(store.job_log_dir(row.stage, row.gen_id))
            if reason is not None:
                status.failures[row.stage].append((row.gen_id, reason))
    essay_ids = {row.gen_id for row in rows if row.stage == "essay"}
    labels = cohort_labels(data_root, cohort_id)
    for gen_id, verdict in verdicts(labels).items():
        if gen_id in essay_ids:
            status.labels[verdict.state] = status.labels.get(verdict.state, 0) + 1
    status.reviewers = len({label.reviewer for label in labels})
    for spent in spend_rows(cohort_metadata_paths(data_root, rows)):
        status.prompt_tokens += spent["prompt_tokens"]
        status.completion_tokens += spent["completion_tokens"]
        status.unpriced_calls += spent["unpriced_calls"]
        status.reused_calls += spent["reused_calls"]
        if spent["provider"] != "offline":  # offline calls cost nothing, whatever price a table gives
            status.cost += spent["cost_usd"]
    return status


def format_status(status: CohortStatus, ids_per_reason: int | None = None) -> str:
    lines = [
        f"cohort {status.cohort_id}",
        f"{'stage':<12}{'planned':>9}{'done':>9}{'failed':>9}{'pending':>9}",
    ]
    for stage in STAGES:
        lines.append(
            f"{stage:<12}{status.planned[stage]:>9}{status.done[stage]:>9}"
            f"{status.failed(stage):>9}{status.pending(stage):>9}"
        )
    lines.append(format_failures(status, ids_per_reason) or "no failed generations")
    spend = f"spend recorded: ${status.cost:.4f}"
    if status.unpriced_calls:
        spend += f" (and {status.unpriced_calls} calls to models without prices in llm_models.csv)"
    if status.reused_calls:
        spend += f"; {status.reused_calls} responses reused from other cohorts' generations (paid there)"
    lines.append(f"{spend}; tokens: {status.prompt_tokens:,} in, {status.completion_tokens:,} out")
    labelled = sum(status.labels.values())
    if labelled:
        states = ", ".join(f"{count} {state}" for state, count in sorted(status.labels.items()))
        lines.append(
            f"human labels: {labelled} of {status.planned['essay']} essays labelled ({states}) "
            f"by {status.reviewers} reviewers"
        )
    else:
        lines.append(f"human labels: none of {status.planned['essay']} essays labelled yet (daydream review)")
    return "\n".join(lines)


def format_failures(status: CohortStatus, ids_per_reason: int | None = None) -> str:
    grouped = status.failures_by_reason()
    if not grouped:
        return ""
    total = sum(len(ids) for ids in grouped.values())
    lines = [f"{total} failed generation(s), by reason:"]
    for (stage, reason), gen_ids in grouped.items():
        shown = gen_ids if ids_per_reason is None else gen_ids[:ids_per_reason]
        more = f" and {len(gen_ids) - len(shown)} more" if len(shown) < len(gen_ids) else ""
        lines.append(f"  {stage} ({len(gen_ids)}): {reason}")
        lines.append(f"    {', '.join(shown)}{more}")
    return "\n".join(lines)


SPEND_COLUMNS = [
    "stage",
    "model_id",
    "provider",
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cost_usd",
    "provider_cost_calls",
    "batch_calls",
    "unpriced_calls",
    "reused_calls",
    "reused_cost_usd",
]


def paid_elsewhere(metadata: dict, gen_id: str) -> bool:
    """The generation's response was paid for by another generation (reused by request): its cost
    is counted there, once."""
    source = metadata.get("response_source")
    return isinstance(source, dict) and source.get("gen_id") not in (None, "", gen_id)


def spend_rows(metadata_paths) -> list[dict]:
    """Recorded spend per stage and model (cost and tokens from each generation's metadata.json):
    calls, tokens and cost_usd count the responses paid for by these generations, once each
    (reasoning and cached prompt tokens as far as the provider reported them); provider_cost_calls
    those whose cost is the provider's reported charge (the rest: the price table's),
    batch_calls those made in a batch; unpriced_calls the remote ones without a price;
    reused_calls and reused_cost_usd the responses they took from other generations (paid there,
    not again)."""
    totals: dict[tuple[str, str], dict] = {}
    for path in metadata_paths:
        metadata = read_json_object(path)
        if metadata.get("mode") != "llm":
            continue
        stage = value(metadata, "stage", path=path) or Path(path).parent.parent.name
        model_id = model_of(metadata, path) or value(metadata, "model", path=path)
        provider = value(metadata, "provider", path=path)
        row = totals.setdefault(
            (stage, model_id),
            {name: 0.0 if name.endswith("_usd") else 0 for name in SPEND_COLUMNS}
            | {"stage": stage, "model_id": model_id, "provider": provider},
        )
        cost = number(metadata, "cost", path)
        if paid_elsewhere(metadata, value(metadata, "gen_id", path=path) or Path(path).parent.name):
            row["reused_calls"] += 1
            row["reused_cost_usd"] += cost or 0.0
            continue
        usage = metadata.get("usage") if isinstance(metadata.get("usage"), dict) else {}
        row["calls"] += 1
        row["prompt_tokens"] += int(number(usage, "prompt_tokens", path) or 0)
        row["completion_tokens"] += int(number(usage, "completion_tokens", path) or 0)
        row["reasoning_tokens"] += int(number(usage, "reasoning_tokens", path) or 0)
        row["cached_tokens"] += int(number(usage, "cached_tokens", path) or 0)
        row["batch_calls"] += isinstance(metadata.get("batch"), dict)
        if cost is not None:
            row["cost_usd"] += cost
            row["provider_cost_calls"] += metadata.get("cost_source") == "provider"
        elif provider != "offline":
            row["unpriced_calls"] += 1
    order = {stage: i for i, stage in enumerate(STAGES)}
    return sorted(totals.values(), key=lambda row: (order.get(row["stage"], len(order)), row["model_id"]))


def store_metadata_paths(data_root: str | Path):
    store = StoreLayout(data_root)
    return [
        store.gen_dir(stage, gen_id) / METADATA
        for stage in STAGES
        for gen_id in sorted(listdir(store.stage_dir(stage)))
        if not gen_id.startswith(".")
    ]


def cohort_metadata_paths(data_root: str | Path, rows):
    store = StoreLayout(data_root)
    return [store.gen_dir(row.stage, row.gen_id) / METADATA for row in rows]


def format_spend(rows: list[dict], title: str) -> str:
    lines = [
        title,
        f"{'stage':<11}{'model':<24}{'calls':>7}{'in tokens':>12}{'out tokens':>12}{'cost $':>11}{'reused':>8}",
    ]
    for row in rows:
        notes = [
            f"{row['reasoning_tokens']:,} reasoning tokens" if row["reasoning_tokens"] else "",
            f"{row['cached_tokens']:,} cached prompt tokens" if row["cached_tokens"] else "",
            f"{row['provider_cost_calls']} costs reported by the provider" if row["provider_cost_calls"] else "",
            f"{row['batch_calls']} in batches" if row["batch_calls"] else "",
            f"+{row['unpriced_calls']} without price" if row["unpriced_calls"] else "",
        ]
        notes = [note for note in notes if note]
        lines.append(
            f"{row['stage']:<11}{row['model_id'][:23]:<24}{row['calls']:>7}{row['prompt_tokens']:>12,}"
            f"{row['completion_tokens']:>12,}{row['cost_usd']:>11.4f}{row['reused_calls']:>8}"
            + (f"  ({'; '.join(notes)})" if notes else "")
        )
    total = sum(row["cost_usd"] for row in rows)
    reused = sum(row["reused_calls"] for row in rows)
    saved = sum(row["reused_cost_usd"] for row in rows)
    lines.append(
        f"{'total':<35}{sum(r['calls'] for r in rows):>7}{'':>24}{total:>11.4f}{reused:>8}"
        + (f"  (reused responses were paid ${saved:.4f} where they were first made)" if saved else "")
    )
    return "\n".join(lines)
