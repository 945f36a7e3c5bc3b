"""One row per evaluation from the gens store, with its lineage: the essay and draft it scores
(walked up by stage name through parent_gen_id), and a score or the reason there is none."""

from __future__ import annotations

from pathlib import Path

from daydream.store.fileio import read_json_object
from daydream.store.layout import METADATA, PARSED, RAW, StoreLayout
from daydream.store.metadata import ancestors, model_of, template_of

SCORE_COLUMNS = [
    "gen_id",
    "parent_gen_id",
    "cohort_id",
    "evaluation_template",
    "evaluation_llm_model",
    "replicate",
    "score",
    "error",
    "combo_id",
    "draft_template",
    "generation_template",
    "generation_model",
    "evaluation_response_path",
    "generation_response_path",
]
ESSAY_KEYS = ["parent_gen_id", "combo_id", "draft_template", "generation_template", "generation_model"]


def _score_or_error(store: StoreLayout, gen_dir: Path, meta: dict) -> tuple[float | None, str]:
    from daydream.text.parsers import ParseError, parse_score

    parsed = gen_dir / PARSED
    if parsed.is_file():
        text = parsed.read_text(encoding="utf-8", errors="replace").strip()
        try:
            score = float(text)
        except ValueError:
            return None, f"invalid parsed.txt: {text[:60]!r}"
        if not 0.0 <= score <= 10.0:
            return None, f"score {score:g} outside 0-10"
        return score, ""
    from daydream.analysis.status import failure_reason

    reason = failure_reason(store.job_log_dir("evaluation", gen_dir.name))
    if reason:
        return None, f"failed: {reason}"
    raw = gen_dir / RAW
    if not raw.is_file():
        return None, "no raw.txt and no parsed.txt"
    parser = meta.get("parser_name")
    if meta.get("truncated"):
        return None, "parsed.txt missing: response truncated"
    try:
        parse_score(raw.read_text(encoding="utf-8", errors="replace"), parser or "")
    except ParseError as exc:
        return None, f"parsed.txt missing: {exc}"
    return None, "parsed.txt missing: generate job not run"


def score_rows(data_root: str | Path, evaluation_ids: list[str] | None = None) -> list[dict]:
    """One row per evaluation: the given ones (a cohort's), or every one in the store."""
    store = StoreLayout(data_root)
    rows = []
    essay_cache: dict[str, dict] = {}
    if evaluation_ids is None:
        folders = sorted(store.stage_dir("evaluation").glob("*/"))
    else:
        folders = [store.gen_dir("evaluation", gen_id) for gen_id in evaluation_ids]
    for gen_dir in folders:
        meta = read_json_object(gen_dir / METADATA)
        if not meta:
            continue
        parent_id = meta.get("parent_gen_id") or ""
        if parent_id not in essay_cache:
            # the essay and draft of this evaluation, found by stage name up its lineage
            lineage = ancestors(store, "evaluation", meta)
            essay_id, essay = lineage.get("essay", (parent_id, {}))
            draft = lineage.get("draft", ("", {}))[1]
            essay_cache[parent_id] = {
                "parent_gen_id": essay_id,
                "combo_id": draft.get("combo_id") or essay.get("combo_id") or meta.get("combo_id") or "",
                "draft_template": template_of(draft, "draft") or essay.get("draft_template") or "",
                "generation_template": template_of(essay, "essay"),
                "generation_model": model_of(draft) or model_of(essay),
                "generation_response_path": store.gen_file("essay", essay_id, PARSED) if "essay" in lineage else "",
            }
        score, error = _score_or_error(store, gen_dir, meta)
        rows.append(
            {
                "gen_id": meta.get("gen_id") or gen_dir.name,
                "cohort_id": meta.get("cohort_id") or "",
                "evaluation_template": meta.get("template_id") or "",
                "evaluation_llm_model": model_of(meta),
                "replicate": meta.get("replicate") or 1,
                "score": score,
                "error": error,
                **essay_cache[parent_id],
                "evaluation_response_path": str(gen_dir / RAW),
            }
        )
    return rows


def scores_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
