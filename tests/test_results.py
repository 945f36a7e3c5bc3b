"""Score tables from a gens store written by hand (no LLM, no snakemake)."""

import json

import pandas as pd
import pytest

from daydream.analysis.registry import write_results
from daydream.analysis.scores import score_rows, scores_frame
from daydream.analysis.summaries import evaluator_agreement, pivot_scores, replicate_variance, summarize_by

from conftest import ROOT, add_gen, write


@pytest.fixture
def store(tmp_path):
    """Two essays of one draft each; two evaluators; replicates on one of them."""
    data = tmp_path / "data"
    for draft, essay, template, model in (("d1", "e1", "tpl-a", "gen-1"), ("d2", "e2", "tpl-b", "gen-2")):
        add_gen(data, "draft", draft, "x", combo_id=f"combo-{draft}", template_id=template, llm_model_id=model)
        add_gen(data, "essay", essay, "x", parent_gen_id=draft, template_id="essay-t", llm_model_id=model)
    evaluations = [
        ("v1", "e1", "judge", "m1", 1, "10"),
        ("v2", "e1", "judge", "m1", 2, "8"),
        ("v3", "e1", "rubric", "m1", 1, "4"),
        ("v4", "e2", "judge", "m1", 1, "3"),
        ("v5", "e2", "rubric", "m1", 1, "5"),
    ]
    for gen_id, essay, template, model, rep, score in evaluations:
        add_gen(
            data,
            "evaluation",
            gen_id,
            score + "\n",
            parent_gen_id=essay,
            template_id=template,
            llm_model_id=model,
            replicate=rep,
            cohort_id="c1",
            parser_name="in_last_line",
        )
    add_gen(
        data,
        "evaluation",
        "v6",
        None,
        raw="no verdict here",
        parent_gen_id="e2",
        template_id="judge",
        llm_model_id="m1",
        replicate=2,
        cohort_id="c1",
        parser_name="in_last_line",
    )
    add_gen(
        data,
        "evaluation",
        "v7",
        "eleven",
        parent_gen_id="e2",
        template_id="judge",
        llm_model_id="m1",
        replicate=3,
        cohort_id="c1",
        parser_name="in_last_line",
    )
    return data


def test_score_rows_carry_lineage_and_errors(store):
    rows = {r["gen_id"]: r for r in score_rows(store)}
    assert len(rows) == 7
    assert rows["v1"]["score"] == 10.0 and rows["v1"]["draft_template"] == "tpl-a"
    assert rows["v1"]["generation_model"] == "gen-1" and rows["v1"]["combo_id"] == "combo-d1"
    assert rows["v1"]["generation_template"] == "essay-t"
    assert rows["v6"]["score"] is None and "no score found" in rows["v6"]["error"]
    assert rows["v7"]["score"] is None and "invalid parsed.txt" in rows["v7"]["error"]


def test_pivot_means_over_replicates_and_sums(store):
    pivot = pivot_scores(scores_frame(score_rows(store))).set_index("parent_gen_id")
    assert pivot.loc["e1", "judge__m1"] == 9.0 and pivot.loc["e1", "judge__m1__n"] == 2
    assert pivot.loc["e1", "judge__m1__min"] == 8.0 and pivot.loc["e1", "judge__m1__max"] == 10.0
    assert pivot.loc["e1", "sum_scores"] == 13.0 and pivot.loc["e2", "sum_scores"] == 8.0


def test_summaries_agreement_and_replicates(store):
    scores = scores_frame(score_rows(store))
    by_template = summarize_by(scores, "draft_template").set_index("draft_template")
    assert by_template.loc["tpl-a", "count"] == 3 and by_template.loc["tpl-a", "perfect_count"] == 1
    assert by_template.loc["tpl-a", "perfect_pct"] == pytest.approx(33.3333)
    assert by_template.loc["tpl-b", "mean"] == 4.0
    agreement = evaluator_agreement(scores).set_index("parent_gen_id")
    assert agreement.loc["e1", "spread"] == 5.0 and agreement.loc["e1", "n_evaluators"] == 2
    variance = replicate_variance(scores).set_index(["parent_gen_id", "evaluation_template"])
    assert variance.loc[("e1", "judge"), "range"] == 2.0 and variance.loc[("e1", "judge"), "n"] == 2


def test_write_results_and_top_n_selection(store, tmp_path):
    out = tmp_path / "results"
    write_results(store, out)
    assert {p.name for p in out.iterdir()} >= {"parsed_scores.csv", "perfect_score_paths.csv", "summary_by_combo.csv"}
    perfect = pd.read_csv(out / "perfect_score_paths.csv")
    assert list(perfect["gen_id"]) == ["v1"]


