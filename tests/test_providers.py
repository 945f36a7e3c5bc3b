"""Real providers as they are: the charge the provider reports, reasoning kept apart from the
answer, structured judges; against a loopback server that answers like OpenRouter."""

import csv
import json
import subprocess
import sys

import pytest
from test_generation import draft_generation, fixed_now

from daydream.calling.engine import Call, perform_call
from daydream.calling.providers import endpoint
from daydream.config import validate_config
from daydream.generating.steps import ValidationFailed, generate, recorded_cost, write_prompt
from daydream.store.archive import Request, request_key
from daydream.store.responses import Found
from daydream.text.parsers import ParseError, parse_complex, parse_in_last_line
from daydream.text.reasoning import split_reasoning
from daydream.text.structured import structured_score

from conftest import ROOT, make_experiment, run_env, run_snakemake, write_config
from llm_server import MUSING, REASONING_SCORE, STRUCTURED_SCORE, FakeLLM
from test_workflow import HTTP_MODELS, gen_dir, membership, scores


def openrouter_setup(tmp_path, server, models=HTTP_MODELS, **provider):
    make_experiment(tmp_path, models=models)
    settings = {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY", **provider}
    write_config(tmp_path, providers={"openrouter": settings})
    return {"OPENROUTER_API_KEY": "sk-test-key"}


def metadata_of(tmp_path, row):
    return json.loads((gen_dir(tmp_path, row) / "metadata.json").read_text())


def llm_rows(tmp_path):
    return [row for row in membership(tmp_path) if row["template_id"] != "copy-essay"]


def cost_command(tmp_path):
    command = [sys.executable, "-m", "daydream", "cost", "--config", str(tmp_path / "config.yaml")]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=run_env(), check=True).stdout


# ---- the charge the provider reports -------------------------------------------------------------
def test_the_recorded_cost_is_the_charge_the_provider_reported(tmp_path):
    with FakeLLM(openrouter=True, reasoning="field") as server:
        env = openrouter_setup(tmp_path, server, usage_accounting=True)
        run_snakemake(tmp_path, env=env)
    assert all(q["body"]["usage"] == {"include": True} for q in server.requests)
    rows = llm_rows(tmp_path)
    assert len(server.charged) == len(rows) == 18
    recorded = []
    for row in rows:
        meta = metadata_of(tmp_path, row)
        assert meta["cost_source"] == "provider"
        assert meta["usage"]["reasoning_tokens"] > 0 and meta["usage"]["cached_tokens"] >= 0
        recorded.append(meta["cost"])
    assert sorted(recorded) == sorted(server.charged)  # each call's own charge, exactly
    output = cost_command(tmp_path)
    assert f"{sum(server.charged):.4f}" in output and "costs reported by the provider" in output
    assert "reasoning tokens" in output and "cached prompt tokens" in output
    (table,) = (tmp_path / "data/cohorts").glob("*/reports/cost_by_stage_model.csv")
    with open(table, newline="") as handle:
        spent = list(csv.DictReader(handle))
    assert sum(float(r["cost_usd"]) for r in spent) == pytest.approx(sum(server.charged), abs=5e-6)  # 6 decimals a row
    assert sum(int(r["provider_cost_calls"]) for r in spent) == 18
    assert sum(int(r["reasoning_tokens"]) for r in spent) == sum(
        metadata_of(tmp_path, row)["usage"]["reasoning_tokens"] for row in rows
    )


def test_without_a_reported_charge_the_price_table_prices_the_call(tmp_path):
    priced = HTTP_MODELS.replace("for_evaluation\n", "for_evaluation,input_price_per_mtok,output_price_per_mtok\n")
    priced = priced.replace("true,false\n", "true,false,3,15\n").replace("false,true\n", "false,true,1,2\n")
    with FakeLLM(openrouter=True) as server:
        env = openrouter_setup(tmp_path, server, models=priced, usage_accounting=False)
        run_snakemake(tmp_path, env=env)
    assert all("usage" not in q["body"] for q in server.requests) and not server.charged
    for row in llm_rows(tmp_path):
        meta = metadata_of(tmp_path, row)
        prices = (3, 15) if row["stage"] != "evaluation" else (1, 2)
        usage = meta["usage"]
        expected = usage["prompt_tokens"] * prices[0] / 1e6 + usage["completion_tokens"] * prices[1] / 1e6
        assert meta["cost_source"] == "price_table" and meta["cost"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "setting,base_url,asks",
    [(None, "https://openrouter.ai/api/v1", True), (None, "http://127.0.0.1:9/v1", False),
     (True, "http://127.0.0.1:9/v1", True), (False, "https://openrouter.ai/api/v1", False)],
)  # fmt: skip
def test_openrouter_is_asked_for_its_charge_unless_told_not_to(setting, base_url, asks):
    provider = {"base_url": base_url}
    if setting is not None:
        provider["usage_accounting"] = setting
    config = validate_config({"providers": {"openrouter": provider}})
    assert endpoint(config, "openrouter").usage_accounting is asks


