"""The statistics of the results (issue 20) against published worked examples, against
independent computations, and on synthetic scores with planted effects: intervals cover the
truth at about the stated rate, planted effects are found and null ones are not, a judge that
scores at random is flagged, clear winners are stable and a near-tie is not. Every threshold the
tables use is tested at its boundary and on both sides of it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from daydream.analysis.reliability import alpha, flag, icc, judge_reliability
from daydream.analysis.scores import SCORE_COLUMNS
from daydream.analysis.stability import stability_table, stability_verdict, top_shares
from daydream.analysis.summaries import classify_agreement, evaluator_agreement, summarize_by
from daydream.analysis.uncertainty import compare_levels, essay_intervals, rng_for, with_intervals

from conftest import add_gen, run_env, write

SEEDS = range(200)  # repetitions of each synthetic experiment (fixed: the tests are deterministic)


def frame(rows: list[dict]) -> pd.DataFrame:
    """A score table (analysis/scores.SCORE_COLUMNS) from rows naming only what they set."""
    defaults = {"error": "", "replicate": 1, "evaluation_template": "t", "evaluation_llm_model": "m"}
    defaults |= {"combo_id": "c", "draft_template": "d", "generation_template": "e", "generation_model": "g"}
    table = pd.DataFrame([{**defaults, **row} for row in rows])
    for column in SCORE_COLUMNS:
        if column not in table:
            table[column] = ""
    if "gen_id" not in {key for row in rows for key in row}:
        table["gen_id"] = [f"v{n}" for n in range(len(table))]
    return table[SCORE_COLUMNS]


def cube(
    seed: int,
    combos: int = 30,
    draft_effects: dict | None = None,
    judges: dict | None = None,
    replicates: int = 1,
    quality_sd: float = 1.0,
) -> pd.DataFrame:
    """Essays of every combo x draft template (one generation model), each scored by every judge
    (name -> noise sd, or None: uniform at random on 0..10) in every replicate. An essay's true
    quality: its combo's (sd quality_sd) + its draft template's effect + its own (sd 0.5)."""
    rng = np.random.default_rng(seed)
    draft_effects = draft_effects or {"a": 0.0, "b": 0.0}
    judges = judges or {"m1": 1.0}
    rows = []
    for c in range(combos):
        combo_quality = rng.normal(6.0, quality_sd)
        for template, effect in draft_effects.items():
            quality = combo_quality + effect + rng.normal(0, 0.5)
            for judge, noise in judges.items():
                for replicate in range(1, replicates + 1):
                    score = rng.uniform(0, 10) if noise is None else quality + rng.normal(0, noise)
                    rows.append(
                        {
                            "parent_gen_id": f"e{c:03d}{template}",
                            "combo_id": f"c{c:03d}",
                            "draft_template": template,
                            "evaluation_llm_model": judge,
                            "replicate": replicate,
                            "score": score,
                        }
                    )
    return frame(rows)


# --- Uncertainty: intervals from resampling essays -------------------------------------------------


def test_intervals_resample_essays_not_evaluations():
    """Twenty identical evaluations of each essay tell nothing more than one: the interval is the
    same (resampling evaluations would make it about sqrt(20) times narrower)."""
    essays = {f"e{n}": float(n % 7) for n in range(12)}
    once = frame([{"parent_gen_id": e, "score": s} for e, s in essays.items()])
    twenty = frame([{"parent_gen_id": e, "score": s, "replicate": r} for e, s in essays.items() for r in range(20)])
    a = essay_intervals(once, [], 1000, 0.95, rng_for(1, "x")).iloc[0]
    b = essay_intervals(twenty, [], 1000, 0.95, rng_for(1, "x")).iloc[0]
    assert (a["n_essays"], b["n_essays"]) == (12, 12)
    assert (a["mean_ci_low"], a["mean_ci_high"]) == pytest.approx((b["mean_ci_low"], b["mean_ci_high"]))
    assert a["mean_ci_high"] - a["mean_ci_low"] > 1.5  # essay means spread 0..6: a wide interval


def test_intervals_cover_the_true_mean_at_about_the_stated_rate():
    covered = 0
    for seed in SEEDS:
        scores = cube(seed, combos=40, draft_effects={"a": 0.0, "b": 1.0})
        table = essay_intervals(scores, ["draft_template"], 1000, 0.95, rng_for(seed, "x")).set_index("draft_template")
        covered += table.loc["a", "mean_ci_low"] <= 6.0 <= table.loc["a", "mean_ci_high"]
        assert table.loc["b", "n_essays"] == 40
    assert 0.90 <= covered / len(SEEDS) <= 0.99


def test_summaries_carry_intervals_and_the_same_seed_gives_the_same_figures():
    scores = cube(3, draft_effects={"a": 0.0, "b": 2.0})
    summary = summarize_by(scores, "draft_template")
    first = with_intervals(summary.copy(), scores, ["draft_template"], 500, 0.95, rng_for(7, "summary"))
    again = with_intervals(summary.copy(), scores, ["draft_template"], 500, 0.95, rng_for(7, "summary"))
    other = with_intervals(summary.copy(), scores, ["draft_template"], 500, 0.95, rng_for(8, "summary"))
    pd.testing.assert_frame_equal(first, again)
    assert not first["mean_ci_low"].equals(other["mean_ci_low"])
    assert (first["mean_ci_low"] < first["mean"]).all() and (first["mean"] < first["mean_ci_high"]).all()
    assert list(first["n_essays"]) == [30, 30]


# --- Comparisons --------------------------------------------------------------------------------


def draft_row(table: pd.DataFrame, a: str = "a", b: str = "b") -> pd.Series:
    rows = table[(table["factor"] == "draft_template") & (table["level_a"] == a) & (table["level_b"] == b)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_comparison_is_paired_on_combos_and_matches_an_independent_paired_t_test():
    from scipy import stats

    scores = cube(5, combos=25, draft_effects={"a": 0.0, "b": 0.7}, judges={"m1": 1.0, "m2": 1.0})
    row = draft_row(compare_levels(scores))
    by_combo = scores.groupby(["combo_id", "draft_template"])["score"].mean().unstack()
    differences = by_combo["a"] - by_combo["b"]
    t = differences.mean() / (differences.std(ddof=1) / np.sqrt(len(differences)))
    p = 2 * stats.t.sf(abs(t), len(differences) - 1)
    half = stats.t.ppf(0.975, len(differences) - 1) * differences.std(ddof=1) / np.sqrt(len(differences))
    assert bool(row["paired"]) and row["units"] == 25
    assert row["difference"] == pytest.approx(differences.mean(), abs=1e-4)
    assert row["p_value"] == pytest.approx(p, abs=1e-4)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (differences.mean() - half, differences.mean() + half), abs=1e-4
    )
    judges = compare_levels(scores)
    judges = judges[judges["factor"] == "evaluation_llm_model"].iloc[0]
    assert bool(judges["paired"]) and judges["units"] == 50  # the same essays under two judges


def test_unpaired_levels_fall_back_to_welch_on_essay_means():
    from scipy import stats

    rows = [{"parent_gen_id": f"a{n}", "combo_id": f"x{n}", "draft_template": "a", "score": n % 5} for n in range(8)]
    rows += [
        {"parent_gen_id": f"b{n}", "combo_id": f"y{n}", "draft_template": "b", "score": n % 3 + 4} for n in range(6)
    ]
    row = draft_row(compare_levels(frame(rows)))
    expected = stats.ttest_ind([n % 5 for n in range(8)], [n % 3 + 4 for n in range(6)], equal_var=False)
    assert not bool(row["paired"]) and row["units"] == 14
    assert row["p_value"] == pytest.approx(expected.pvalue, abs=1e-4)


def test_holm_adjustment_within_each_factor_matches_an_independent_computation():
    scores = cube(11, combos=12, draft_effects={"a": 0.0, "b": 0.4, "c": 0.9, "d": 0.2})
    table = compare_levels(scores)
    drafts = table[table["factor"] == "draft_template"]
    assert len(drafts) == 6
    p = drafts["p_value"].to_numpy()
    order = np.argsort(p)
    holm = np.empty(len(p))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        holm[i] = running
    assert drafts["p_holm"].to_numpy() == pytest.approx(holm, abs=1e-3)  # from p-values rounded to 4 places
    assert list(drafts["significant"]) == list(drafts["p_holm"] < 0.05)


def test_planted_difference_is_covered_at_about_the_stated_rate_and_found():
    covered = found = 0
    for seed in SEEDS:
        row = draft_row(compare_levels(cube(seed, combos=30, draft_effects={"a": 0.0, "b": 1.2})))
        covered += row["ci_low"] <= -1.2 <= row["ci_high"]
        found += bool(row["significant"]) and row["difference"] < 0
    assert 0.90 <= covered / len(SEEDS) <= 0.99
    assert found / len(SEEDS) >= 0.95


def test_null_effect_is_found_no_more_often_than_the_stated_error_rate():
    any_significant = 0
    for seed in SEEDS:
        table = compare_levels(cube(seed, combos=30, draft_effects={"a": 0.0, "b": 0.0, "c": 0.0}))
        any_significant += bool(table[table["factor"] == "draft_template"]["significant"].any())
    assert any_significant / len(SEEDS) <= 0.08  # Holm holds the family-wise rate at 0.05


# --- Judge reliability --------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the example with missing
# data: 4 observers x 12 units; published alpha: interval 0.849, nominal 0.743.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
# Shrout and Fleiss (1979), Table 2: 6 targets x 4 judges; published ICC(2,1) = ICC(A,1) = 0.29.
SHROUT_FLEISS_1979 = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def judges_frame(matrix_by_judge: list[list]) -> pd.DataFrame:
    rows = []
    for j, scores in enumerate(matrix_by_judge):
        for u, score in enumerate(scores):
            if score is not None:
                rows.append({"parent_gen_id": f"u{u:02d}", "evaluation_llm_model": f"judge{j}", "score": score})
    return frame(rows)


def test_alpha_equals_krippendorffs_published_example():
    matrix = np.array(KRIPPENDORFF_2011, dtype=float)
    assert alpha(matrix) == pytest.approx(0.849, abs=5e-4)
    table = judge_reliability(judges_frame(KRIPPENDORFF_2011))  # judges as raters, essays as units
    everyone = table[table["scope"] == "all judges"].iloc[0]
    assert everyone["alpha"] == pytest.approx(0.849, abs=5e-4)
    assert (everyone["raters"], everyone["essays"]) == (4, 12)


def test_alpha_equals_the_krippendorff_package_on_random_data_with_missing_ratings():
    import krippendorff

    rng = np.random.default_rng(0)
    for raters, units in ((2, 8), (3, 40), (6, 200)):
        matrix = rng.normal(5, 2, (raters, units)).round(1) + rng.normal(0, 1, (raters, 1))
        matrix[rng.random(matrix.shape) < 0.25] = np.nan
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
        assert alpha(matrix) == pytest.approx(expected, abs=1e-9)
    assert np.isnan(alpha(np.full((3, 5), 4.0)))  # nothing varies: undefined, not 1 or 0


def test_icc_equals_shrout_and_fleiss_published_example():
    by_judge = [list(column) for column in zip(*SHROUT_FLEISS_1979, strict=True)]
    table = judge_reliability(judges_frame(by_judge), alpha_min=0.667, icc_min=0.5)
    everyone = table[table["scope"] == "all judges"].iloc[0]
    assert everyone["icc"] == pytest.approx(0.29, abs=5e-3)
    assert everyone["icc_ci_low"] < 0.29 < everyone["icc_ci_high"]
    assert everyone["flag"].startswith("unreliable") and "ICC < 0.5" in everyone["flag"]
    long = pd.DataFrame(
        [(f"u{u}", f"r{r}", v) for u, row in enumerate(SHROUT_FLEISS_1979) for r, v in enumerate(row)],
        columns=["unit", "rater", "score"],
    )
    assert icc(long)[0] == pytest.approx(0.2898, abs=1e-4)


def test_a_judge_scoring_at_random_is_flagged_and_consistent_judges_are_not():
    judges = {"good1": 0.5, "good2": 0.5, "good3": 0.5, "random": None}
    scores = cube(2, combos=30, judges=judges, replicates=2, quality_sd=2.0)
    table = judge_reliability(scores).set_index(["scope", "kind"])
    for judge in judges:
        with_others = table.loc[(f"judge t__{judge}", "with the other judges' mean")]
        replicates = table.loc[(f"judge t__{judge}", "across its replicates")]
        if judge == "random":
            assert with_others["flag"].startswith("unreliable") and replicates["flag"].startswith("unreliable")
            assert with_others["alpha"] < 0.3 and replicates["icc"] < 0.3
        else:
            assert with_others["flag"] == "ok" and replicates["flag"] == "ok", judge
    assert table.loc[("all judges", "between judges"), "flag"].startswith("unreliable")
    assert table.loc[("evaluation template t", "between judges"), "raters"] == 4


@pytest.mark.parametrize(
    "alpha_value, icc_value, expected",
    [
        (0.667, 0.5, "ok"),  # at both thresholds: not below
        (0.6669, 0.5, "unreliable: alpha < 0.667"),
        (0.667, 0.4999, "unreliable: ICC < 0.5"),
        (0.1, 0.1, "unreliable: alpha < 0.667, ICC < 0.5"),
        (0.9, float("nan"), "ok"),
        (float("nan"), float("nan"), "insufficient data"),
    ],
)
def test_reliability_flag_at_its_thresholds(alpha_value, icc_value, expected):
    assert flag(alpha_value, icc_value, 0.667, 0.5) == expected


def test_declared_thresholds_reach_the_flags():
    scores = cube(4, combos=30, judges={"m1": 1.0, "m2": 1.0}, quality_sd=1.5)
    (row,) = judge_reliability(scores, alpha_min=0.0, icc_min=0.0).query("scope == 'all judges'").itertuples()
    assert row.flag == "ok"
    strict = judge_reliability(scores, alpha_min=0.99, icc_min=0.99).query("scope == 'all judges'").iloc[0]
    assert strict["flag"] == "unreliable: alpha < 0.99, ICC < 0.99"


# --- Stability of the top -----------------------------------------------------------------------


def ranked_essays(quality: dict, judges: int, replicates: int, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"parent_gen_id": essay, "evaluation_llm_model": f"m{j}", "replicate": r, "score": q + rng.normal(0, noise)}
        for essay, q in quality.items()
        for j in range(judges)
        for r in range(replicates)
    ]
    return frame(rows)


def test_clear_winners_are_stable_and_a_near_tie_is_not():
    winners = {f"e{n:02d}": 9.5 if n in (4, 11, 17) else 5.0 for n in range(20)}
    tie = {f"e{n:02d}": 6.0 for n in range(20)}
    for seed in range(10):
        scores = ranked_essays(winners, judges=3, replicates=2, noise=1.0, seed=seed)
        shares = top_shares(scores, 3, 1000, rng_for(seed, "s"))
        assert all(shares[e] >= 0.95 for e in ("e04", "e11", "e17"))
        assert sum(shares.values()) == pytest.approx(3.0)
        assert stability_verdict(["e04", "e11", "e17"], shares, 0.8)[1]

        scores = ranked_essays(tie, judges=3, replicates=2, noise=1.0, seed=seed)
        shares = top_shares(scores, 3, 1000, rng_for(seed, "s"))
        chosen = sorted(shares, key=shares.get, reverse=True)[:3]
        assert not stability_verdict(chosen, shares, 0.8)[1]
        assert sum(share >= 0.8 for share in shares.values()) <= 1


@pytest.mark.parametrize("level", ["replicate", "evaluation_llm_model"])
def test_resampled_means_of_few_values_are_rescaled(level):
    """e1 scored 10 and 0 (by two replicates, or by two judges), e2 11 and 11. Drawn again, e1's
    mean is 10 in a quarter of resamples: below e2's 11 as it stands, 5 + sqrt(2) * 5 = 12.07
    rescaled (a mean of two values drawn from two varies half as much as a new one would)."""
    rows = [("e1", "x", 10), ("e1", "y", 0), ("e2", "x", 11), ("e2", "y", 11)]
    scores = frame(
        [
            {"parent_gen_id": e, level: (1 if v == "x" else 2) if level == "replicate" else v, "score": s}
            for e, v, s in rows
        ]
    )
    assert top_shares(scores, 1, 4000, rng_for(4, "s"))["e1"] == pytest.approx(0.25, abs=0.03)


def test_a_few_judges_and_replicates_do_not_make_a_tie_look_stable():
    """With two judges and two replicates, plain resampling varies an essay's mean by half as
    much as a new experiment would; rescaled, a tied essay's share stays well below a winner's."""
    tie = {f"e{n:02d}": 6.0 for n in range(15)}
    top = []
    for seed in range(20):
        shares = top_shares(
            ranked_essays(tie, judges=2, replicates=2, noise=1.0, seed=seed), 3, 500, rng_for(seed, "s")
        )
        top.append(sorted(shares.values())[-3:])
    assert np.mean(top) < 0.6


def test_stability_resamples_the_judges():
    """Judge A puts e1 first, judge B e2; their mean ties (e1 wins ties by gen_id). Drawing the
    judges again: A twice (1/4) e1, B twice (1/4) e2, one of each (1/2) the tie, e1."""
    rows = [("e1", "A", 10), ("e2", "A", 5), ("e3", "A", 1), ("e1", "B", 5), ("e2", "B", 10), ("e3", "B", 1)]
    scores = frame([{"parent_gen_id": e, "evaluation_llm_model": m, "score": s} for e, m, s in rows])
    shares = top_shares(scores, 1, 4000, rng_for(2, "s"))
    assert shares["e1"] == pytest.approx(0.75, abs=0.03) and shares["e2"] == pytest.approx(0.25, abs=0.03)
    # by the max: e1 and e2 both 10 with both judges, a tie; A twice or B twice breaks it
    assert top_shares(scores, 1, 4000, rng_for(2, "s"), aggregate="max")["e1"] == pytest.approx(0.75, abs=0.03)


def test_stability_resamples_each_judges_replicates():
    """e1's replicates 10 and 0 (mean 5) against e2's 6 and 6: e1 is first only when both its
    draws are the 10 (1/4 of resamples)."""
    rows = [("e1", 1, 10), ("e1", 2, 0), ("e2", 1, 6), ("e2", 2, 6)]
    scores = frame([{"parent_gen_id": e, "replicate": r, "score": s} for e, r, s in rows])
    shares = top_shares(scores, 1, 4000, rng_for(3, "s"))
    assert shares["e1"] == pytest.approx(0.25, abs=0.03)


def test_stable_share_and_the_verdict_at_their_boundaries():
    ranked = pd.DataFrame({"essay_gen_id": ["a", "b", "c", "d"], "score": [9.0, 8.0, 7.0, 6.0]})
    shares = {"a": 0.5, "b": 0.4999, "c": 0.9, "d": 0.0}
    table = stability_table(ranked, shares, 2, 0.5).set_index("essay_gen_id")
    assert list(table["stable"]) == [True, False, True, False]
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert stability_verdict(["a", "b"], shares, 0.5)[1]  # one of two: half is enough
    assert not stability_verdict(["a", "b", "d"], shares, 0.5)[1]  # one of three is not
    text, ok = stability_verdict(["b", "d"], shares, 0.5)
    assert not ok and text.startswith("0 of the 2 chosen essays")


def test_select_top_warns_when_the_chosen_set_is_not_stable(tmp_path):
    def store(data, quality: dict) -> None:
        rng = np.random.default_rng(0)
        for essay, q in quality.items():
            for judge in ("m1", "m2"):
                for replicate in (1, 2):
                    gen_id = f"v{essay}{judge}{replicate}"
                    score = f"{min(10.0, max(0.0, q + rng.normal(0, 1.0))):.2f}\n"
                    meta = {"parent_gen_id": essay, "template_id": "t", "llm_model_id": judge, "replicate": replicate}
                    add_gen(data, "evaluation", gen_id, score, **meta)
            add_gen(data, "essay", essay, "text", parent_gen_id=f"d{essay}", template_id="e", llm_model_id="g")

    def select_top(root, quality):
        store(root / "data", quality)
        write(root / "config.yaml", f"data_root: {root / 'data'}\nstatistics: {{resamples: 500}}\n")
        command = [sys.executable, "-m", "daydream", "select-top", "--n", "3", "--config", str(root / "config.yaml")]
        result = subprocess.run(command, capture_output=True, text=True, env=run_env(), cwd=root)
        assert result.returncode == 0, result.stderr
        return result, pd.read_csv(root / "data/2_tasks/selection_candidates.csv")

    clear, candidates = select_top(tmp_path / "clear", {f"e{n:02d}": 9.0 if n < 3 else 4.0 for n in range(15)})
    assert "stability: 3 of the 3 chosen essays" in clear.stdout and "warning" not in clear.stderr
    assert list(candidates[candidates["selected"]]["top_n_share"]) == [1.0, 1.0, 1.0]

    tie, candidates = select_top(tmp_path / "tie", {f"e{n:02d}": 6.0 for n in range(15)})
    assert "warning: the chosen set is not stable" in tie.stderr
    assert (candidates["top_n_share"] >= 0.8).sum() <= 1


# --- The thresholds of the original analysis, at their boundaries --------------------------------


def test_perfect_high_and_low_counts_at_their_boundaries():
    values = [10.0, 9.99, 8.0, 7.99, 3.01, 3.0, 0.0]
    table = summarize_by(frame([{"parent_gen_id": f"e{n}", "score": v} for n, v in enumerate(values)]), None)
    row = table.iloc[0]
    assert (row["perfect_count"], row["high_count"], row["low_count"]) == (1, 3, 2)
    assert row["perfect_pct"] == pytest.approx(100 / 7, abs=1e-3)


@pytest.mark.parametrize(
    "spread, expected",
    [
        (0.0, "high"),
        (1.0, "high"),
        (1.01, "moderate"),
        (2.0, "moderate"),
        (2.01, "low"),
        (3.0, "low"),
        (3.01, "poor"),
        (float("nan"), "insufficient_data"),
    ],
)
def test_agreement_classes_at_their_boundaries(spread, expected):
    assert classify_agreement(spread) == expected
    if spread == spread:  # the same through the table: two judges `spread` apart
        scores = frame(
            [
                {"parent_gen_id": "e", "evaluation_llm_model": m, "score": s}
                for m, s in (("a", 5.0), ("b", 5.0 + spread))
            ]
        )
        assert evaluator_agreement(scores).iloc[0]["agreement"] == expected
