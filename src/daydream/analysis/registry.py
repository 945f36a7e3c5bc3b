"""Every result table and plot, registered once: its file, its caption in the report, its
category, and the function that builds it. The results rule declares these files (each marked
for the report), the writer writes exactly these, and the report shows them."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from daydream.analysis import human, plots, reliability, stability, summaries, uncertainty
from daydream.analysis.scores import score_rows, scores_frame
from daydream.config import section_defaults
from daydream.fileio import read_text

PLOTS_DIR = "plots"
# Two jobs write a results folder side by side (rules score_tables and statistics): the tests and
# estimators from scipy and pingouin take a second to import, and run beside the rest, not after.
TABLES_JOB, STATISTICS_JOB = "score_tables", "statistics"
RESULT_JOBS = (TABLES_JOB, STATISTICS_JOB)


@dataclass(frozen=True)
class ResultInputs:
    """What the builders read: the score table and where it came from."""

    data_root: str | Path
    scores: object  # pandas DataFrame of scores.SCORE_COLUMNS
    membership: list | None  # the cohort's membership rows, or None: every cohort in the store
    compare_templates: list[str]
    top_n: int
    statistics: dict  # config `statistics`

    def rng(self, name: str):
        return uncertainty.rng_for(self.statistics["seed"], name)

    @cached_property
    def human_verdicts(self) -> dict:
        """The reviewers' verdicts (store/labels.py) of this cohort, or of every cohort."""
        from daydream.store.labels import store_labels, verdicts

        cohorts = None if self.membership is None else {row.cohort_id for row in self.membership}
        return verdicts(store_labels(self.data_root, cohorts))

    @cached_property
    def shares(self) -> dict:
        """Each essay's share of resamples in the top top_n (computed once per write)."""
        return stability.top_shares(self.scores, self.top_n, self.statistics["resamples"], self.rng("top_stability"))


@dataclass(frozen=True)
class ResultTable:
    name: str
    file: str
    caption: str  # report/<caption>
    category: str
    subcategory: str | None
    build: Callable[[ResultInputs], object]  # a DataFrame (written as CSV) or a page (str)
    job: str = TABLES_JOB


@dataclass(frozen=True)
class ResultPlot:
    name: str
    file: str  # under plots/
    caption: str
    tables: tuple[str, ...]  # the tables it is drawn from
    draw: Callable[[dict, str | Path], None]  # (those tables as written, by name) -> a PNG file
    job: str = TABLES_JOB


def _summary(key) -> Callable[[ResultInputs], object]:
    """A summary by key, each mean with its interval from resampling essays."""
    keys = [] if key is None else [key] if isinstance(key, str) else list(key)

    def build(inputs: ResultInputs):
        settings = inputs.statistics
        table = summaries.summarize_by(inputs.scores, key)
        rng = inputs.rng("summary:" + ",".join(keys))
        return uncertainty.with_intervals(
            table, inputs.scores, keys, settings["resamples"], settings["confidence"], rng
        )

    return build


def _stability(inputs: ResultInputs):
    from daydream.analysis.selection import rank_essays

    ranked = rank_essays(inputs.scores)
    return stability.stability_table(ranked, inputs.shares, inputs.top_n, inputs.statistics["stable_share"])


def _spend(inputs: ResultInputs):
    """Recorded cost and tokens per stage and model (status.spend_rows): a cohort's, or the store's."""
    import pandas as pd

    from daydream.analysis.status import SPEND_COLUMNS, cohort_metadata_paths, spend_rows, store_metadata_paths

    if inputs.membership is None:
        paths = store_metadata_paths(inputs.data_root)
    else:
        paths = cohort_metadata_paths(inputs.data_root, inputs.membership)
    return pd.DataFrame(spend_rows(paths), columns=SPEND_COLUMNS).round({"cost_usd": 6})


def _essays_page(inputs: ResultInputs) -> str:
    """The top essays to read, and the failed generations (a cohort's, from its job logs; over
    the whole store, the evaluations that did not parse)."""
    from daydream.analysis.essays_page import essays_html
    from daydream.analysis.selection import rank_essays
    from daydream.analysis.status import cohort_status

    scores = inputs.scores
    if inputs.membership is None:
        failed = scores[scores["error"] != ""]
        failures = [("evaluation", row.gen_id, row.error) for row in failed.itertuples()]
        title = "Top essays of every cohort"
    else:
        rows = list(inputs.membership)
        cohort_id = rows[0].cohort_id if rows else ""
        status = cohort_status(inputs.data_root, cohort_id, rows)
        failures = [(stage, gen_id, reason) for stage in status.failures for gen_id, reason in status.failures[stage]]
        title = f"Top essays of cohort {cohort_id}"
    return essays_html(scores, rank_essays(scores), inputs.top_n, failures, title, inputs.shares)