def scores_of(store, tmp_path):
    write_results(store, tmp_path / "results")
    return pd.read_csv(tmp_path / "results/parsed_scores.csv", keep_default_na=False, na_values=[""])


def test_ranking_by_chosen_evaluators_with_max_or_mean(store, tmp_path):
    """e1: judge x m1 scored 10 and 8 (mean 9), rubric x m1 4; e2: judge 3, rubric 5."""
    from daydream.analysis.selection import choose, rank_essays

    scores = scores_of(store, tmp_path)
    ranked = rank_essays(scores)  # mean across evaluators of each evaluator's replicate mean
    assert list(ranked["essay_gen_id"]) == ["e1", "e2"] and list(ranked["score"]) == [6.5, 4.0]
    assert list(ranked["evaluations"]) == [3, 2] and list(ranked["evaluators"]) == [2, 2]
    assert ranked.iloc[0]["draft_template"] == "tpl-a" and ranked.iloc[0]["generation_model"] == "gen-1"
    assert list(rank_essays(scores, aggregate="max")["score"]) == [9.0, 5.0]
    rubric = rank_essays(scores, templates=["rubric"])
    assert list(rubric["essay_gen_id"]) == ["e2", "e1"] and list(rubric["score"]) == [5.0, 4.0]
    assert rank_essays(scores, models=["nobody"]).empty
    assert choose(ranked, 1, None) == ["e1"]
    assert choose(ranked, None, 2.5) == ["e1", "e2"] and choose(ranked, None, 2.4) == ["e1"]
    assert choose(ranked, 1, 10.0) == ["e1"]


def test_candidate_list_is_editable_and_makes_the_selection(store, tmp_path):
    from daydream.analysis.selection import candidates_csv, rank_essays, selected_from_candidates

    ranked = rank_essays(scores_of(store, tmp_path))
    path = tmp_path / "candidates.csv"
    path.write_text(candidates_csv(ranked, ["e1"]))
    assert selected_from_candidates(path) == ["e1"]
    path.write_text(path.read_text().replace("false,e2", "true,e2").replace("true,e1", "false,e1"))
    assert selected_from_candidates(path) == ["e2"]
    path.write_text(path.read_text().replace("true,e2", "true,../../x"))
    from daydream.errors import InputError

    with pytest.raises(InputError, match="row 2, field 'essay_gen_id': unsafe id"):
        selected_from_candidates(path)


def test_empty_store_gives_empty_tables(tmp_path):
    tables = write_results(tmp_path / "nothing", tmp_path / "out")
    assert all(table.empty for name, table in tables.items() if name != "essays")


def test_the_writer_writes_exactly_the_registered_tables_and_plots(store, tmp_path):
    """Each table and plot is registered once (file, caption, builder): the rules declare these
    files and the report shows them (test_workflow.py::test_report_and_plots), so a file written
    but not registered, or registered without a caption, is an error here."""
    from daydream.analysis.registry import PLOTS_DIR, RESULT_PLOTS, RESULT_TABLES

    out = tmp_path / "out"
    write_results(store, out)
    written = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()}
    registered = {t.file for t in RESULT_TABLES} | {f"{PLOTS_DIR}/{p.file}" for p in RESULT_PLOTS}
    assert written == registered
    names = [t.name for t in RESULT_TABLES] + [p.name for p in RESULT_PLOTS]
    assert len(names) == len(set(names)) and len(registered) == len(names)
    captions = {t.caption for t in RESULT_TABLES} | {p.caption for p in RESULT_PLOTS}
    assert all((ROOT / "report" / caption).is_file() for caption in captions)


def test_lineage_follows_the_stage_model_and_stays_in_the_store(tmp_path):
    from daydream.store.layout import StoreLayout
    from daydream.store.metadata import ancestors

    store, gens = StoreLayout(tmp_path), tmp_path / "gens"
    write(gens / "essay/e1/metadata.json", json.dumps({"gen_id": "e1", "parent_gen_id": "d1"}))
    write(gens / "draft/d1/metadata.json", json.dumps({"gen_id": "d1", "combo_id": "k1"}))
    found = ancestors(store, "evaluation", {"parent_gen_id": "e1"})
    assert found == {"essay": ("e1", {"gen_id": "e1", "parent_gen_id": "d1"}), "draft": ("d1", found["draft"][1])}
    assert found["draft"][1]["combo_id"] == "k1"
    write(tmp_path / "outside/metadata.json", json.dumps({"combo_id": "stolen"}))
    assert ancestors(store, "evaluation", {"parent_gen_id": "../../outside"}) == {}  # never read


