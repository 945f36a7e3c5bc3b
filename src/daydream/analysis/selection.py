"""Choosing essays for the next cohort: rank stored essays by their evaluations (chosen
evaluators, max or mean across them), write an editable candidate list with scores and lineage,
and the selection file made from it; export chosen essays into a folder a person can read."""

from __future__ import annotations

from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import exists, read_bytes, read_json_object, register_root, write_atomic
from daydream.ids import is_safe_id, unsafe_id_message
from daydream.store.layout import METADATA, PARSED, PROMPT, RAW, StoreLayout
from daydream.store.metadata import ancestors, model_of, template_of, value

CANDIDATE_COLUMNS = [
    "selected",
    "essay_gen_id",
    "score",
    "evaluators",
    "evaluations",
    "combo_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "essay_path",
]


def rank_essays(scores, templates=None, models=None, aggregate: str = "mean"):
    """One row per essay with parsed scores from the chosen evaluation templates and models:
    each evaluator's (template x model) mean over its replicates, then their max or mean.
    Best first (ties by gen_id)."""
    import pandas as pd

    ok = scores[scores["score"].notna() & (scores["error"].fillna("") == "")].copy()
    if templates:
        ok = ok[ok["evaluation_template"].isin(templates)]
    if models:
        ok = ok[ok["evaluation_llm_model"].isin(models)]
    if ok.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS[1:])
    ok["score"] = ok["score"].astype(float)
    lineage = ["combo_id", "draft_template", "generation_template", "generation_model", "generation_response_path"]
    per_evaluator = ok.groupby(["parent_gen_id", "evaluation_template", "evaluation_llm_model"], dropna=False).agg(
        score=("score", "mean"), n=("score", "size")
    )
    per_essay = per_evaluator.groupby("parent_gen_id").agg(
        score=("score", aggregate), evaluators=("score", "size"), evaluations=("n", "sum")
    )
    first = ok.groupby("parent_gen_id")[lineage].first()
    table = per_essay.join(first).reset_index()
    table = table.rename(
        columns={
            "parent_gen_id": "essay_gen_id",
            "generation_template": "essay_template",
            "generation_response_path": "essay_path",
        }
    )
    table["score"] = table["score"].round(4)
    table = table.sort_values(["score", "essay_gen_id"], ascending=[False, True]).reset_index(drop=True)
    return table[CANDIDATE_COLUMNS[1:]]


def evaluations_matching(
    scores,
    templates: list[str] | None = None,
    models: list[str] | None = None,
    above: float | None = None,
    below: float | None = None,
    failed: bool = False,
) -> list[str]:
    """The evaluations of a score table that pass every filter given: evaluation template and
    model, a score strictly above or below a value, or no score (failed)."""
    chosen = scores
    if templates:
        chosen = chosen[chosen["evaluation_template"].isin(templates)]
    if models:
        chosen = chosen[chosen["evaluation_llm_model"].isin(models)]
    if failed:
        chosen = chosen[chosen["score"].isna()]
    if above is not None:
        chosen = chosen[chosen["score"].notna() & (chosen["score"].astype(float) > above)]
    if below is not None:
        chosen = chosen[chosen["score"].notna() & (chosen["score"].astype(float) < below)]
    return list(chosen["gen_id"])


def choose(ranked, n: int | None, score_span: float | None) -> list[str]:
    """The top n, or every essay within score_span of the best (at most n when both are given)."""
    if ranked.empty:
        return []
    chosen = ranked
    if score_span is not None:
        chosen = chosen[chosen["score"] >= ranked["score"].iloc[0] - score_span]
    if n is not None:
        chosen = chosen.head(n)
    return list(chosen["essay_gen_id"])


def candidates_csv(ranked, chosen: list[str], shares: dict | None = None) -> str:
    """The ranked essays, `selected` where chosen, and (with shares) each one's share of
    resamples in the top len(chosen) (stability.py)."""
    table = ranked.copy()
    table.insert(0, "selected", table["essay_gen_id"].isin(set(chosen)).map({True: "true", False: "false"}))
    if shares is not None:
        table["top_n_share"] = table["essay_gen_id"].map(shares).fillna(0.0).round(4)
    return table.to_csv(index=False, lineterminator="\n")


