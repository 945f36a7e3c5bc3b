"""How stable the top essays are: for each essay, the share of bootstrap resamples in which it
lands in the top N. A resample draws the judges (evaluation template x model) with replacement,
and within each essay and judge its replicates with replacement; the essay's score is then
recomputed as the ranking computes it (each judge's mean over its replicates, then the mean or
the max across judges; each resampled mean's deviation rescaled, see _rescale), and the top N
taken (ties by gen_id, as in the ranking). Vectorised over resamples in chunks; seeded."""

from __future__ import annotations

import numpy as np

from daydream.analysis.scores import judged_scores

CHUNK = 100  # resamples computed together (bounds the memory: chunk x essays x judges)
STABILITY_COLUMNS = ["essay_gen_id", "rank", "score", "top_n", "share_in_top_n", "stable"]


def _rescale(n):
    """sqrt(n / (n - 1)) (1 for n < 2): a mean of n values drawn with replacement from n varies
    (n - 1) / n times as much as a mean of n new values would; with the few judges and replicates
    of a cube (2 or 3) that would make the top look more stable than it is, so each resampled
    mean's deviation from the observed one is scaled up by this (the rescaled bootstrap)."""
    n = np.asarray(n, dtype=float)
    return np.sqrt(np.where(n > 1, n / np.maximum(n - 1, 1), 1.0))


def _cells(ok):
    """Essays (sorted), judges (sorted), and per (essay, judge) the replicate scores."""
    essays = np.array(sorted(ok["parent_gen_id"].astype(str).unique()))
    judges = np.array(sorted(ok["judge"].unique()))
    essay_index = {e: i for i, e in enumerate(essays)}
    judge_index = {j: i for i, j in enumerate(judges)}
    cells: dict[tuple[int, int], list[float]] = {}
    for essay, judge, score in zip(ok["parent_gen_id"].astype(str), ok["judge"], ok["score"], strict=True):
        cells.setdefault((essay_index[essay], judge_index[judge]), []).append(float(score))
    return essays, judges, cells


def top_shares(scores, n: int, resamples: int, rng, templates=None, models=None, aggregate: str = "mean") -> dict:
    """essay gen_id -> share of resamples in which it is among the top n."""
    ok = judged_scores(scores)
    if templates:
        ok = ok[ok["evaluation_template"].isin(templates)]
    if models:
        ok = ok[ok["evaluation_llm_model"].isin(models)]
    if ok.empty or n < 1:
        return {}
    essays, judges, cells = _cells(ok)
    n_essays, n_judges = len(essays), len(judges)
    n = min(n, n_essays)
    by_count: dict[int, list[tuple[int, int]]] = {}
    for cell, values in cells.items():
        by_count.setdefault(len(values), []).append(cell)
    tie_break = np.arange(n_essays) * 1e-9  # earlier gen_id wins a tie, as in the ranking
    counts = np.zeros(n_essays)
    done = 0
    while done < resamples:
        b = min(CHUNK, resamples - done)
        means = np.full((b, n_essays, n_judges), np.nan)
        for r, members in by_count.items():
            values = np.array([cells[cell] for cell in members])  # cells x r
            picks = rng.integers(0, r, size=(b, len(members), r))
            drawn = np.take_along_axis(np.broadcast_to(values, (b, *values.shape)), picks, axis=2).mean(axis=2)
            if r > 1:
                observed = values.mean(axis=1)
                drawn = observed + _rescale(r) * (drawn - observed)
            rows, cols = zip(*members, strict=True)
            means[:, list(rows), list(cols)] = drawn
        weights = rng.multinomial(n_judges, np.full(n_judges, 1.0 / n_judges), size=b)[:, None, :]  # b x 1 x J
        present = ~np.isnan(means) & (weights > 0)
        if aggregate == "max":
            essay_scores = np.where(present, means, -np.inf).max(axis=2)
        else:
            total = np.where(present, means * weights, 0.0).sum(axis=2)
            weight = np.where(present, weights, 0).sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                drawn = np.where(weight > 0, total / np.maximum(weight, 1), np.nan)
                judged = ~np.isnan(means)
                observed = np.where(judged, means, 0.0).sum(axis=2) / np.maximum(judged.sum(axis=2), 1)
            rescale = _rescale(judged.sum(axis=2))
            essay_scores = np.where(np.isnan(drawn), -np.inf, observed + rescale * (drawn - observed))
        keys = essay_scores - tie_break
        top = np.argpartition(-keys, n - 1, axis=1)[:, :n]
        counts += np.bincount(top.ravel(), minlength=n_essays)
        done += b
    return dict(zip(essays, counts / resamples, strict=True))


def stability_table(ranked, shares: dict, n: int, stable_share: float):
    """The ranked essays with their share of resamples in the top n, and whether it is stable."""
    import pandas as pd

    if ranked.empty:
        return pd.DataFrame(columns=STABILITY_COLUMNS)
    table = ranked[["essay_gen_id", "score"]].copy()
    table.insert(1, "rank", range(1, len(table) + 1))
    table["top_n"] = n
    table["share_in_top_n"] = table["essay_gen_id"].map(shares).fillna(0.0).round(4)
    table["stable"] = table["share_in_top_n"] >= stable_share
    return table[STABILITY_COLUMNS]


def stability_verdict(chosen: list[str], shares: dict, stable_share: float) -> tuple[str, bool]:
    """A sentence on how stable a chosen set is, and whether it is (at least half of it stably
    in the top)."""
    if not chosen:
        return "no essay chosen", True
    stable = [gen_id for gen_id in chosen if shares.get(gen_id, 0.0) >= stable_share]
    mean_share = sum(shares.get(gen_id, 0.0) for gen_id in chosen) / len(chosen)
    ok = len(stable) * 2 >= len(chosen)
    text = (
        f"{len(stable)} of the {len(chosen)} chosen essays are in the top {len(chosen)} in at least "
        f"{stable_share:.0%} of resamples (mean share {mean_share:.0%})"
    )
    return text, ok
