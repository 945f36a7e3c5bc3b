"""The original's analysis of a score table: the essay x evaluator pivot, summaries by any
factor, perfect scores, evaluator agreement, variance across templates, models and replicates,
and draft template versions side by side. Frames in, frames out."""

from __future__ import annotations

from daydream.analysis.scores import ESSAY_KEYS


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
