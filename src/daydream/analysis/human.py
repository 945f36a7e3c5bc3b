"""How each LLM judge agrees with the people who reviewed the essays (store/labels.py): the rank
correlation of its scores with the reviewers' scores (Spearman, scipy), and its agreement on
accept / reject beyond chance (Cohen's kappa), reading a judge's score at or above
statistics.judge_accept_score as its "accept". A judge is an evaluation template x model, its score of
an essay the mean over its replicates; the row "all judges" is the ranking's score (their mean).

Cohen's kappa is (p_o - p_e) / (1 - p_e) for two binary raters, computed here in a line rather
than taking scikit-learn or statsmodels (tens of MB) for it; the tests check it against the
published worked example."""

from __future__ import annotations

import math

from daydream.analysis.scores import judged_scores

JUDGE_VS_HUMAN_COLUMNS = [
    "judge",
    "essays_labelled",
    "essays_decided",
    "essays_with_human_score",
    "spearman",
    "spearman_p",
    "accept_agreement",
    "kappa",
    "accept_score",
]
ALL_JUDGES = "all judges"


def cohen_kappa(first: list[bool], second: list[bool]) -> float:
    """Cohen's kappa of two raters' yes/no decisions on the same items (NaN when undefined:
    no items, or both raters always say the same one thing)."""
    n = len(first)
    if n == 0 or n != len(second):
        return float("nan")
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    yes_first, yes_second = sum(first) / n, sum(second) / n
    expected = yes_first * yes_second + (1 - yes_first) * (1 - yes_second)
    return float("nan") if expected == 1 else (observed - expected) / (1 - expected)


def judge_vs_human(scores, verdicts: dict, accept_score: float):
    """scores: the score table; verdicts: essay gen_id -> store.labels.Verdict. One row per judge
    and one for all judges together."""
    import pandas as pd
    from scipy import stats

    ok = judged_scores(scores)
    if ok.empty or not verdicts:
        return pd.DataFrame(columns=JUDGE_VS_HUMAN_COLUMNS)
    per_judge = ok.groupby(["judge", "parent_gen_id"])["score"].mean().reset_index()
    together = per_judge.groupby("parent_gen_id")["score"].mean().reset_index().assign(judge=ALL_JUDGES)
    rows = []
    for judge, group in [*sorted(per_judge.groupby("judge")), (ALL_JUDGES, together)]:
        judged = dict(zip(group["parent_gen_id"], group["score"], strict=True))
        decided = [
            (judged[e], v.state == "accepted") for e, v in verdicts.items() if e in judged and v.state != "undecided"
        ]
        paired = [(judged[e], v.score) for e, v in verdicts.items() if e in judged and v.score is not None]
        rho = p = float("nan")
        if len(paired) >= 3 and len({a for a, _ in paired}) > 1 and len({b for _, b in paired}) > 1:
            result = stats.spearmanr([a for a, _ in paired], [b for _, b in paired])
            rho, p = float(result.statistic), float(result.pvalue)
        judge_says = [score >= accept_score for score, _ in decided]
        human_says = [accepted for _, accepted in decided]
        agreement = (
            sum(a == b for a, b in zip(judge_says, human_says, strict=True)) / len(decided) if decided else math.nan
        )
        labelled = sum(essay in judged for essay in verdicts)
        kappa = cohen_kappa(judge_says, human_says)
        rows.append([judge, labelled, len(decided), len(paired), rho, p, agreement, kappa, accept_score])
    table = pd.DataFrame(rows, columns=JUDGE_VS_HUMAN_COLUMNS)
    return table.round({"spearman": 4, "spearman_p": 4, "accept_agreement": 4, "kappa": 4})
