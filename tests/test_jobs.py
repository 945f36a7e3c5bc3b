"""Job steps without snakemake: API keys, request keys, the response archive, cost, atomic writes."""

import json

import pytest

from daydream.fileio import write_atomic
from daydream.jobs import (
    ValidationFailed,
    api_key_from,
    cost_of,
    find_archived,
    is_loopback,
    raw_step,
    request_key,
    validate_response,
)

from conftest import write

SPEC = {
    "stage": "draft",
    "gen_id": "g1",
    "cohort_id": "c1",
    "parent_gen_id": "",
    "combo_id": "k1",
    "template_id": "t1",
    "llm_model_id": "m1",
    "replicate": 1,
    "provider": "offline",
    "model": "offline/x",
    "max_tokens": 500,
    "temperature": 0.5,
    "parser_name": "essay_block",
}


def test_api_key_from_environment_then_dotenv(tmp_path, monkeypatch):
    dotenv = write(tmp_path / ".env", "# keys\nexport OTHER=1\nMY_KEY='sk-from-file'\n")
    monkeypatch.delenv("MY_KEY", raising=False)
    assert api_key_from("MY_KEY", dotenv) == "sk-from-file"
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    assert api_key_from("MY_KEY", dotenv) == "sk-from-env"
    assert api_key_from("MISSING", dotenv) is None and api_key_from(None, dotenv) is None


@pytest.mark.parametrize(
    "url,local",
    [("http://127.0.0.1:8080/v1", True), ("http://localhost/v1", True), ("http://[::1]:80/v1", True),
     ("https://openrouter.ai/api/v1", False), ("http://127example.com/v1", False)],
)  # fmt: skip
def test_is_loopback(url, local):
    assert is_loopback(url) is local


def test_request_key_changes_with_every_request_field():
    base = request_key(SPEC, "prompt")
    assert request_key(dict(SPEC), "prompt") == base
    assert request_key(SPEC, "prompt!") != base
    for field, value in (("max_tokens", 501), ("temperature", 0.6), ("model", "other"), ("provider", "p")):
        assert request_key({**SPEC, field: value}, "prompt") != base
    assert request_key({**SPEC, "gen_id": "other"}, "prompt") == base  # not part of the request


def test_raw_step_records_metadata_and_reuses_archive(tmp_path, monkeypatch):
    prompt = write(tmp_path / "g1/prompt.txt", "Concepts: a, b")
    raw, meta_path = tmp_path / "g1/raw.txt", tmp_path / "g1/metadata.json"
    runtime = {"prices": {"m1": {"input": 1.0, "output": 2.0}}}
    first = raw_step(SPEC, prompt, raw, meta_path, runtime)
    assert first["provider"] == "offline" and first["reused_response"] is False
    assert first["cost"] == pytest.approx(
        first["usage"]["prompt_tokens"] * 1e-6 + first["usage"]["completion_tokens"] * 2e-6
    )
    assert json.loads(meta_path.read_text())["gen_id"] == "g1" and raw.read_text().startswith("[offline synthetic")
    raw.unlink()
    again = raw_step(SPEC, prompt, raw, meta_path, runtime)
    assert again["reused_response"] is True and raw.exists()
    assert find_archived(raw, first["request_key"])["text"] == raw.read_text()
    monkeypatch.setenv("DD_FORCE_CALL", "1")
    assert raw_step(SPEC, prompt, raw, meta_path, runtime)["reused_response"] is False
    assert len(list((tmp_path / "g1/responses").glob("*.json"))) == 2


def test_offline_truncation_is_recorded(tmp_path):
    prompt = write(tmp_path / "g1/prompt.txt", "Concepts: a, b")
    meta = raw_step({**SPEC, "max_tokens": 5}, prompt, tmp_path / "g1/raw.txt", tmp_path / "g1/metadata.json", {})
    assert meta["truncated"] and meta["finish_reason"] == "length"
    with pytest.raises(ValidationFailed, match="truncated"):
        validate_response((tmp_path / "g1/raw.txt").read_text(), meta, 0, True)
    validate_response((tmp_path / "g1/raw.txt").read_text(), meta, 0, False)


def test_cost_needs_both_prices():
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000}
    assert cost_of(usage, {"input": 3.0, "output": 15.0}) == 10.5
    assert cost_of(usage, {"input": 3.0, "output": None}) is None and cost_of(usage, None) is None


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path):
    target = write(tmp_path / "raw.txt", "paid response")
    with pytest.raises(TypeError):
        write_atomic(target, object())  # not text: the write fails
    assert target.read_text() == "paid response"
    assert [p.name for p in tmp_path.iterdir()] == ["raw.txt"]


def test_stash_unarchived_raw_only_when_not_archived(tmp_path):
    from daydream.jobs import stash_unarchived_raw

    folder = tmp_path / "g1"
    assert stash_unarchived_raw(folder) is None  # nothing to keep
    prompt = write(folder / "prompt.txt", "Concepts: a, b")
    raw_step(SPEC, prompt, folder / "raw.txt", folder / "metadata.json", {})
    assert stash_unarchived_raw(folder) is None  # already in responses/
    (folder / "raw.txt").write_text("older text")
    kept = stash_unarchived_raw(folder)
    assert json.loads(kept.read_text())["text"] == "older text"
    assert json.loads(kept.read_text())["metadata"]["gen_id"] == "g1"
