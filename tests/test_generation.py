"""One generation's steps without Snakemake: keys, request keys, the response archive, cost,
validation, atomic writes, and the generate step on real files."""

import errno
import json
import os
import stat

import pytest

from daydream import fileio
from daydream.calling.credentials import api_key_from, is_loopback
from daydream.calling.engine import perform_call
from daydream.calling.providers import endpoint
from daydream.config import validate_config
from daydream.fileio import write_atomic
from daydream.generating.steps import ValidationFailed, cost_of, generate, validate_response, write_prompt
from daydream.planning.specs import ConceptText, GenerationSpec
from daydream.store.archive import Request, archive_response, find_archived, request_key
from daydream.store.layout import StoreLayout
from daydream.store.membership import MembershipRow

from conftest import write

REQUEST = Request("offline", "offline/x", 500, 0.5)


def draft_generation(root, *, max_tokens=500, parser="essay_block", min_lines=3, fail_on_truncation=True):
    """A draft generation in a data root under `root`, served by the offline provider."""
    template = write(root / "templates/draft/t1.txt", "Concepts:{% for c in concepts %} {{ c.name }}{% endfor %}\n")
    concept = write(root / "data/1_raw/concepts/descriptions-paragraph/a.txt", "A is a concept.\n")
    row = MembershipRow("draft", "g1", "c1", "", "k1", "t1", "m1", 1)
    return GenerationSpec(
        row=row,
        store=StoreLayout(root / "data"),
        mode="llm",
        template=str(template),
        parents={},
        concepts=(ConceptText("a", "Alpha", "paragraph", str(concept)),),
        endpoint=endpoint(validate_config({}), "offline"),
        request=Request("offline", "offline/x", max_tokens, 0.5),
        parser=parser,
        parser_name=parser,
        min_lines=min_lines,
        fail_on_truncation=fail_on_truncation,
    )


def fixed_now():
    return "2026-01-01T00:00:00+00:00"


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
    base = request_key(REQUEST, "prompt")
    assert request_key(Request("offline", "offline/x", 500, 0.5), "prompt") == base
    assert request_key(REQUEST, "prompt!") != base
    for changed in (
        Request("offline", "offline/x", 501, 0.5),
        Request("offline", "offline/x", 500, 0.6),
        Request("offline", "other", 500, 0.5),
        Request("p", "offline/x", 500, 0.5),
    ):
        assert request_key(changed, "prompt") != base


def test_request_key_is_stable_across_versions():
    """Archives written by earlier versions are found again: the key's recipe never changes."""
    # the value the previous implementation (commit 6aee572, jobs.request_key) gave
    assert request_key(REQUEST, "Concepts: a, b") == "accbb524266350e254ca"


def test_generate_records_metadata_reuses_archive_and_force_calls_again(tmp_path):
    gen = draft_generation(tmp_path)
    prompt, _ = write_prompt(gen)
    assert prompt == "Concepts: Alpha\n"
    prices = {"input": 1.0, "output": 2.0}
    assert generate(gen, perform_call, prices, fixed_now).startswith("called offline")
    meta = json.loads(open(gen.metadata_path).read())
    assert meta["gen_id"] == "g1" and meta["provider"] == "offline" and meta["reused_response"] is False
    assert meta["concept_levels"] == {"a": "paragraph"}
    assert meta["cost"] == pytest.approx(
        meta["usage"]["prompt_tokens"] * 1e-6 + meta["usage"]["completion_tokens"] * 2e-6
    )
    raw = open(gen.raw_path).read()
    assert raw.startswith("[offline synthetic draft") and open(gen.parsed_path).read().startswith("Synthetic essay")
    os.unlink(gen.raw_path)
    assert generate(gen, perform_call, prices, fixed_now).startswith("reused the archived response")
    assert json.loads(open(gen.metadata_path).read())["reused_response"] is True
    assert find_archived(gen.gen_dir, meta["request_key"])["text"] == open(gen.raw_path).read() == raw
    generate(gen, perform_call, prices, fixed_now, force=True)
    assert json.loads(open(gen.metadata_path).read())["reused_response"] is False
    assert len(list((gen.gen_dir / "responses").glob("*.json"))) == 2


