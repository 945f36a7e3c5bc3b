"""What the review app shows of a cohort: its essays ranked by score (with each one's share of
resamples in the top N), and one essay in full: text, draft, concepts, every evaluation with the
judge's whole response, and what it cost. Plain values; the app renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from daydream.analysis.scores import judged_scores, score_rows, scores_frame
from daydream.analysis.selection import rank_essays
from daydream.analysis.stability import top_shares
from daydream.analysis.status import spend_rows
from daydream.analysis.uncertainty import rng_for
from daydream.errors import InputError
from daydream.fileio import exists, read_text
from daydream.store.layout import METADATA, PARSED, REASONING, StoreLayout
from daydream.store.membership import read_membership
from daydream.store.metadata import model_of, read_metadata, value
from daydream.tables import read_table

FACETS = ("draft_template", "essay_template", "generation_model")  # what the list filters by


@dataclass(frozen=True)
class EssayEntry:
    gen_id: str
    draft_gen_id: str
    combo_id: str
    draft_template: str
    essay_template: str
    generation_model: str
    rank: int | None = None  # None: no score yet
    score: float | None = None
    share: float | None = None  # of resamples with it in the top N
    evaluations: int = 0
    judges_low: float | None = None  # the lowest and highest of its judges' scores (each the mean
    judges_high: float | None = None  # over that judge's replicates)


@dataclass(frozen=True)
class Evaluation:
    gen_id: str
    template: str
    model: str
    replicate: int
    score: float | None
    error: str
    response: str  # the judge's whole response (text, never markup)
    reasoning: str = ""  # a reasoning model's reasoning, kept apart (reasoning.txt)


@dataclass
class EssayPage:
    entry: EssayEntry
    text: str
    draft_text: str
    concepts: list[tuple[str, str]]  # (concept_id, name)
    evaluations: list[Evaluation] = field(default_factory=list)
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    reused_calls: int = 0  # responses taken from other generations (paid there)


def _text(path) -> str:
    try:
        return read_text(path, errors="replace") if exists(path) else ""
    except InputError as exc:  # a link where the store follows none
        return f"[not shown: {exc}]"


class CohortEssays:
    """A cohort's essays and their scores, read once (reload() reads them again)."""

    def __init__(self, data_root: str | Path, cohort_id: str, top_n: int, statistics: dict):
        self.store = StoreLayout(data_root)
        self.data_root, self.cohort_id, self.top_n, self.statistics = data_root, cohort_id, top_n, statistics
        self.reload()

    def reload(self) -> None:
        membership = read_membership(self.store.membership(self.cohort_id))
        evaluation_ids = [row.gen_id for row in membership if row.stage == "evaluation"]
        self.scores = scores_frame(score_rows(self.data_root, evaluation_ids))
        ranked = rank_essays(self.scores)
        shares = top_shares(
            self.scores, self.top_n, self.statistics["resamples"], rng_for(self.statistics["seed"], "top_stability")
        )
        essay_ids = [row.gen_id for row in membership if row.stage == "essay"]
        essay_ids += [gen_id for gen_id in self.scores["parent_gen_id"].dropna().unique() if gen_id]  # re-scoring
        by_rank = {
            gen_id: (rank, row) for rank, (gen_id, row) in enumerate(ranked.set_index("essay_gen_id").iterrows(), 1)
        }
        judges = judged_scores(self.scores).groupby(["parent_gen_id", "judge"])["score"].mean()
        spread = judges.groupby(level=0).agg(["min", "max"])
        entries = {}
        for gen_id in dict.fromkeys(essay_ids):
            rank, row = by_rank.get(gen_id, (None, None))
            low, high = spread.loc[gen_id] if gen_id in spread.index else (None, None)
            entries[gen_id] = self._entry(gen_id, rank, row, shares.get(gen_id), low, high)
        self.entries = sorted(entries.values(), key=lambda e: (e.rank is None, e.rank or 0, e.gen_id))
        self.by_id = {entry.gen_id: entry for entry in self.entries}

    def _entry(self, gen_id: str, rank, row, share, low, high) -> EssayEntry:
        essay = read_metadata(self.store, "essay", gen_id)
        draft_id = value(essay, "parent_gen_id", "essay")
        draft = read_metadata(self.store, "draft", draft_id) if draft_id else {}
        return EssayEntry(
            gen_id=gen_id,
            draft_gen_id=draft_id,
            combo_id=value(essay, "combo_id") or value(draft, "combo_id"),
            draft_template=value(draft, "template_id", "draft"),
            essay_template=value(essay, "template_id", "essay"),
            generation_model=model_of(essay) or "",
            rank=rank,
            score=None if row is None else float(row["score"]),
            share=share,
            evaluations=0 if row is None else int(row["evaluations"]),
            judges_low=None if low is None else float(low),
            judges_high=None if high is None else float(high),
        )

    def facet_values(self, name: str) -> list[str]:
        return sorted({getattr(entry, name) for entry in self.entries if getattr(entry, name)})

    def page(self, gen_id: str) -> EssayPage:
        entry = self.by_id[gen_id]
        rows = self.scores[self.scores["parent_gen_id"] == gen_id]
        evaluations = [
            Evaluation(
                gen_id=row["gen_id"],
                template=row["evaluation_template"],
                model=row["evaluation_llm_model"],
                replicate=int(row["replicate"]),
                score=None if row["score"] is None or row["score"] != row["score"] else float(row["score"]),
                error=row["error"] or "",
                response=_text(row["evaluation_response_path"]),
                reasoning=_text(self.store.gen_dir("evaluation", row["gen_id"]) / REASONING),
            )
            for _, row in rows.sort_values(["evaluation_template", "evaluation_llm_model", "replicate"]).iterrows()
        ]
        paths = [self.store.gen_dir("essay", gen_id) / METADATA]
        if entry.draft_gen_id:
            paths.append(self.store.gen_dir("draft", entry.draft_gen_id) / METADATA)
        paths += [self.store.gen_dir("evaluation", e.gen_id) / METADATA for e in evaluations]
        spent = spend_rows([path for path in paths if exists(path)])
        return EssayPage(
            entry=entry,
            text=_text(self.store.gen_dir("essay", gen_id) / PARSED),
            draft_text=_text(self.store.gen_dir("draft", entry.draft_gen_id) / PARSED) if entry.draft_gen_id else "",
            concepts=self._concepts(entry.combo_id),
            evaluations=evaluations,
            cost_usd=sum(row["cost_usd"] for row in spent if row["provider"] != "offline"),
            unpriced_calls=sum(row["unpriced_calls"] for row in spent),
            reused_calls=sum(row["reused_calls"] for row in spent),
        )

    def _concepts(self, combo_id: str) -> list[tuple[str, str]]:
        if not combo_id or not exists(self.store.combo_mappings):
            return []
        names = {}
        concepts_table = self.store.raw_table("concepts_metadata")
        if exists(concepts_table):
            names = {row["concept_id"]: row.get("name", "") for row in read_table(concepts_table, ["concept_id"])}
        combo_rows = read_table(self.store.combo_mappings, ["combo_id", "concept_id"])
        ids = list(dict.fromkeys(row["concept_id"] for row in combo_rows if row["combo_id"] == combo_id))
        return [(concept_id, names.get(concept_id, "")) for concept_id in ids]