def _table(name, file, caption, category, build, subcategory=None, job=TABLES_JOB) -> ResultTable:
    return ResultTable(name, file, caption, category, subcategory, build, job)


SUMMARIES = "Summaries"
RESULT_TABLES: tuple[ResultTable, ...] = (
    _table("scores", "parsed_scores.csv", "parsed_scores.rst", "Score tables", lambda i: i.scores),
    _table(
        "pivot",
        "evaluation_scores_by_template_model.csv",
        "pivot.rst",
        "Score tables",
        lambda i: summaries.pivot_scores(i.scores),
    ),
    _table(
        "by_draft_template",
        "summary_by_draft_template.csv",
        "summary.rst",
        SUMMARIES,
        _summary("draft_template"),
        "By draft template",
    ),
    _table(
        "by_generation_model",
        "summary_by_generation_model.csv",
        "summary.rst",
        SUMMARIES,
        _summary("generation_model"),
        "By generation model",
    ),
    _table("by_combo", "summary_by_combo.csv", "summary.rst", SUMMARIES, _summary("combo_id"), "By combo"),
    _table(
        "perfect",
        "perfect_score_paths.csv",
        "perfect.rst",
        SUMMARIES,
        lambda i: summaries.perfect_score_paths(i.scores),
        "Perfect scores",
    ),
    _table(
        "agreement",
        "evaluator_agreement.csv",
        "agreement.rst",
        "Reliability",
        lambda i: summaries.evaluator_agreement(i.scores),
    ),
    _table(
        "replicates",
        "replicate_variance.csv",
        "replicates.rst",
        "Reliability",
        lambda i: summaries.replicate_variance(i.scores),
    ),
    _table("cost", "cost_by_stage_model.csv", "cost.rst", "Cost", _spend),
    _table(
        "by_essay_template",
        "summary_by_essay_template.csv",
        "summary.rst",
        SUMMARIES,
        _summary("generation_template"),
        "By essay template",
    ),
    _table(
        "by_evaluation_template",
        "summary_by_evaluation_template.csv",
        "summary.rst",
        SUMMARIES,
        _summary("evaluation_template"),
        "By evaluation template",
    ),
    _table(
        "by_evaluation_model",
        "summary_by_evaluation_model.csv",
        "summary.rst",
        SUMMARIES,
        _summary("evaluation_llm_model"),
        "By evaluation model",
    ),
    _table(
        "by_template_model",
        "summary_by_draft_template_and_generation_model.csv",
        "summary.rst",
        SUMMARIES,
        _summary(["draft_template", "generation_model"]),
        "By draft template and generation model",
    ),
    _table(
        "by_generation_evaluation_model",
        "summary_by_generation_and_evaluation_model.csv",
        "summary.rst",
        SUMMARIES,
        _summary(["generation_model", "evaluation_llm_model"]),
        "By generation and evaluation model",
    ),
    _table("overall", "summary_overall.csv", "summary.rst", SUMMARIES, _summary(None), "Overall"),
    _table(
        "by_evaluator",
        "summary_by_evaluator.csv",
        "summary.rst",
        SUMMARIES,
        _summary(["evaluation_template", "evaluation_llm_model"]),
        "By evaluator (evaluation template and model)",
    ),
    _table(
        "variance",
        "variance_components.csv",
        "variance.rst",
        "Reliability",
        lambda i: summaries.variance_components(i.scores),
    ),
    _table(
        "template_comparison",
        "template_comparison.csv",
        "comparison.rst",
        SUMMARIES,
        lambda i: summaries.template_comparison(i.scores, i.compare_templates),
        "Template versions",
    ),
    _table("essays", "essays.html", "essays.rst", "Essays", _essays_page),
    _table(
        "comparisons",
        "comparisons.csv",
        "comparisons.rst",
        "Statistics",
        lambda i: uncertainty.compare_levels(i.scores, i.statistics["confidence"]),
        job=STATISTICS_JOB,
    ),
    _table(
        "judge_reliability",
        "judge_reliability.csv",
        "reliability.rst",
        "Reliability",
        lambda i: reliability.judge_reliability(i.scores, i.statistics["alpha_min"], i.statistics["icc_min"]),
        job=STATISTICS_JOB,
    ),
    _table("top_stability", "top_stability.csv", "stability.rst", "Essays", _stability),
    _table(
        "judge_vs_human",
        "judge_vs_human.csv",
        "judge_vs_human.rst",
        "Reliability",
        lambda i: human.judge_vs_human(i.scores, i.human_verdicts, i.statistics["judge_accept_score"]),
        job=STATISTICS_JOB,
    ),
)