def test_truncated_response_is_recorded_then_fails_validation_keeping_raw(tmp_path):
    gen = draft_generation(tmp_path, max_tokens=5)
    write_prompt(gen)
    with pytest.raises(ValidationFailed, match="truncated"):
        generate(gen, perform_call, None, fixed_now)
    meta = json.loads(open(gen.metadata_path).read())
    assert meta["truncated"] and meta["finish_reason"] == "length"
    assert os.path.exists(gen.raw_path) and not os.path.exists(gen.parsed_path)
    validate_response(open(gen.raw_path).read(), meta, 0, False)


def test_parse_failure_keeps_raw_and_metadata(tmp_path):
    gen = draft_generation(tmp_path, parser="essay_idea_last", min_lines=1)
    write(gen.gen_dir / "prompt.txt", "x")
    generate(gen, perform_call, None, fixed_now)  # the offline draft has the tags
    broken = draft_generation(tmp_path, parser="essay_block", min_lines=50)
    with pytest.raises(ValidationFailed, match="fewer than min_lines=50"):
        generate(broken, perform_call, None, fixed_now)
    assert os.path.exists(gen.raw_path) and os.path.exists(gen.metadata_path)


def test_cost_needs_both_prices():
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000}
    assert cost_of(usage, {"input": 3.0, "output": 15.0}) == 10.5
    assert cost_of(usage, {"input": 3.0, "output": None}) is None and cost_of(usage, None) is None


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path, monkeypatch):
    target = write(tmp_path / "raw.txt", "paid response")
    with pytest.raises(TypeError):
        write_atomic(target, object())  # not text: refused before anything is written
    assert target.read_text() == "paid response"

    def disk_error(fd):
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(fileio.os, "fsync", disk_error)  # the temporary file is written, then the disk fails
    with pytest.raises(OSError, match="input/output"):
        write_atomic(target, "new response")
    assert target.read_text() == "paid response"
    assert [p.name for p in tmp_path.iterdir()] == ["raw.txt"]


def test_atomic_write_replaces_the_file_and_never_rewrites_it_in_place(tmp_path):
    """A reader (or a kill) mid-write sees the old file or the new one, never half of one: the
    new text goes to a new file that is renamed over the old."""
    target = write(tmp_path / "parsed.txt", "old text")
    old_inode = target.stat().st_ino
    write_atomic(target, "new text")
    assert target.read_text() == "new text" and target.stat().st_ino != old_inode
    assert [p.name for p in tmp_path.iterdir()] == ["parsed.txt"]  # no temporary file left


def test_atomic_write_follows_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        write_atomic(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o664


OLD_RAW = "Step 1\n<essay>An essay the original pipeline paid for.</essay>\nline 3\n"


def original_state(gen, prompt: str | None):
    """The original pipeline's failed-parse state: prompt.txt (when given), raw.txt and its
    metadata keys, no parsed.txt, no responses/."""
    if prompt is not None:
        write(gen.gen_dir / "prompt.txt", prompt)
    write(gen.gen_dir / "raw.txt", OLD_RAW)
    write(gen.gen_dir / "metadata.json", json.dumps({"model_id": "gen-off", "template_id": "ideas"}))


def archived(gen) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((gen.gen_dir / "responses").glob("*.json"))]


def test_a_raw_in_no_archive_answers_the_prompt_stored_beside_it(tmp_path):
    """Archived as the answer to the prompt.txt found beside it (before any re-render): when the
    current prompt is that text, generating makes no call; nothing is imported twice."""
    gen = draft_generation(tmp_path)
    original_state(gen, gen.render_prompt())
    prompt, imported = write_prompt(gen)
    record = json.loads(imported.read_text())
    assert record["request_key"] == request_key(gen.request, prompt) and record["provider"] == "imported"
    assert record["prompt"] == prompt and record["slot"] == 1
    log = generate(gen, perform_call, None, fixed_now)  # the offline provider would answer differently
    assert "reused the archived response" in log
    assert open(gen.parsed_path).read().strip() == "An essay the original pipeline paid for."
    assert write_prompt(gen)[1] is None  # archived now: nothing to import again
    assert len(archived(gen)) == 1  # and no call was archived


