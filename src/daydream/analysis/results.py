"""Score tables from the gens store: one row per evaluation, and the essay x evaluator pivot."""

from __future__ import annotations

from pathlib import Path

from daydream.ids import is_safe_id
from daydream.stages import PARENT_STAGE
from daydream.store.fileio import read_json_object
from daydream.store.layout import METADATA, PARSED, RAW, StoreLayout

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


def ancestors(store: StoreLayout, stage: str, meta: dict) -> dict[str, tuple[str, dict]]:
    """(gen_id, metadata) of a generation's ancestors by stage, up the stage model through
    parent_gen_id; an id that is no safe path part (a hand-edited file) ends the walk."""
    found = {}
    while PARENT_STAGE[stage]:
        parent_id = meta.get("parent_gen_id") or ""
        if not is_safe_id(parent_id):
            break
        stage = PARENT_STAGE[stage]
        meta = read_json_object(store.gen_dir(stage, parent_id) / METADATA)
        found[stage] = (parent_id, meta)
    return found


def model_of(meta: dict) -> str:
    """The model id in a metadata.json: this store's key, or the original pipeline's."""
    return meta.get("llm_model_id") or meta.get("model_id") or ""


def _score_or_error(store: StoreLayout, gen_dir: Path, meta: dict) -> tuple[float | None, str]:
    from daydream.generating.parsers import ParseError, parse_score

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
        essay_id = meta.get("parent_gen_id") or ""
        if essay_id not in essay_cache:
            lineage = ancestors(store, "evaluation", meta)
            essay = lineage.get("essay", ("", {}))[1]
            draft = lineage.get("draft", ("", {}))[1]
            essay_cache[essay_id] = {
                "combo_id": draft.get("combo_id") or essay.get("combo_id") or meta.get("combo_id") or "",
                "draft_template": draft.get("template_id") or essay.get("draft_template") or "",
                "generation_template": essay.get("template_id") or essay.get("essay_template") or "",
                "generation_model": model_of(draft) or model_of(essay),
                "generation_response_path": store.gen_file("essay", essay_id, PARSED) if "essay" in lineage else "",
            }
        score, error = _score_or_error(store, gen_dir, meta)
        rows.append(
            {
                "gen_id": meta.get("gen_id") or gen_dir.name,
                "parent_gen_id": essay_id,
                "cohort_id": meta.get("cohort_id") or "",
                "evaluation_template": meta.get("template_id") or "",
                "evaluation_llm_model": model_of(meta),
                "replicate": meta.get("replicate") or 1,
                "score": score,
                "error": error,
                **essay_cache[essay_id],
                "evaluation_response_path": str(gen_dir / RAW),
            }
        )
    return rows


def scores_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def pivot_scores(scores):
    """Rows = essay, columns = evaluation_template__evaluation_model (mean over replicates, with
    __n, __min, __max), plus sum_scores over the mean columns."""
    import pandas as pd

    ok = scores[scores["score"].notna()].copy()
    if ok.empty:
        return pd.DataFrame(columns=ESSAY_KEYS + ["sum_scores"])
    ok["evaluator"] = ok["evaluation_template"] + "__" + ok["evaluation_llm_model"]
    ok["score"] = ok["score"].astype(float)
    grouped = ok.groupby(ESSAY_KEYS + ["evaluator"])["score"].agg(["mean", "count", "min", "max"]).reset_index()
    wide = grouped.pivot(index=ESSAY_KEYS, columns="evaluator")
    evaluators = sorted(ok["evaluator"].unique())
    table = pd.DataFrame(index=wide.index)
    for evaluator in evaluators:
        table[evaluator] = wide[("mean", evaluator)].round(4)
        table[f"{evaluator}__n"] = wide[("count", evaluator)].astype("Int64")
        table[f"{evaluator}__min"] = wide[("min", evaluator)]
        table[f"{evaluator}__max"] = wide[("max", evaluator)]
    table["sum_scores"] = table[evaluators].sum(axis=1, min_count=1).round(4)
    paths = ok.groupby("parent_gen_id")["generation_response_path"].first()
    table = table.reset_index()
    table["generation_response_path"] = table["parent_gen_id"].map(paths)  # the row's essay text
    return table.sort_values(ESSAY_KEYS).reset_index(drop=True)


PERFECT = 10.0


HIGH, LOW = 8.0, 3.0  # the original's "high" (>= 8) and "low" (<= 3) score counts


