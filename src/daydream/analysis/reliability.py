"""How far the LLM judges can be trusted: agreement between judges (each evaluation template x
model is a rater of the same essays), each judge's agreement with the mean of the others (which
judge is the one out of line), and each judge's agreement with itself across replicates.

The intraclass correlation ICC(A,1), two-way random effects, absolute agreement, single rater,
comes from pingouin.intraclass_corr (over the essays every rater scored), checked in the tests
against Shrout and Fleiss's published example. Krippendorff's alpha at the interval level is
computed here from its definition in sums over the pairable values: the `krippendorff` package
builds an array of units x distinct values x distinct values, and scores averaged over
replicates or over judges take thousands of distinct values (12.7 GiB and 44 s for the 1,820
essays of benchmarks/bench_statistics.py); the tests check this function against that package
on random data with missing ratings, and against Krippendorff's published example. A row is
flagged when alpha or the ICC is below its declared threshold (statistics.alpha_min, default
0.667, the conventional lowest bound for tentative conclusions; statistics.icc_min, default 0.5,
the bound of "poor")."""

from __future__ import annotations

import warnings

import numpy as np

from daydream.analysis.scores import judged_scores

RELIABILITY_COLUMNS = [
    "scope",
    "kind",
    "raters",
    "essays",
    "alpha",
    "icc",
    "icc_ci_low",
    "icc_ci_high",
    "flag",
]
MIN_UNITS = 3  # essays rated by every rater, for an ICC


def alpha(matrix: np.ndarray) -> float:
    """Krippendorff's alpha (interval) of a raters x units matrix, NaN for a missing rating:
    1 - D_o / D_e over the pairable values (units with two or more), where for m values with sum
    S1 and sum of squares S2 the squared differences of all ordered pairs sum to 2 (m S2 - S1^2):
    D_o sums that per unit, each unit divided by its m - 1, over n values; D_e the same over all
    n values pooled, divided by n (n - 1). NaN when nothing varies or fewer than two units pair."""
    values = np.asarray(matrix, dtype=float)
    present = ~np.isnan(values)
    m = present.sum(axis=0)
    pairable = m >= 2
    if pairable.sum() < 2:
        return float("nan")
    v = np.where(present, values, 0.0)[:, pairable]
    m = m[pairable].astype(float)
    s1, s2 = v.sum(axis=0), (v * v).sum(axis=0)
    n = m.sum()
    expected = n * s2.sum() - s1.sum() ** 2  # n^2 times the pooled variance
    if expected <= 1e-12 * max(1.0, n * s2.sum()):
        return float("nan")
    observed = ((m * s2 - s1**2) / (m - 1)).sum()
    return float(1.0 - (n - 1) * observed / expected)


def icc(long) -> tuple[float, float, float]:
    """ICC(A,1) with its 95 % interval, from rows (unit, rater, score), over the units every
    rater scored; NaN when there are too few of them or no variance."""
    import pingouin

    complete = long.pivot_table(index="unit", columns="rater", values="score").dropna()
    if complete.shape[0] < MIN_UNITS or complete.shape[1] < 2 or complete.to_numpy().var() == 0:
        return float("nan"), float("nan"), float("nan")
    data = complete.reset_index().melt(id_vars="unit", var_name="rater", value_name="score")
    with warnings.catch_warnings():  # pingouin's own use of pandas APIs newer pandas deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        table = pingouin.intraclass_corr(data, targets="unit", raters="rater", ratings="score").set_index("Type")
    row = table.loc["ICC(A,1)"] if "ICC(A,1)" in table.index else table.loc["ICC2"]
    low, high = row["CI95"]
    return float(row["ICC"]), float(low), float(high)


def flag(alpha_value: float, icc_value: float, alpha_min: float, icc_min: float) -> str:
    if np.isnan(alpha_value) and np.isnan(icc_value):
        return "insufficient data"
    below = []
    if not np.isnan(alpha_value) and alpha_value < alpha_min:
        below.append(f"alpha < {alpha_min:g}")
    if not np.isnan(icc_value) and icc_value < icc_min:
        below.append(f"ICC < {icc_min:g}")
    return "unreliable: " + ", ".join(below) if below else "ok"


def _row(scope: str, kind: str, long, alpha_min: float, icc_min: float) -> list:
    """long: rows (unit, rater, score) with one score per unit and rater."""
    wide = long.pivot_table(index="rater", columns="unit", values="score")
    a = alpha(wide.to_numpy(float))
    i, low, high = icc(long)
    return [scope, kind, wide.shape[0], wide.shape[1], a, i, low, high, flag(a, i, alpha_min, icc_min)]


def _with_others(judged, rater: str):
    """Rows (unit, rater, score) of one judge and of the mean of the other judges, per essay."""
    import pandas as pd

    own = judged[judged["rater"] == rater][["unit", "score"]].assign(rater="judge")
    others = judged[judged["rater"] != rater].groupby("unit")["score"].mean().reset_index().assign(rater="others")
    return pd.concat([own, others], ignore_index=True)[["unit", "rater", "score"]]


def judge_reliability(scores, alpha_min: float = 0.667, icc_min: float = 0.5):
    """Agreement between judges (the cohort's judges together, each judge with the mean of the
    others, and the models of each evaluation template), and each judge's agreement with itself
    across replicates."""
    import pandas as pd

    ok = judged_scores(scores)
    if ok.empty:
        return pd.DataFrame(columns=RELIABILITY_COLUMNS)
    ok["rater"] = ok["judge"]
    ok["unit"] = ok["parent_gen_id"]
    judged = ok.groupby(["unit", "rater", "evaluation_template"], dropna=False)["score"].mean().reset_index()
    rows = []
    if judged["rater"].nunique() >= 2:
        rows.append(_row("all judges", "between judges", judged, alpha_min, icc_min))
    if judged["rater"].nunique() >= 3:  # with two, this is the pair above twice
        for rater in sorted(judged["rater"].unique()):
            rows.append(
                _row(f"judge {rater}", "with the other judges' mean", _with_others(judged, rater), alpha_min, icc_min)
            )
    for template, group in judged.groupby("evaluation_template", sort=True):
        if group["rater"].nunique() >= 2:
            rows.append(_row(f"evaluation template {template}", "between judges", group, alpha_min, icc_min))
    for rater, group in ok.groupby("rater", sort=True):
        if group["replicate"].nunique() >= 2:
            replicates = group.assign(rater=group["replicate"].astype(str))[["unit", "rater", "score"]]
            replicates = replicates.groupby(["unit", "rater"])["score"].mean().reset_index()
            rows.append(_row(f"judge {rater}", "across its replicates", replicates, alpha_min, icc_min))
    table = pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
    return table.round({"alpha": 4, "icc": 4, "icc_ci_low": 4, "icc_ci_high": 4})
