"""A cohort's status from its files: states, failure reasons, spend."""

import json
from types import SimpleNamespace

from daydream.analysis.status import cohort_status, format_status

from conftest import write


def row(stage, gen_id):
    return SimpleNamespace(stage=stage, gen_id=gen_id)


def metadata(provider, cost, prompt_tokens=10, completion_tokens=20):
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    return json.dumps({"mode": "llm", "provider": provider, "cost": cost, "usage": usage})


def test_states_reasons_and_spend(tmp_path):
    gens, logs = tmp_path / "gens", tmp_path / "logs"
    write(gens / "draft/d1/parsed.txt", "x")
    write(gens / "draft/d1/metadata.json", metadata("openrouter", 0.25))
    write(gens / "draft/d2/metadata.json", metadata("openrouter", None))  # paid, parse failed, no price
    write(logs / "draft/d2/generate.log", "# to run this job again\nerror: ParseError: no <essay> tag found\n")
    write(logs / "essay/e1/prompt.log", "error: InputError: template error\n")
    write(logs / "essay/e2/prompt.log", "rendered t.txt: 10 characters\n")  # started, no error: pending
    write(gens / "evaluation/v1/metadata.json", metadata("offline", 0.0, 5, 5))
    write(gens / "evaluation/v1/parsed.txt", "7\n")
    rows = [row("draft", "d1"), row("draft", "d2"), row("essay", "e1"), row("essay", "e2"), row("evaluation", "v1")]
    status = cohort_status(tmp_path, "c1", rows)
    assert (status.planned["draft"], status.done["draft"], status.failed("draft"), status.pending("draft")) == (
        2,
        1,
        1,
        0,
    )
    assert status.failures["draft"] == [("d2", "ParseError: no <essay> tag found")]
    assert status.failures["essay"] == [("e1", "InputError: template error")] and status.pending("essay") == 1
    assert status.cost == 0.25 and status.unpriced_calls == 1  # offline calls cost nothing
    assert (status.prompt_tokens, status.completion_tokens) == (25, 45)
    text = format_status(status)
    assert "draft (1): ParseError: no <essay> tag found\n    d2" in text
    assert "spend recorded: $0.2500 (and 1 calls to models without prices" in text


def test_spend_per_stage_and_model_reads_both_metadata_shapes(tmp_path):
    """Ours (llm_model_id, provider, cost) and the original pipeline's (model_id, no provider, no cost)."""
    from daydream.analysis.status import spend_rows, store_metadata_paths

    ours = {"mode": "llm", "stage": "draft", "llm_model_id": "w", "provider": "openrouter", "cost": 0.5}
    write(tmp_path / "gens/draft/d1/metadata.json", json.dumps({**ours, "usage": {"prompt_tokens": 10}}))
    write(tmp_path / "gens/draft/d2/metadata.json", json.dumps({**ours, "cost": 0.25}))
    original = {"mode": "llm", "model_id": "judge", "usage": {"completion_tokens": 7}}
    write(tmp_path / "gens/evaluation/v1/metadata.json", json.dumps(original))
    write(tmp_path / "gens/essay/e1/metadata.json", json.dumps({"mode": "copy", "stage": "essay"}))  # no call
    rows = spend_rows(store_metadata_paths(tmp_path))
    assert [(r["stage"], r["model_id"], r["calls"]) for r in rows] == [("draft", "w", 2), ("evaluation", "judge", 1)]
    assert rows[0]["cost_usd"] == 0.75 and rows[0]["prompt_tokens"] == 10 and rows[0]["unpriced_calls"] == 0
    assert rows[1]["completion_tokens"] == 7 and rows[1]["unpriced_calls"] == 1