def summarize_by(scores, key):
    """Per value of key (a column, a list of columns, or None for one overall row): mean, std,
    min, max, count, perfect-score count and percentage, counts of scores >= 8 and <= 3."""
    import pandas as pd

    keys = [] if key is None else [key] if isinstance(key, str) else list(key)
    ok = scores[scores["score"].notna()].copy()
    stats = ["mean", "std", "min", "max", "count", "perfect_count", "perfect_pct", "high_count", "low_count"]
    if ok.empty:
        return pd.DataFrame(columns=keys + stats)
    ok["score"] = ok["score"].astype(float)
    ok["perfect"] = ok["score"] >= PERFECT
    ok["high"] = ok["score"] >= HIGH
    ok["low"] = ok["score"] <= LOW
    ok["_all"] = "all"
    table = ok.groupby(keys or ["_all"]).agg(
        mean=("score", "mean"),
        std=("score", "std"),
        min=("score", "min"),
        max=("score", "max"),
        count=("score", "size"),
        perfect_count=("perfect", "sum"),
        high_count=("high", "sum"),
        low_count=("low", "sum"),
    )
    table["perfect_pct"] = 100.0 * table["perfect_count"] / table["count"]
    table = table.reset_index()
    if not keys:
        table = table.drop(columns="_all")
    return table[keys + stats].round(4).sort_values(keys or ["mean"]).reset_index(drop=True)


def classify_agreement(score_range) -> str:
    """The original's classes by the range of scores: within 1 point high, 2 moderate, 3 low."""
    if score_range != score_range:  # NaN: one score only
        return "insufficient_data"
    if score_range <= 1.0:
        return "high"
    if score_range <= 2.0:
        return "moderate"
    if score_range <= 3.0:
        return "low"
    return "poor"


def variance_components(scores):
    """Where evaluation instability comes from, per essay: all its scores (overall), the same
    evaluation model across templates (template), the same template across models (model).
    Each with count, mean, std, min, max, range, coefficient of variation and agreement class."""
    import pandas as pd

    columns = [
        "parent_gen_id",
        "analysis",
        "held_fixed",
        "count",
        "mean",
        "std",
        "min",
        "max",
        "range",
        "cv",
        "agreement",
    ]
    ok = scores[scores["score"].notna()].copy()
    if ok.empty:
        return pd.DataFrame(columns=columns)
    ok["score"] = ok["score"].astype(float)
    parts = []
    for analysis, fixed in (("overall", None), ("template", "evaluation_llm_model"), ("model", "evaluation_template")):
        keys = ["parent_gen_id"] + ([fixed] if fixed else [])
        varied = "evaluation_template" if analysis == "template" else "evaluation_llm_model"
        groups = ok.groupby(keys)
        table = groups["score"].agg(count="size", mean="mean", std="std", min="min", max="max")
        if fixed:  # only where the other axis really varies
            table = table[groups[varied].nunique() >= 2]
        table = table.reset_index()
        table["analysis"] = analysis
        table["held_fixed"] = table[fixed] if fixed else ""
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    table["range"] = table["max"] - table["min"]
    table["cv"] = table["std"] / table["mean"]
    table["agreement"] = table["range"].where(table["count"] >= 2).map(classify_agreement)
    return table[columns].round(4).sort_values(["parent_gen_id", "analysis", "held_fixed"]).reset_index(drop=True)


def template_comparison(scores, templates=None):
    """Draft template versions side by side: one row per combo and generation model, one column per
    draft template (the chosen ones, default all): the mean score of that combo's essays from it."""
    import pandas as pd

    ok = scores[scores["score"].notna()].copy()
    if templates:
        ok = ok[ok["draft_template"].isin(templates)]
    if ok.empty:
        return pd.DataFrame(columns=["combo_id", "generation_model"])
    ok["score"] = ok["score"].astype(float)
    table = ok.pivot_table(
        index=["combo_id", "generation_model"], columns="draft_template", values="score", aggfunc="mean"
    )
    table.columns = [str(column) for column in table.columns]
    return table.round(4).reset_index().sort_values(["combo_id", "generation_model"]).reset_index(drop=True)


def perfect_score_paths(scores):
    ok = scores[scores["score"].notna()]
    perfect = ok[ok["score"].astype(float) >= PERFECT]
    columns = [
        "gen_id",
        "parent_gen_id",
        "evaluation_template",
        "evaluation_llm_model",
        "score",
        "generation_response_path",
        "evaluation_response_path",
    ]
    return perfect[columns].sort_values(["parent_gen_id", "gen_id"]).reset_index(drop=True)


def evaluator_agreement(scores):
    """Per essay: how far apart the evaluators (template x model, replicate means) are."""
    import pandas as pd

    ok = scores[scores["score"].notna()].copy()
    columns = ["parent_gen_id", "n_evaluators", "mean", "min", "max", "spread", "std", "cv", "agreement"]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    ok["score"] = ok["score"].astype(float)
    ok["evaluator"] = ok["evaluation_template"] + "__" + ok["evaluation_llm_model"]
    per_evaluator = ok.groupby(["parent_gen_id", "evaluator"])["score"].mean().reset_index()
    table = per_evaluator.groupby("parent_gen_id")["score"].agg(
        n_evaluators="size", mean="mean", min="min", max="max", std="std"
    )
    table["spread"] = table["max"] - table["min"]
    table["cv"] = table["std"] / table["mean"]  # coefficient of variation
    table["agreement"] = table["spread"].where(table["n_evaluators"] >= 2).map(classify_agreement)
    return table.reset_index()[columns].round(4).sort_values("parent_gen_id").reset_index(drop=True)