def test_a_reported_charge_wins_over_the_price_table_and_a_batch_is_discounted():
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    prices = {"input": 1.0, "output": 2.0}
    assert recorded_cost({"usage": usage, "reported_cost": 0.25}, prices) == (0.25, "provider")
    assert recorded_cost({"usage": usage}, prices) == (3.0, "price_table")
    assert recorded_cost({"usage": usage, "price_factor": 0.5}, prices) == (1.5, "price_table")
    assert recorded_cost({"usage": usage}, None) == (None, None)
    assert recorded_cost({"usage": usage, "reported_cost": True}, prices) == (3.0, "price_table")


# ---- reasoning: kept, never parsed ---------------------------------------------------------------
@pytest.mark.parametrize("where", ["field", "tags", "unopened"])
def test_reasoning_is_kept_beside_the_answer_and_never_parsed(tmp_path, where):
    with FakeLLM(openrouter=True, reasoning=where) as server:
        env = openrouter_setup(tmp_path, server)
        run_snakemake(tmp_path, env=env)
    rows = llm_rows(tmp_path)
    for row in rows:
        folder = gen_dir(tmp_path, row)
        reasoning = (folder / "reasoning.txt").read_text()
        assert "Let me think" in reasoning and MUSING in reasoning
        parsed = (folder / "parsed.txt").read_text()
        assert MUSING not in parsed and "Let me think" not in parsed
        raw = (folder / "raw.txt").read_text()
        assert ("Let me think" in raw) is (where != "field")  # raw.txt: the content as received
        meta = metadata_of(tmp_path, row)
        assert meta["reasoning"]["source"] == ("field" if where == "field" else "tags")
    drafts = [row for row in rows if row["stage"] == "draft"]
    assert all((gen_dir(tmp_path, r) / "parsed.txt").read_text().startswith("second, better idea") for r in drafts)
    assert {float(r["score"]) for r in scores(tmp_path)} == {7.0} != {float(REASONING_SCORE)}


def test_a_response_cut_off_mid_thought_never_yields_a_score(tmp_path):
    gen = draft_generation(tmp_path, parser="essay_idea_last", min_lines=1, fail_on_truncation=False)
    prompt, _ = write_prompt(gen)
    content = f'<think>\nLet me think. <essay-idea stage="9">{MUSING}</essay-idea>\nSCORE: 2'
    usage = {"prompt_tokens": 3, "completion_tokens": 500}
    record = {"text": content, "finish_reason": "length", "usage": usage, "provider": "p", "duration_s": 1}

    def respond(call):
        return Found(record, "called", "gens/draft/g1/responses/x.json")

    with pytest.raises(ValidationFailed, match="0 non-empty lines"):
        generate(gen, respond, None, fixed_now)
    assert (gen.gen_dir / "reasoning.txt").read_text().startswith("Let me think")
    assert not (gen.gen_dir / "parsed.txt").exists() and (gen.gen_dir / "raw.txt").read_text() == content


def test_the_model_table_sets_the_thinking_tag_or_none(tmp_path):
    models = HTTP_MODELS.replace("for_evaluation\n", "for_evaluation,reasoning_tag\n")
    models = models.replace("true,false\n", "true,false,none\n").replace("false,true\n", "false,true,\n")
    with FakeLLM(reasoning="tags") as server:
        env = openrouter_setup(tmp_path, server, models=models)
        run_snakemake(tmp_path, "all_drafts", env=env)
    drafts = [row for row in membership(tmp_path) if row["stage"] == "draft"]
    assert len(drafts) == 3
    for draft in drafts:
        assert (gen_dir(tmp_path, draft) / "parsed.txt").read_text() == MUSING  # none: the block is content
        assert not (gen_dir(tmp_path, draft) / "reasoning.txt").exists()


