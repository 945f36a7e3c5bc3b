"""How sure a mean score is, and whether two means differ.

Intervals come from a bootstrap that resamples essays, not evaluations: an essay's evaluations
(judges, templates, replicates) share the essay, so they are not independent, and treating them
as such would make every interval too narrow. Each resample draws as many essays as the group
has, with replacement, and recomputes the group's mean over the drawn essays' evaluations (the
same estimator as the summary's mean); percentiles of the resampled means give the interval.
Resampling is vectorised (one multinomial draw of essay weights per group), seeded, and so
reproducible.

Comparisons: for each factor, every pair of its levels, as the difference of means with an
interval and a p-value from a t-test (scipy.stats), paired on the units the design pairs (the
same combos under two draft templates, the same essays under two judges), else Welch's test on
essay means; p-values are adjusted within each factor by Holm's method (pingouin)."""

from __future__ import annotations

import zlib
from itertools import combinations

import numpy as np

# the factors compared, and the columns that identify the units the design pairs them on
FACTOR_UNITS = {
    "draft_template": ["combo_id", "generation_model"],
    "generation_template": ["combo_id", "draft_template", "generation_model"],
    "generation_model": ["combo_id", "draft_template"],
    "evaluation_template": ["parent_gen_id"],
    "evaluation_llm_model": ["parent_gen_id"],
}
COMPARISON_COLUMNS = [
    "factor",
    "level_a",
    "level_b",
    "paired",
    "units",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "significant",
]


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator of its own for each table (the same seed and name: the same draws)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def scored(scores):
    ok = scores[scores["score"].notna()].copy()
    ok["score"] = ok["score"].astype(float)
    return ok


def essay_intervals(scores, keys: list[str], resamples: int, confidence: float, rng) -> object:
    """Per value of keys (all rows when keys is empty): the number of essays, and the interval of
    the mean score from resampling essays."""
    import pandas as pd

    ok = scored(scores)
    columns = [*keys, "n_essays", "mean_ci_low", "mean_ci_high"]
    if ok.empty:
        return pd.DataFrame(columns=columns)
    ok["_all"] = "all"
    group_keys = keys or ["_all"]
    per_essay = ok.groupby([*group_keys, "parent_gen_id"], dropna=False)["score"].agg(["sum", "count"]).reset_index()
    tail = (1 - confidence) / 2
    rows = []
    for key, group in per_essay.groupby(group_keys, dropna=False, sort=True):
        sums = group["sum"].to_numpy(float)
        counts = group["count"].to_numpy(float)
        m = len(sums)
        weights = rng.multinomial(m, np.full(m, 1.0 / m), size=resamples)  # essays drawn, with replacement
        means = (weights @ sums) / (weights @ counts)
        low, high = np.quantile(means, [tail, 1 - tail])
        values = key if isinstance(key, tuple) else (key,)
        rows.append([*(values if keys else ()), m, low, high])
    return pd.DataFrame(rows, columns=columns)


def with_intervals(summary, scores, keys: list[str], resamples: int, confidence: float, rng):
    """A summary table (analysis/summaries.summarize_by) with n_essays and the mean's interval."""
    intervals = essay_intervals(scores, keys, resamples, confidence, rng)
    if summary.empty:
        for column in ("n_essays", "mean_ci_low", "mean_ci_high"):
            summary[column] = []
        return summary
    if not keys:
        merged = summary.assign(**intervals.iloc[0].to_dict()) if len(intervals) else summary
    else:
        merged = summary.merge(intervals, on=keys, how="left")
    merged["n_essays"] = merged["n_essays"].astype("Int64")
    return merged.round({"mean_ci_low": 4, "mean_ci_high": 4})


def _unit_means(ok, factor: str, level: str, units: list[str]):
    return ok[ok[factor] == level].groupby(units, dropna=False)["score"].mean()


def compare_levels(scores, confidence: float = 0.95):
    """Every pair of levels of every factor: difference of means, interval, p-value (paired
    where the design pairs the units, else Welch's test on essay means), Holm-adjusted per factor."""
    import pandas as pd
    from pingouin import multicomp
    from scipy import stats

    ok = scored(scores)
    rows = []
    for factor, units in FACTOR_UNITS.items():
        levels = sorted(str(level) for level in ok[factor].dropna().unique() if str(level))
        family = []
        by_unit = {level: _unit_means(ok, factor, level, units) for level in levels}  # once per level, not pair
        by_essay: dict = {}
        for a, b in combinations(levels, 2):
            paired = pd.concat([by_unit[a], by_unit[b]], axis=1, join="inner").dropna()
            if len(paired) >= 2:
                test = stats.ttest_rel(paired.iloc[:, 0], paired.iloc[:, 1])
                n, mean_a, mean_b, is_paired = len(paired), paired.iloc[:, 0].mean(), paired.iloc[:, 1].mean(), True
            else:
                for level in (a, b):
                    if level not in by_essay:
                        by_essay[level] = _unit_means(ok, factor, level, ["parent_gen_id"])
                essays_a, essays_b = by_essay[a], by_essay[b]
                if len(essays_a) < 2 or len(essays_b) < 2:
                    continue
                test = stats.ttest_ind(essays_a, essays_b, equal_var=False)
                n, mean_a, mean_b, is_paired = len(essays_a) + len(essays_b), essays_a.mean(), essays_b.mean(), False
            interval = test.confidence_interval(confidence)
            family.append([factor, a, b, is_paired, n, mean_a, mean_b, mean_a - mean_b, *interval, test.pvalue])
        if family:
            p_values = np.array([row[-1] for row in family], dtype=float)
            finite = np.isfinite(p_values)
            adjusted = np.full(len(p_values), np.nan)
            if finite.any():
                adjusted[finite] = multicomp(p_values[finite], alpha=1 - confidence, method="holm")[1]
            for row, p_holm in zip(family, adjusted, strict=True):
                rows.append([*row, p_holm, bool(p_holm < 1 - confidence)])
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    numeric = ["mean_a", "mean_b", "difference", "ci_low", "ci_high", "p_value", "p_holm"]
    return table.round({column: 4 for column in numeric})