def selected_from_candidates(path: Path) -> list[str]:
    """The essays marked selected (true/1/yes) in an edited candidate list, in its order."""
    from daydream.tables import read_table

    chosen: dict[str, None] = {}
    for row in read_table(path, ["selected", "essay_gen_id"]):
        if row["selected"].strip().lower() in {"true", "1", "yes", "x"}:
            if not is_safe_id(row["essay_gen_id"]):
                raise InputError(
                    unsafe_id_message(row["essay_gen_id"]), file=path, row=row["_row"], field="essay_gen_id"
                )
            chosen[row["essay_gen_id"]] = None
    if not chosen:
        raise InputError("no row is marked selected (true)", file=path, field="selected")
    return list(chosen)


def selection_text(chosen: list[str], how: str) -> str:
    return f"# {how}\n" + "".join(f"{gen_id}\n" for gen_id in chosen)


def export_essays(data_root: str | Path, essay_ids: list[str], scores, out_dir: str | Path) -> list[Path]:
    """One folder per essay: its text, its draft, both prompts, and its evaluations (scores and
    the evaluators' responses), with a summary.md to read first. Nothing is read from the store
    or written under the output folder through a symbolic link (fileio.py)."""
    store = StoreLayout(data_root)
    out_dir = Path(out_dir)
    register_root(out_dir)  # below it, as below a data root: no write through a link
    written = []
    for essay_id in essay_ids:
        essay_dir = store.gen_dir("essay", essay_id)
        if not exists(essay_dir / PARSED):
            raise InputError(f"essay {essay_id} has no parsed.txt in the store", file=essay_dir / PARSED)
        meta_path = essay_dir / METADATA
        meta = read_json_object(meta_path)
        lineage = ancestors(store, "essay", meta)
        target = out_dir / essay_id
        copies = {"essay.txt": essay_dir / PARSED, "essay_prompt.txt": essay_dir / PROMPT}
        draft_id, draft_meta = lineage.get("draft", ("", {}))
        if draft_id:
            draft_dir = store.gen_dir("draft", draft_id)
            copies.update({"draft.txt": draft_dir / PARSED, "draft_prompt.txt": draft_dir / PROMPT})
        for name, source in copies.items():
            if exists(source):
                write_atomic(target / name, read_bytes(source))
        rows = scores[scores["parent_gen_id"] == essay_id] if not scores.empty else scores
        lines = [f"# Essay {essay_id}", ""]
        draft_path = store.gen_dir("draft", draft_id) / METADATA
        combo = value(draft_meta, "combo_id", path=draft_path) or value(meta, "combo_id", path=meta_path)
        lines.append(
            f"combo {combo or '?'}; draft template {template_of(draft_meta, 'draft', draft_path) or '?'}; "
            f"essay template {template_of(meta, 'essay', meta_path) or '?'}; model {model_of(meta, meta_path) or '?'}"
        )
        lines += ["", "| evaluation | template | model | replicate | score |", "|---|---|---|---|---|"]
        for _, row in rows.iterrows():
            score = "" if row["score"] != row["score"] else row["score"]  # NaN
            lines.append(
                f"| {row['gen_id']} | {row['evaluation_template']} | {row['evaluation_llm_model']} | "
                f"{row['replicate']} | {score or row['error']} |"
            )
            raw = store.gen_dir("evaluation", row["gen_id"]) / RAW
            if is_safe_id(str(row["gen_id"])) and exists(raw):
                write_atomic(target / "evaluations" / f"{row['gen_id']}.txt", read_bytes(raw))
        write_atomic(target / "summary.md", "\n".join(lines) + "\n")
        written.append(target)
    return written


def read_essay_list(path: Path) -> list[str]:
    """Essay ids from a selection file (one per line, # comments) or a candidate list (selected rows)."""
    from daydream.planning.stored import read_selected_essays

    if Path(path).suffix == ".csv":
        return selected_from_candidates(Path(path))
    return read_selected_essays(Path(path))