def test_the_original_analysis_against_hand_computed_values(store):
    """Scores: e1 judge 10 and 8 (replicates), e1 rubric 4, e2 judge 3, e2 rubric 5 (the rest fail)."""
    from daydream.analysis.summaries import summarize_by, template_comparison, variance_components

    scores = scores_frame(score_rows(store))
    by_template = summarize_by(scores, "evaluation_template").set_index("evaluation_template")
    judge = by_template.loc["judge"]
    assert (judge["mean"], judge["min"], judge["max"], judge["count"]) == (7.0, 3.0, 10.0, 3)
    assert judge["std"] == pytest.approx(13**0.5, abs=1e-4)  # deviations 3, 1, -4
    assert (judge["perfect_count"], judge["high_count"], judge["low_count"]) == (1, 2, 1)
    rubric = by_template.loc["rubric"]
    assert (rubric["mean"], rubric["count"], rubric["high_count"], rubric["low_count"]) == (4.5, 2, 0, 0)
    overall = summarize_by(scores, None).iloc[0]
    assert (overall["mean"], overall["count"], overall["perfect_pct"]) == (6.0, 5, 20.0)
    pairs = summarize_by(scores, ["generation_model", "evaluation_llm_model"])
    assert list(zip(pairs["generation_model"], pairs["mean"], strict=True)) == [("gen-1", 7.3333), ("gen-2", 4.0)]

    agreement = evaluator_agreement(scores).set_index("parent_gen_id")
    assert agreement.loc["e1", "spread"] == 5.0 and agreement.loc["e1", "agreement"] == "poor"  # means 9 and 4
    assert agreement.loc["e1", "cv"] == pytest.approx((12.5**0.5) / 6.5, abs=1e-4)
    assert agreement.loc["e2", "spread"] == 2.0 and agreement.loc["e2", "agreement"] == "moderate"

    variance = variance_components(scores)
    e1 = variance[variance["parent_gen_id"] == "e1"].set_index("analysis")
    assert e1.loc["overall", "count"] == 3 and e1.loc["overall", "range"] == 6.0
    assert e1.loc["template", "held_fixed"] == "m1" and e1.loc["template", "agreement"] == "poor"
    assert "model" not in e1.index  # one evaluation model: nothing varies by model

    comparison = template_comparison(scores)
    assert list(comparison.columns) == ["combo_id", "generation_model", "tpl-a", "tpl-b"]
    assert comparison.loc[0, "tpl-a"] == pytest.approx(22 / 3, abs=1e-4) and comparison.loc[1, "tpl-b"] == 4.0
    assert list(template_comparison(scores, ["tpl-b"]).columns) == ["combo_id", "generation_model", "tpl-b"]
    pivot = pivot_scores(scores)
    assert pivot.loc[0, "generation_response_path"].endswith("essay/e1/parsed.txt")


def test_each_plot_is_drawn_from_tables_its_own_job_writes():
    """The two results jobs run side by side: a plot drawn from the other job's table would read
    a file that may not be there yet."""
    from daydream.analysis.registry import RESULT_PLOTS, RESULT_TABLES

    job_of = {table.name: table.job for table in RESULT_TABLES}
    assert all(job_of[name] == plot.job for plot in RESULT_PLOTS for name in plot.tables)


def test_statistics_reach_the_tables_and_the_same_seed_writes_the_same_files(store, tmp_path):
    """(A different seed's different draws: test_statistics.py, on more essays than these two.)"""
    first, again = tmp_path / "first", tmp_path / "again"
    write_results(store, first, statistics={"resamples": 200})
    write_results(store, again, statistics={"resamples": 200})
    for path in first.glob("*.csv"):
        assert path.read_bytes() == (again / path.name).read_bytes(), path.name
    by_template = pd.read_csv(first / "summary_by_evaluation_template.csv").set_index("evaluation_template")
    assert by_template.loc["judge", "n_essays"] == 2 and by_template.loc["rubric", "n_essays"] == 2
    assert (
        by_template.loc["judge", "mean_ci_low"]
        <= by_template.loc["judge", "mean"]
        <= by_template.loc["judge", "mean_ci_high"]
    )
    stability = pd.read_csv(first / "top_stability.csv")
    assert list(stability.columns) == ["essay_gen_id", "rank", "score", "top_n", "share_in_top_n", "stable"]
    assert "in the top" in (first / "essays.html").read_text()