RESULT_PLOTS: tuple[ResultPlot, ...] = (
    ResultPlot(
        "plot_by_evaluator",
        "scores_by_evaluator.png",
        "plot_evaluator.rst",
        ("scores", "by_evaluator"),
        lambda tables, out: plots.score_boxplot(
            plots.with_evaluator(tables["scores"]),
            "evaluator",
            "Scores per evaluation template and model",
            out,
            plots.with_evaluator(tables["by_evaluator"]),
        ),
    ),
    ResultPlot(
        "plot_by_generation_model",
        "scores_by_generation_model.png",
        "plot_generation_model.rst",
        ("scores", "by_generation_model"),
        lambda tables, out: plots.score_boxplot(
            tables["scores"], "generation_model", "Scores per generation model", out, tables["by_generation_model"]
        ),
    ),
    ResultPlot(
        "plot_by_draft_template",
        "scores_by_draft_template.png",
        "plot_draft_template.rst",
        ("scores", "by_draft_template"),
        lambda tables, out: plots.score_boxplot(
            tables["scores"], "draft_template", "Scores per draft template", out, tables["by_draft_template"]
        ),
    ),
    ResultPlot(
        "plot_by_agreement",
        "evaluator_agreement.png",
        "plot_agreement.rst",
        ("agreement",),
        lambda tables, out: plots.agreement_plot(tables["agreement"], out),
    ),
    ResultPlot(
        "plot_comparisons",
        "comparisons.png",
        "plot_comparisons.rst",
        ("comparisons",),
        lambda tables, out: plots.comparisons_plot(tables["comparisons"], out),
        STATISTICS_JOB,
    ),
)


def table_file(name: str) -> str:
    return next(table.file for table in RESULT_TABLES if table.name == name)


def result_paths(folder: str | Path) -> list[Path]:
    """Every registered table and plot in a results folder, as its writers name them."""
    folder = Path(folder)
    return [folder / t.file for t in RESULT_TABLES] + [folder / PLOTS_DIR / p.file for p in RESULT_PLOTS]


def write_results(
    data_root: str | Path,
    out_dir: str | Path,
    membership=None,
    compare_templates=None,
    top_n: int = 10,
    statistics: dict | None = None,
    jobs: tuple[str, ...] = RESULT_JOBS,
) -> dict:
    """The registered tables of these jobs, from a cohort's generations (its membership rows) or
    from the whole store, then their plots from the tables as written; returns the tables by
    name."""
    from daydream.fileio import write_atomic

    out_dir = Path(out_dir)
    evaluation_ids = None if membership is None else [r.gen_id for r in membership if r.stage == "evaluation"]
    scores = scores_frame(score_rows(data_root, evaluation_ids))
    settings = {**section_defaults("statistics"), **(statistics or {})}
    inputs = ResultInputs(data_root, scores, membership, list(compare_templates or []), top_n, settings)
    built = {}
    for table in RESULT_TABLES:
        if table.job in jobs:
            value = built[table.name] = table.build(inputs)
            write_atomic(out_dir / table.file, value if isinstance(value, str) else value.to_csv(index=False))
    write_plots(out_dir, jobs)
    errors = int((scores["error"] != "").sum())
    print(f"{len(scores)} evaluations, {errors} with errors -> {out_dir} ({', '.join(jobs)}: tables, {PLOTS_DIR}/)")
    return built


def write_plots(reports_dir: str | Path, jobs: tuple[str, ...] = RESULT_JOBS) -> list[Path]:
    """The registered plots of these jobs, from the tables in a results folder, into its plots/."""
    import pandas as pd

    reports_dir = Path(reports_dir)
    chosen = [plot for plot in RESULT_PLOTS if plot.job in jobs]
    names = {name for plot in chosen for name in plot.tables}
    tables = {name: pd.read_csv(io.StringIO(read_text(reports_dir / table_file(name)))) for name in names}
    written = []
    for plot in chosen:
        out = reports_dir / PLOTS_DIR / plot.file
        plot.draw(tables, out)
        written.append(out)
    return written
