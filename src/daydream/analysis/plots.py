"""Score distribution plots for the report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from daydream.fileio import write_atomic


def score_boxplot(scores, group: str, title: str, out: str | Path, intervals=None) -> None:
    """One box per value of `group` (points overlaid), scores on a fixed 0-10 axis; with a
    summary table (mean, mean_ci_low, mean_ci_high by `group`), each mean and its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = scores[scores["score"].notna()]
    labels = sorted(ok[group].astype(str).unique())
    data = [ok.loc[ok[group].astype(str) == label, "score"].astype(float).tolist() for label in labels]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 4.0))
    if labels:
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right")
        for i, values in enumerate(data, start=1):
            ax.plot([i] * len(values), values, "o", alpha=0.3, color="tab:blue", markersize=3)
        if intervals is not None and not intervals.empty and "mean_ci_low" in intervals:
            by_label = intervals.assign(_label=intervals[group].astype(str)).set_index("_label")
            for i, label in enumerate(labels, start=1):
                if label in by_label.index:
                    row = by_label.loc[label]
                    mean, low, high = float(row["mean"]), float(row["mean_ci_low"]), float(row["mean_ci_high"])
                    ax.errorbar(i + 0.3, mean, yerr=[[mean - low], [high - mean]], fmt="D", color="tab:red", capsize=4)
            ax.plot([], [], "D", color="tab:red", label="mean and its interval (essays resampled)")
            ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no parsed scores yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(-0.5, 10.5)
    ax.set_ylabel("score (0-10)")
    ax.set_title(title)
    _save(fig, out)


def agreement_plot(agreement, out: str | Path) -> None:
    """Evaluator agreement per essay: the spread between its evaluators, coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"high": "tab:green", "moderate": "tab:olive", "low": "tab:orange", "poor": "tab:red"}
    rated = agreement[agreement["agreement"].isin(colours)].sort_values("spread")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.25 * len(rated) + 2), 4.0))
    if len(rated):
        ax.bar(range(len(rated)), rated["spread"], color=[colours[c] for c in rated["agreement"]])
        ax.set_xticks([])
        for label, colour in colours.items():
            count = int((rated["agreement"] == label).sum())
            ax.bar([], [], color=colour, label=f"{label} ({count})")
        ax.legend(title="agreement")
    else:
        ax.text(0.5, 0.5, "no essay has two evaluators yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 10.5)
    ax.set_xlabel("essays, by spread")
    ax.set_ylabel("spread between evaluators (points)")
    ax.set_title("Evaluator agreement per essay")
    _save(fig, out)


def _save(fig, out: str | Path) -> None:
    """The figure as a PNG, written atomically (and never through a link: fileio.py)."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(out, buffer.getvalue())


def with_evaluator(scores):
    """The score table with an `evaluator` column: template and model on two lines (plot labels)."""
    scores = scores.copy()
    scores["evaluator"] = scores["evaluation_template"].astype(str) + "\n" + scores["evaluation_llm_model"].astype(str)
    return scores


def comparisons_plot(comparisons, out: str | Path) -> None:
    """Every pairwise difference of means with its interval, by factor; filled where the
    Holm-adjusted p-value is below the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = comparisons.dropna(subset=["difference"]) if len(comparisons) else comparisons
    fig, ax = plt.subplots(figsize=(7.0, max(2.5, 0.35 * len(rows) + 1.2)))
    if len(rows):
        labels = [f"{r.factor}: {r.level_a} - {r.level_b}" for r in rows.itertuples()]
        y = list(range(len(rows)))[::-1]
        for yi, r in zip(y, rows.itertuples(), strict=True):
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color="tab:gray")
            ax.plot(r.difference, yi, "o", color="tab:red" if r.significant else "white", markeredgecolor="tab:red")
        ax.set_yticks(y, labels, fontsize=7)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("difference of mean scores, with interval\n(filled: significant after Holm)")
    else:
        ax.text(0.5, 0.5, "no two levels to compare yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_title("Pairwise comparisons")
    _save(fig, out)