def replicate_variance(scores):
    """Per essay and evaluator: the spread of scores across replicates."""
    import pandas as pd

    ok = scores[scores["score"].notna()].copy()
    keys = ["parent_gen_id", "evaluation_template", "evaluation_llm_model"]
    columns = keys + ["n", "mean", "std", "range"]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    table = ok.groupby(keys)["score"].agg(n="size", mean="mean", std="std", low="min", high="max")
    table["range"] = table["high"] - table["low"]
    return table.reset_index()[columns].round(4).sort_values(keys).reset_index(drop=True)


RESULT_FILES = {
    "scores": "parsed_scores.csv",
    "pivot": "evaluation_scores_by_template_model.csv",
    "by_draft_template": "summary_by_draft_template.csv",
    "by_generation_model": "summary_by_generation_model.csv",
    "by_combo": "summary_by_combo.csv",
    "perfect": "perfect_score_paths.csv",
    "agreement": "evaluator_agreement.csv",
    "replicates": "replicate_variance.csv",
    "cost": "cost_by_stage_model.csv",
    "by_essay_template": "summary_by_essay_template.csv",
    "by_evaluation_template": "summary_by_evaluation_template.csv",
    "by_evaluation_model": "summary_by_evaluation_model.csv",
    "by_template_model": "summary_by_draft_template_and_generation_model.csv",
    "by_generation_evaluation_model": "summary_by_generation_and_evaluation_model.csv",
    "overall": "summary_overall.csv",
    "variance": "variance_components.csv",
    "template_comparison": "template_comparison.csv",
    "essays": "essays.html",
}


def spend_table(data_root: str | Path, membership=None):
    """Recorded cost and tokens per stage and model (status.spend_rows): a cohort's, or the store's."""
    import pandas as pd

    from daydream.analysis.status import SPEND_COLUMNS, cohort_metadata_paths, spend_rows, store_metadata_paths

    paths = store_metadata_paths(data_root) if membership is None else cohort_metadata_paths(data_root, membership)
    return pd.DataFrame(spend_rows(paths), columns=SPEND_COLUMNS).round({"cost_usd": 6})


def essays_page(data_root, scores, membership, top_n: int) -> str:
    """The top essays to read, and the failed generations (a cohort's, from its job logs; over
    the whole store, the evaluations that did not parse)."""
    from daydream.analysis.essays_page import essays_html
    from daydream.analysis.selection import rank_essays
    from daydream.analysis.status import cohort_status

    if membership is None:
        failed = scores[scores["error"] != ""]
        failures = [("evaluation", row.gen_id, row.error) for row in failed.itertuples()]
        title = "Top essays of every cohort"
    else:
        rows = list(membership)
        cohort_id = rows[0].cohort_id if rows else ""
        status = cohort_status(data_root, cohort_id, rows)
        failures = [(stage, gen_id, reason) for stage in status.failures for gen_id, reason in status.failures[stage]]
        title = f"Top essays of cohort {cohort_id}"
    return essays_html(scores, rank_essays(scores), top_n, failures, title)


def write_results(
    data_root: str | Path, out_dir: str | Path, membership=None, compare_templates=None, top_n: int = 10
) -> dict:
    """Every table, from a cohort's generations (its membership rows) or from the whole store."""
    from daydream.store.fileio import write_atomic

    out_dir = Path(out_dir)
    evaluation_ids = None if membership is None else [r.gen_id for r in membership if r.stage == "evaluation"]
    scores = scores_frame(score_rows(data_root, evaluation_ids))
    tables = {
        "scores": scores,
        "pivot": pivot_scores(scores),
        "by_draft_template": summarize_by(scores, "draft_template"),
        "by_generation_model": summarize_by(scores, "generation_model"),
        "by_combo": summarize_by(scores, "combo_id"),
        "perfect": perfect_score_paths(scores),
        "agreement": evaluator_agreement(scores),
        "replicates": replicate_variance(scores),
        "cost": spend_table(data_root, membership),
        "by_essay_template": summarize_by(scores, "generation_template"),
        "by_evaluation_template": summarize_by(scores, "evaluation_template"),
        "by_evaluation_model": summarize_by(scores, "evaluation_llm_model"),
        "by_template_model": summarize_by(scores, ["draft_template", "generation_model"]),
        "by_generation_evaluation_model": summarize_by(scores, ["generation_model", "evaluation_llm_model"]),
        "overall": summarize_by(scores, None),
        "variance": variance_components(scores),
        "template_comparison": template_comparison(scores, compare_templates),
    }
    for name, table in tables.items():
        write_atomic(out_dir / RESULT_FILES[name], table.to_csv(index=False))
    write_atomic(out_dir / RESULT_FILES["essays"], essays_page(data_root, scores, membership, top_n))
    errors = int((scores["error"] != "").sum())
    print(f"{len(scores)} evaluations, {errors} with errors -> {out_dir}")
    return tables
