"""One row per evaluation from the gens store, with its lineage: the essay and draft it scores
(walked up by stage name through parent_gen_id), and a score or the reason there is none."""

from __future__ import annotations

from pathlib import Path

from daydream.analysis.status import failure_reason
from daydream.errors import InputError
from daydream.fileio import exists, listdir, read_json_object, read_text
from daydream.store.layout import METADATA, PARSED, RAW, StoreLayout
from daydream.store.metadata import ancestors, model_of, number, template_of, value
from daydream.text.parsers import ParseError, parse_score

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
    parsed = gen_dir / PARSED
    if exists(parsed):
        text = read_text(parsed, errors="replace").strip()
        try:
            score = float(text)
        except ValueError:
            return None, f"invalid parsed.txt: {text[:60]!r}"
        if not 0.0 <= score <= 10.0:
            return None, f"score {score:g} outside 0-10"
        return score, ""
    reason = failure_reason(store.job_log_dir("evaluation", gen_dir.name))
    if reason:
        return None, f"failed: {reason}"
    raw = gen_dir / RAW
    if not exists(raw):
        return None, "no raw.txt and no parsed.txt"
    if meta.get("truncated") is True:
        return None, "parsed.txt missing: response truncated"
    try:
        parse_score(read_text(raw, errors="replace"), value(meta, "parser_name", path=gen_dir / METADATA))
    except ParseError as exc:
        return None, f"parsed.txt missing: {exc}"
    return None, "parsed.txt missing: generate job not run"


def _lineage(store: StoreLayout, meta: dict, parent_id: str) -> dict:
    """The essay and draft an evaluation scores, found by stage name up its lineage."""
    lineage = ancestors(store, "evaluation", meta)
    essay_id, essay = lineage.get("essay", (parent_id, {}))
    draft_id, draft = lineage.get("draft", ("", {}))
    essay_file = store.gen_dir("essay", essay_id) / METADATA
    draft_file = store.gen_dir("draft", draft_id) / METADATA
    return {
        "parent_gen_id": essay_id,
        "combo_id": value(draft, "combo_id", path=draft_file) or value(essay, "combo_id", path=essay_file),
        "draft_template": template_of(draft, "draft", draft_file) or value(essay, "draft_template", path=essay_file),
        "generation_template": template_of(essay, "essay", essay_file),
        "generation_model": model_of(draft, draft_file) or model_of(essay, essay_file),
        "generation_response_path": store.gen_file("essay", essay_id, PARSED) if "essay" in lineage else "",
    }


def _row(store: StoreLayout, gen_dir: Path, meta: dict, essay_cache: dict) -> dict:
    path = gen_dir / METADATA
    parent_id = value(meta, "parent_gen_id", path=path)
    if parent_id not in essay_cache:
        essay_cache[parent_id] = _lineage(store, meta, parent_id)
    lineage = dict(essay_cache[parent_id])
    if not lineage["combo_id"]:
        lineage["combo_id"] = value(meta, "combo_id", path=path)
    replicate = number(meta, "replicate", path)
    score, error = _score_or_error(store, gen_dir, meta)
    return {
        "gen_id": value(meta, "gen_id", path=path) or gen_dir.name,
        "cohort_id": value(meta, "cohort_id", path=path),
        "evaluation_template": value(meta, "template_id", path=path),
        "evaluation_llm_model": model_of(meta, path),
        "replicate": int(replicate) if replicate else 1,
        "score": score,
        "error": error,
        **lineage,
        "evaluation_response_path": str(gen_dir / RAW),
    }


def score_rows(data_root: str | Path, evaluation_ids: list[str] | None = None) -> list[dict]:
    """One row per evaluation: the given ones (a cohort's), or every one in the store. A store
    file that cannot be read as it should (a field of the wrong type, a link) makes that
    evaluation's row an error naming the file and the field, not a failed table."""
    store = StoreLayout(data_root)
    rows = []
    essay_cache: dict[str, dict] = {}
    if evaluation_ids is None:
        names = sorted(name for name in listdir(store.stage_dir("evaluation")) if not name.startswith("."))
    else:
        names = list(evaluation_ids)
    for gen_id in names:
        gen_dir = store.gen_dir("evaluation", gen_id)
        try:
            meta = read_json_object(gen_dir / METADATA)
            if not meta:
                continue
            rows.append(_row(store, gen_dir, meta, essay_cache))
        except InputError as exc:
            rows.append({**dict.fromkeys(SCORE_COLUMNS, ""), "gen_id": gen_id, "score": None, "error": str(exc)})
    return rows


def judged_scores(scores):
    """The parsed scores as floats, each with its `judge`: evaluation template x model, the rater
    of the reliability, stability and judge-versus-human tables."""
    ok = scores[scores["score"].notna() & (scores["error"].fillna("") == "")].copy()
    ok["score"] = ok["score"].astype(float)
    ok["judge"] = ok["evaluation_template"].astype(str) + "__" + ok["evaluation_llm_model"].astype(str)
    return ok


def scores_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
