"""Score distribution plots for the report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from daydream.fileio import write_atomic


def score_boxplot(scores, group: str, title: str, out: str | Path) -> None:
    """One box per value of `group` (points overlaid), scores on a fixed 0-10 axis."""
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
