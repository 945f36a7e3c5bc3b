"""The report's page to read: the top essays with their full text, lineage and every evaluator's
score and reasoning excerpt, and the generations that failed. Model output is text, never markup:
everything from a response is escaped."""

from __future__ import annotations

from html import escape

from daydream.errors import InputError
from daydream.fileio import read_text

EXCERPT_CHARS = 600

STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.45; }
.essay { border-top: 2px solid #888; margin-top: 2em; padding-top: 1em; }
.text { white-space: pre-wrap; background: #f7f7f7; padding: 1em; }
.excerpt { white-space: pre-wrap; color: #444; font-size: 0.9em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; }
"""


def _read(path, limit: int | None = None) -> str:
    """A stored text (an essay, an evaluator's response); '' when missing, a note when refused."""
    if not path or path != path:  # no path, or NaN from a table
        return ""
    try:
        text = read_text(str(path), errors="replace")
    except InputError as exc:  # a link where the store follows none
        return f"[not shown: {exc}]"
    except OSError:
        return ""
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def essays_html(
    scores, ranked, n: int, failures: list[tuple[str, str, str]] = (), title: str = "", shares: dict | None = None
) -> str:
    """scores: the parsed_scores table; ranked: selection.rank_essays of it; failures: (stage,
    gen_id, reason); shares: each essay's share of resamples in the top n (stability.py). A
    whole HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        # no script may run in this page, whatever a response contains
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{escape(title or 'Top essays')}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title or 'Top essays')}</h1>",
        f"<p>The {min(n, len(ranked))} best of {len(ranked)} scored essays, ranked by the mean of their evaluators'"
        " scores (each evaluator's replicates averaged first). Beside each rank: the share of bootstrap"
        f" resamples (judges and replicates drawn again) in which the essay is in the top {n}.</p>",
    ]
    for rank, (_, essay) in enumerate(ranked.head(n).iterrows(), start=1):
        rows = scores[(scores["parent_gen_id"] == essay["essay_gen_id"]) & scores["score"].notna()]
        parts.append('<div class="essay">')
        share = (shares or {}).get(essay["essay_gen_id"])
        stable = f" (in the top {n} in {share:.0%} of resamples)" if share is not None else ""
        parts.append(f"<h2>{rank}. Essay {escape(str(essay['essay_gen_id']))}: {essay['score']:g}{stable}</h2>")
        parts.append(
            "<p>"
            + "; ".join(
                f"{label} <b>{escape(str(essay[column]))}</b>"
                for label, column in (
                    ("combo", "combo_id"),
                    ("draft template", "draft_template"),
                    ("essay template", "essay_template"),
                    ("generation model", "generation_model"),
                )
            )
            + "</p>"
        )
        parts.append(f'<div class="text">{escape(_read(essay["essay_path"]))}</div>')
        parts.append("<h3>Evaluations</h3><table><tr><th>template</th><th>model</th><th>replicate</th><th>score</th>")
        parts.append("<th>reasoning (excerpt)</th></tr>")
        for _, row in rows.sort_values(["evaluation_template", "evaluation_llm_model", "replicate"]).iterrows():
            excerpt = _read(row["evaluation_response_path"], EXCERPT_CHARS)
            parts.append(
                f"<tr><td>{escape(str(row['evaluation_template']))}</td><td>{escape(str(row['evaluation_llm_model']))}</td>"
                f"<td>{escape(str(row['replicate']))}</td><td>{float(row['score']):g}</td>"
                f'<td class="excerpt">{escape(excerpt)}</td></tr>'
            )
        parts.append("</table></div>")
    parts.append(f"<h2>Failed generations ({len(failures)})</h2>")
    if failures:
        parts.append("<table><tr><th>stage</th><th>gen_id</th><th>reason</th></tr>")
        for stage, gen_id, reason in failures:
            parts.append(f"<tr><td>{escape(stage)}</td><td>{escape(gen_id)}</td><td>{escape(reason)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