@pytest.mark.parametrize("stored_prompt", ["a different, older prompt", None])
def test_a_raw_beside_another_prompt_is_kept_and_never_taken_for_the_new_one(tmp_path, stored_prompt):
    """Beside another prompt (or none): archived as the answer to that prompt (or unattributed),
    kept, and the new prompt is a new request: a call, whose response does not replace it."""
    gen = draft_generation(tmp_path)
    original_state(gen, stored_prompt)
    prompt, imported = write_prompt(gen)
    record = json.loads(imported.read_text())
    assert record["text"] == OLD_RAW and record["prompt"] == stored_prompt
    if stored_prompt is None:
        assert record["request_key"] == "unattributed"
    else:
        assert record["request_key"] == request_key(gen.request, stored_prompt) != request_key(gen.request, prompt)
    assert generate(gen, perform_call, None, fixed_now).startswith("called offline")
    texts = [r["text"] for r in archived(gen)]
    assert OLD_RAW in texts and open(gen.raw_path).read() in texts and len(texts) == 2


def test_a_raw_in_no_record_is_archived_before_it_is_replaced(tmp_path):
    """Whatever wrote it, a raw.txt that no record holds is archived (unattributed) before a new
    response replaces it: nothing paid is ever overwritten."""
    gen = draft_generation(tmp_path)
    write_prompt(gen)
    assert generate(gen, perform_call, None, fixed_now).startswith("called offline")
    (gen.gen_dir / "raw.txt").write_text("written by another tool\n")
    generate(gen, perform_call, None, fixed_now, force=True)
    kept = [r for r in archived(gen) if r["text"] == "written by another tool\n"]
    assert len(kept) == 1 and kept[0]["request_key"] == "unattributed"


def test_rendering_runs_no_code_from_a_template(tmp_path):
    """The job renders in Jinja's sandbox too (not only the check): a payload never runs."""
    from daydream.errors import InputError
    from daydream.text.render import render_template

    proof = tmp_path / "proof"
    payload = "{{ cycler.__init__.__globals__.os.popen('touch " + str(proof) + "').read() }}"
    template = write(tmp_path / "evil.txt", payload)
    with pytest.raises(InputError, match="sandbox"):
        render_template(template, {"concepts": []})
    assert not proof.exists()


def test_the_newest_archived_response_of_a_request_is_the_one_used(tmp_path):
    """DD_FORCE_CALL=1 calls again and keeps the old response beside the new one: from then on
    the new one answers."""
    key = request_key(REQUEST, "prompt")
    archive_response(tmp_path, key, {"text": "first answer"})
    archive_response(tmp_path, key, {"text": "second answer"})
    archive_response(tmp_path, "other" + key[5:], {"text": "another request"})
    assert find_archived(tmp_path, key)["text"] == "second answer"


def test_offline_responses_are_deterministic_and_shaped_like_each_stage():
    """The offline provider is how experiments are rehearsed: the same request always gives the
    same text (a rerun changes nothing), another model or prompt another one."""
    from daydream.calling.offline import offline_response
    from daydream.text.parsers import DRAFT_PARSERS, parse_score

    for stage in ("draft", "essay", "evaluation"):
        first = offline_response(stage, "prompt text", "offline/a")
        assert first == offline_response(stage, "prompt text", "offline/a")
        assert first != offline_response(stage, "prompt text", "offline/b")
        assert first != offline_response(stage, "another prompt", "offline/a")
    assert DRAFT_PARSERS["essay_idea_last"](offline_response("draft", "p", "m")).strip()
    assert 0 <= parse_score(offline_response("evaluation", "p", "m"), "in_last_line") <= 10