def test_a_bad_thinking_tag_is_named_by_file_row_and_field(tmp_path):
    models = HTTP_MODELS.replace("for_evaluation\n", "for_evaluation,reasoning_tag\n")
    models = models.replace("true,false\n", "true,false,<think>\n").replace("false,true\n", "false,true,\n")
    make_experiment(tmp_path, models=models)
    write_config(tmp_path)
    result = run_snakemake(tmp_path, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "llm_models.csv" in output and "line 2" in output and "reasoning_tag" in output, output


@pytest.mark.parametrize(
    "content,field,answer,reasoning",
    [("plain answer", None, "plain answer", None),
     ("<think>a</think>\nanswer", None, "answer", "a"),
     ("<THINK >a</think> answer <think>b</think>", None, "answer ", "a\n\nb"),
     ("a\n</think>\nanswer", None, "answer", "a"),
     ("<think>\nnever closed", None, "", "never closed"),
     ("answer", "separate", "answer", "separate"),
     ("<think>t</think>answer", "separate", "answer", "separate\n\nt"),
     ("<thinking>kept: another tag</thinking>", None, "<thinking>kept: another tag</thinking>", None),
     ("<think></think>answer", None, "answer", None)],
)  # fmt: skip
def test_split_reasoning(content, field, answer, reasoning):
    split = split_reasoning(content, field)
    assert (split.answer, split.reasoning) == (answer, reasoning)


def test_the_original_evaluator_outputs_parse_as_before_with_thinking_taken_out(reference):
    folder = reference / "eval_responses"
    with open(folder / "expected_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with_thinking = 0
    for row in rows:
        text = (folder / row["file"]).read_text(encoding="utf-8")
        split = split_reasoning(text)
        with_thinking += split.reasoning is not None
        assert parse_complex(split.answer) == pytest.approx(float(row["final_score"])), row["file"]
    assert with_thinking >= 1  # one of them thinks in <think> blocks first


# ---- structured judges -----------------------------------------------------------------------------
STRUCTURED_JUDGE = (
    HTTP_MODELS.replace("for_evaluation\n", "for_evaluation,structured_output\n")
    .replace("true,false\n", "true,false,\n")
    .replace("false,true\n", "false,true,true\n")
)


def test_a_structured_judge_is_sent_the_schema_and_its_score_read_from_json(tmp_path):
    with FakeLLM() as server:
        env = openrouter_setup(tmp_path, server, models=STRUCTURED_JUDGE)
        write_config(  # a one-line JSON answer passes whatever min_lines a text answer needs
            tmp_path,
            providers={"openrouter": {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY"}},
            stages={"evaluation": {"min_lines": 3}},
        )
        run_snakemake(tmp_path, env=env)
    judged = [q["body"] for q in server.requests if q["body"]["model"] == "vendor/judge-1"]
    assert len(judged) == 12
    for body in judged:
        schema = body["response_format"]["json_schema"]["schema"]
        assert body["response_format"]["type"] == "json_schema" and schema["required"] == ["reasoning", "score"]
    assert all("response_format" not in q["body"] for q in server.requests if q["body"]["model"] != "vendor/judge-1")
    assert {float(r["score"]) for r in scores(tmp_path)} == {STRUCTURED_SCORE}
    for row in membership(tmp_path):
        if row["stage"] == "evaluation":
            meta = metadata_of(tmp_path, row)
            assert meta["structured_output"] == {
                "format": "judge_score_v1",
                "parsed_from": "json",
                "fallback_reason": None,
            }


def test_a_judge_that_ignores_the_schema_is_read_by_the_text_parser_with_the_reason(tmp_path):
    with FakeLLM(ignore_schema=True) as server:
        env = openrouter_setup(tmp_path, server, models=STRUCTURED_JUDGE)
        run_snakemake(tmp_path, env=env)
    assert {float(r["score"]) for r in scores(tmp_path)} == {7.0}
    for row in membership(tmp_path):
        if row["stage"] == "evaluation":
            structured = metadata_of(tmp_path, row)["structured_output"]
            assert structured["parsed_from"] == "text" and "not JSON" in structured["fallback_reason"]


def test_structured_output_is_part_of_the_request_and_per_evaluation_template(tmp_path):
    plain = request_key(Request("p", "m", 10, 0.0), "prompt")
    assert request_key(Request("p", "m", 10, 0.0, "judge_score_v1"), "prompt") != plain
    make_experiment(tmp_path)
    templates = tmp_path / "data/1_raw/evaluation_templates.csv"
    text = templates.read_text().replace("active\n", "active,structured_output\n", 1)
    templates.write_text(text.replace("llm,true\n", "llm,true,false\n", 1).replace("llm,true\n", "llm,true,true\n"))
    write_config(tmp_path)
    run_snakemake(tmp_path, "all_evaluations")
    by_template = {}
    for row in membership(tmp_path):
        if row["stage"] == "evaluation":
            meta = metadata_of(tmp_path, row)
            by_template.setdefault(row["template_id"], set()).add(
                (meta.get("structured_output") or {}).get("parsed_from")
            )
    assert by_template == {"judge-a": {None}, "judge-b": {"json"}}  # the offline judge answers in JSON


@pytest.mark.parametrize(
    "text,score",
    [('{"reasoning": "r", "score": 7}', 7.0), ('```json\n{"reasoning": "r", "score": 8.5}\n```', 8.5),
     ('{"score": 0}', 0.0)],
)  # fmt: skip
def test_structured_score(text, score):
    assert structured_score(text) == score


@pytest.mark.parametrize(
    "text,reason",
    [("SCORE: 7", "not JSON"), ("[7]", "not an object"), ('{"reasoning": "r"}', "no 'score'"),
     ('{"score": "7"}', "not a number"), ('{"score": true}', "not a number"), ('{"score": 11}', "outside 0-10"),
     ('{"score": -0.5}', "outside 0-10")],
)  # fmt: skip
def test_structured_score_refuses_what_is_not_a_scored_object(text, reason):
    with pytest.raises(ParseError, match=reason):
        structured_score(text)


def test_reasoning_and_charge_reach_the_archive_record(tmp_path):
    with FakeLLM(openrouter=True, reasoning="field") as server:
        config = validate_config({"providers": {"openrouter": {"base_url": server.base_url, "usage_accounting": True}}})
        request = Request("openrouter", "vendor/judge-1", 100, 0.0)
        from daydream.store.layout import StoreLayout

        call = Call("evaluation", "e1", StoreLayout(tmp_path), request_key(request, "Rate. SCORE"), request,
                    "Rate. SCORE", endpoint(config, "openrouter"))  # fmt: skip
        found = perform_call(call)
    assert found.record["reported_cost"] == server.charged[0] and "Let me think" in found.record["reasoning"]
    assert parse_in_last_line(found.record["text"]) == 7.0


def test_the_plan_reads_stored_responses_without_their_reasoning(tmp_path):
    """A stored draft whose thinking holds another idea: the plan predicts its parsed text as the
    generate step will parse it, so the essays built on it are found stored, not pending."""
    with FakeLLM(reasoning="tags") as server:
        env = openrouter_setup(tmp_path, server)
        run_snakemake(tmp_path, "all_evaluations", env=env)
        calls = len(server.requests)
        for parsed in (tmp_path / "data/gens").glob("*/*/parsed.txt"):
            parsed.unlink()  # every response is archived: nothing needs a call
        plan = subprocess.run(
            [sys.executable, "-m", "daydream", "plan", "--config", str(tmp_path / "config.yaml")],
            cwd=ROOT, capture_output=True, text=True, env=run_env(), check=True,
        ).stdout  # fmt: skip
        run_snakemake(tmp_path, "all_evaluations", env=env)
    assert "0 LLM calls pending" in plan and len(server.requests) == calls


def test_parse_score_takes_thinking_out_as_a_run_does(tmp_path):
    response = tmp_path / "raw.txt"
    response.write_text("<think>\nAt first sight SCORE: 2\n</think>\nNo score given in the end.\n")

    def parse_score_command(*extra):
        command = [sys.executable, "-m", "daydream", "parse-score", "--parser", "in_last_line", *extra, str(response)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=run_env())

    taken_out = parse_score_command()
    assert taken_out.returncode == 1 and "no score" in taken_out.stderr.lower()
    kept = parse_score_command("--reasoning-tag", "none")
    assert kept.returncode == 0 and kept.stdout.strip() == "2"
