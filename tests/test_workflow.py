"""Real snakemake runs on small cohorts in temp dirs."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import (
    REFERENCE_MEMBERSHIP_SHA256,
    ROOT,
    copy_workflow,
    make_experiment,
    membership_digest,
    run_env,
    run_snakemake,
    snakemake_command,
    write_config,
)
from llm_server import FakeLLM, stage_shaped_reply

HTTP_MODELS = (
    "id,model,provider,display_name,for_generation,for_evaluation\n"
    "writer,vendor/writer-1,openrouter,Writer,true,false\n"
    "judge,vendor/judge-1,openrouter,Judge,false,true\n"
)


def membership(root):
    return membership_at(root / "data")


def membership_at_cohort(data, cohort_id):
    with open(data / "cohorts" / cohort_id / "membership.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def membership_at(data):
    (path,) = (data / "cohorts").glob("*/membership.csv")
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def gen_dir(root, row):
    return root / "data/gens" / row["stage"] / row["gen_id"]


def scores(root, cohort=None):
    """A cohort's parsed_scores.csv rows (the only cohort's, unless one is named)."""
    if cohort is None:
        (path,) = (root / "data/cohorts").glob("*/reports/parsed_scores.csv")
    else:
        path = root / "data/cohorts" / cohort / "reports/parsed_scores.csv"
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def http_setup(tmp_path, server, **config):
    make_experiment(tmp_path, models=HTTP_MODELS)
    providers = {"openrouter": {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY"}}
    write_config(tmp_path, providers=providers, **config)
    return {"OPENROUTER_API_KEY": "sk-test-key"}


def test_offline_cube_end_to_end_and_nothing_reruns(tiny):
    run_snakemake(tiny, "all")
    rows = membership(tiny)
    evaluations = [r for r in rows if r["stage"] == "evaluation"]
    assert len(evaluations) == 3 * 2 * 2
    table = scores(tiny)
    assert {r["gen_id"] for r in table} == {r["gen_id"] for r in evaluations}
    assert all(r["error"] == "" and 0 <= float(r["score"]) <= 10 for r in table)
    for row in rows:
        folder = gen_dir(tiny, row)
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["gen_id"] == row["gen_id"] and meta["cohort_id"] == row["cohort_id"]
        if row["template_id"] == "copy-essay":
            assert meta["mode"] == "copy" and not (folder / "prompt.txt").exists() and not (folder / "raw.txt").exists()
            parent = tiny / "data/gens/draft" / row["parent_gen_id"] / "parsed.txt"
            assert (folder / "parsed.txt").read_text() == parent.read_text()
        else:
            assert meta["provider"] == "offline" and meta["usage"]["total_tokens"] > 0
            assert "offline synthetic" in (folder / "raw.txt").read_text()
    dry = run_snakemake(tiny, "all", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # Rebuilding membership with the same content makes nothing downstream out of date.
    run_snakemake(tiny, "cohort", "--forcerun", "membership")
    dry = run_snakemake(tiny, "all_evaluations", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
    # Neither do new timeouts and a new provider URL.
    write_config(
        tiny,
        llm={"timeout_s": 7, "max_attempts": 2},
        providers={"openrouter": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": None, "max_attempts": 3}},
    )
    dry = run_snakemake(tiny, "all", "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


def test_edited_job_code_reruns_nothing(tmp_path):
    """A real edit of the code the jobs run (the package and the job scripts) is no reason to
    re-run anything: only the files a job reads and what it requests are."""
    code = tmp_path / "code"
    snakefile = copy_workflow(code)
    root = tmp_path / "run"
    make_experiment(root)
    write_config(root)
    run_snakemake(root, "all", snakefile=snakefile)
    for path in ("src/daydream/generating/steps.py", "src/daydream/text/render.py", "workflow/scripts/cohort.py",
                 "workflow/scripts/results.py"):  # fmt: skip
        with open(code / path, "a") as handle:
            handle.write("\n# edited after the run\n")
    dry = run_snakemake(root, "all", "-n", snakefile=snakefile)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


def test_dry_run_shows_whole_chain_and_llm_call_count(tiny):
    run_snakemake(tiny, "cohort")
    dry = run_snakemake(tiny, "all_evaluations", "-n", "--quiet", "rules")
    text = dry.stdout + dry.stderr
    # 3 drafts + 3 llm essays + 12 evaluations = 18 prompts (LLM calls); copy essays make none.
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in text.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["prompt"] == 18 and counts["generate"] == 21


def test_single_evaluation_target_builds_only_its_ancestors(tiny):
    run_snakemake(tiny, "cohort")
    rows = membership(tiny)
    evaluation = next(r for r in rows if r["stage"] == "evaluation")
    essay = next(r for r in rows if r["gen_id"] == evaluation["parent_gen_id"])
    target = str(tiny / "data/gens/evaluation" / evaluation["gen_id"] / "parsed.txt")
    run_snakemake(tiny, target)
    built = {p.parent.name for p in (tiny / "data/gens").glob("*/*/parsed.txt")}
    assert built == {evaluation["gen_id"], essay["gen_id"], essay["parent_gen_id"]}
    raw = gen_dir(tiny, evaluation) / "raw.txt"
    kept = raw.read_bytes()
    for side_file in ("raw.txt", "metadata.json"):
        result = run_snakemake(tiny, str(raw.with_name(side_file)), check=False)
        assert result.returncode != 0
        assert f"target that file instead (snakemake {target})" in result.stderr
    assert raw.read_bytes() == kept  # a job making raw.txt would have deleted it first


def test_http_provider_request_and_recorded_usage(tmp_path):
    with FakeLLM() as server:
        env = http_setup(tmp_path, server, stages={"draft": {"max_tokens": 321}})
        run_snakemake(tmp_path, "all_evaluations", env=env)
    rows = membership(tmp_path)
    llm_rows = [r for r in rows if r["template_id"] != "copy-essay"]
    assert len(server.requests) == len(llm_rows) == 3 + 3 + 12  # copy essays made no request
    draft = next(r for r in rows if r["stage"] == "draft")
    prompt = (gen_dir(tmp_path, draft) / "prompt.txt").read_text()
    sent = next(q for q in server.requests if q["body"]["messages"][0]["content"] == prompt)
    assert sent["body"]["model"] == "vendor/writer-1" and sent["body"]["max_tokens"] == 321
    assert sent["headers"]["Authorization"] == "Bearer sk-test-key"
    judged = [q for q in server.requests if q["body"]["model"] == "vendor/judge-1"]
    assert len(judged) == 12 and all(q["body"]["max_tokens"] == 4096 for q in judged)
    meta = json.loads((gen_dir(tmp_path, draft) / "metadata.json").read_text())
    assert meta["provider"] == "openrouter" and meta["model"] == "vendor/writer-1"
    assert meta["finish_reason"] == "stop" and meta["usage"]["prompt_tokens"] == len(prompt.split())


def test_too_short_draft_fails_parse_keeps_raw_and_fix_makes_no_request(tmp_path):
    with FakeLLM(reply=lambda prompt: 'One line only. <essay-idea stage="1">x</essay-idea>\n') as server:
        env = http_setup(tmp_path, server)
        result = run_snakemake(tmp_path, "all_drafts", env=env, check=False)
        assert result.returncode != 0
        drafts = [r for r in membership(tmp_path) if r["stage"] == "draft"]
        for row in drafts:
            folder = gen_dir(tmp_path, row)
            assert (folder / "raw.txt").read_text().startswith("One line only")
            assert (folder / "metadata.json").exists() and not (folder / "parsed.txt").exists()
        log = (tmp_path / "data/logs/draft" / drafts[0]["gen_id"] / "generate.log").read_text()
        assert "fewer than min_lines=3" in log
        calls = len(server.requests)
        assert calls == 3
        write_config(
            tmp_path,
            providers={"openrouter": {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY"}},
            stages={"draft": {"min_lines": 1}},
        )
        run_snakemake(tmp_path, "all_drafts", env=env)
        assert len(server.requests) == calls
    assert all((gen_dir(tmp_path, r) / "parsed.txt").read_text() == "x" for r in drafts)


def test_truncated_response_fails_parse_and_accepting_it_makes_no_request(tmp_path):
    with FakeLLM() as server:
        server.faults = ["truncate"] * 3
        env = http_setup(tmp_path, server)
        result = run_snakemake(tmp_path, "all_drafts", env=env, check=False)
        assert result.returncode != 0
        drafts = [r for r in membership(tmp_path) if r["stage"] == "draft"]
        metas = [json.loads((gen_dir(tmp_path, r) / "metadata.json").read_text()) for r in drafts]
        assert all(m["truncated"] and m["finish_reason"] == "length" for m in metas)
        assert all((gen_dir(tmp_path, r) / "raw.txt").exists() for r in drafts)
        calls = len(server.requests)
        write_config(
            tmp_path,
            providers={"openrouter": {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY"}},
            stages={"draft": {"fail_on_truncation": False, "min_lines": 1}},
        )
        run_snakemake(tmp_path, "all_drafts", env=env)
        assert len(server.requests) == calls


def test_rerun_of_generate_job_reuses_archived_response(tmp_path):
    with FakeLLM() as server:
        env = http_setup(tmp_path, server)
        run_snakemake(tmp_path, "all_drafts", env=env)
        calls = len(server.requests)
        run_snakemake(tmp_path, "all_drafts", "--forcerun", "generate", env=env)
        assert len(server.requests) == calls
        draft = next(r for r in membership(tmp_path) if r["stage"] == "draft")
        meta = json.loads((gen_dir(tmp_path, draft) / "metadata.json").read_text())
        assert meta["reused_response"] is True
        run_snakemake(tmp_path, "all_drafts", "--forcerun", "generate", env={**env, "DD_FORCE_CALL": "1"})
        assert len(server.requests) == 2 * calls
        assert len(list((gen_dir(tmp_path, draft) / "responses").glob("*.json"))) == 2


def test_missing_api_key_is_a_clear_error_for_a_remote_server(tmp_path):
    make_experiment(tmp_path, models=HTTP_MODELS)
    # a name that never resolves; the key check fails before any connection is attempted
    providers = {"openrouter": {"base_url": "https://llm.example.invalid/v1", "api_key_env": "OPENROUTER_API_KEY"}}
    write_config(tmp_path, providers=providers)
    result = run_snakemake(tmp_path, "all_drafts", env={"OPENROUTER_API_KEY": ""}, check=False)
    assert result.returncode != 0
    assert "warning: OPENROUTER_API_KEY is not set" in result.stderr  # said once, at the start
    logs = list((tmp_path / "data/logs/draft").glob("*/generate.log"))
    assert logs and "no API key: set OPENROUTER_API_KEY" in logs[0].read_text()


def test_local_server_without_key_is_called_without_authorization(tmp_path):
    with FakeLLM() as server:
        http_setup(tmp_path, server)
        run_snakemake(tmp_path, "all_drafts", env={"OPENROUTER_API_KEY": ""})
    assert len(server.requests) == 3
    assert all("Authorization" not in q["headers"] for q in server.requests)


def test_bad_input_stops_before_any_job(tiny):
    (tiny / "templates/evaluation/judge-b.txt").write_text("{{ respons }}\n")
    result = run_snakemake(tiny, "all", check=False)
    assert result.returncode != 0
    assert "judge-b.txt" in result.stderr and "respons" in result.stderr
    assert not (tiny / "data/gens").exists()


def test_edited_membership_cannot_lead_a_prompt_outside_the_data_root(tiny):
    """membership.csv is generated but editable: a parent_gen_id edited into a path is one error
    naming the file, row and field, and nothing outside the data root reaches a prompt."""
    run_snakemake(tiny, "cohort")
    outside = tiny / "outside"
    (outside / "parsed.txt").parent.mkdir()
    (outside / "parsed.txt").write_text("SECRET TEXT FROM OUTSIDE\n")
    (path,) = (tiny / "data/cohorts").glob("*/membership.csv")
    rows = path.read_text().splitlines()
    number, essay = next((n, line) for n, line in enumerate(rows) if line.startswith("essay,"))
    parent = essay.split(",")[3]
    rows[number] = essay.replace(parent, "../../../../outside")
    path.write_text("\n".join(rows) + "\n")
    result = run_snakemake(tiny, "all_essays", check=False)
    assert result.returncode != 0
    assert f"{path}, row {number} (line {number + 1}), field 'parent_gen_id'" in result.stderr
    assert not any(b"SECRET" in p.read_bytes() for p in (tiny / "data").rglob("*") if p.is_file())


def test_lint_has_no_findings():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Lints for" not in result.stdout + result.stderr, result.stdout[-3000:]
    assert result.returncode == 0


def test_shipped_example_runs_offline_with_a_score_for_every_evaluation(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(ROOT / "data" / "1_raw", root / "data" / "1_raw")
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copy(ROOT / "config" / "config.yaml", root / "config.yaml")
    with open(root / "config.yaml", "a") as handle:
        handle.write(f"data_root: {root / 'data'}\ntemplates_root: {root / 'templates'}\n")
    # the appended keys override the earlier ones when YAML loads
    run_snakemake(root, "all")
    evaluations = [r for r in membership(root) if r["stage"] == "evaluation"]
    table = scores(root)
    assert len(table) == len(evaluations) > 0
    assert all(r["score"] != "" and r["error"] == "" for r in table)


@pytest.mark.parametrize("command", [["check"], ["check", "--k-max", "2"]])
def test_cli_check_on_example(command):
    result = subprocess.run([sys.executable, "-m", "daydream", *command], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "active concepts (6 of 8)" in result.stdout and "evaluations" in result.stdout


def test_cli_check_refuses_a_config_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "typo.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "daydream", "check", "--config", str(missing)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2 and f"config file not found: {missing}" in result.stderr
    assert "cohort" not in result.stdout  # no plan from the defaults instead


def test_failed_evaluations_are_named_and_the_tables_still_written(tmp_path):
    """Some evaluations cannot be parsed: the run keeps going, names what failed and why, still
    writes every score table (the failures are error rows with the reason) and exits non-zero;
    `daydream status` reads the same from the files."""

    def reply(prompt):
        if "Rate this essay" in prompt:
            return "I liked it.\nNo number here.\n"
        return stage_shaped_reply(prompt)

    with FakeLLM(reply=reply) as server:
        env = http_setup(tmp_path, server)
        result = run_snakemake(tmp_path, "all", env=env, check=False)
        again = run_snakemake(tmp_path, "-n", env=env)  # "run the same command": the failed ones again
    assert result.returncode != 0
    jobs = dict(line.split() for line in again.stdout.splitlines() if re.fullmatch(r"\w+\s+\d+", line.strip()))
    assert jobs["generate"] == "6" and jobs["score_tables"] == "1"
    assert "6 failed generation(s), by reason:\n  evaluation (6): ParseError: no score found" in result.stderr
    assert "score tables written anyway" in result.stderr
    from daydream.analysis.registry import RESULT_TABLES

    (results,) = (tmp_path / "data/cohorts").glob("*/reports")
    assert all((results / table.file).is_file() for table in RESULT_TABLES)
    table = scores(tmp_path)
    failed = [r for r in table if r["evaluation_template"] == "judge-a"]
    passed = [r for r in table if r["evaluation_template"] == "judge-b"]
    assert len(failed) == 6 and all(
        r["score"] == "" and "failed: ParseError: no score found" in r["error"] for r in failed
    )
    assert len(passed) == 6 and all(float(r["score"]) == 7.0 and r["error"] == "" for r in passed)
    status = subprocess.run(
        [sys.executable, "-m", "daydream", "status", "--config", str(tmp_path / "config.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=run_env(env),
    )
    assert status.returncode == 0, status.stderr
    assert "evaluation         12        6        6        0" in status.stdout
    assert all(r["gen_id"] in status.stdout for r in failed)


def test_reference_experiment_cohort_through_snakemake(tmp_path, reference):
    data = tmp_path / "ref"
    shutil.copytree(reference / "original-data", data)
    for path in [data, *data.rglob("*")]:  # shared/ may be read-only; the copy must not be
        path.chmod(path.stat().st_mode | 0o200)
    write_config(tmp_path, data_root=str(data), templates_root=str(data / "1_raw/templates"), k_max=4)
    unrouted = run_snakemake(tmp_path, "cohort", check=False)  # its provider column names vendors
    assert unrouted.returncode != 0 and "provider 'google' is not configured" in unrouted.stderr
    assert not (data / "cohorts").exists()
    run_snakemake(tmp_path, "cohort", "--config", "default_provider=openrouter")
    rows = membership_at(data)
    assert {r["cohort_id"] for r in rows} == {"cohort-348786683ed1"}
    stages = [r["stage"] for r in rows]
    assert (stages.count("draft"), stages.count("essay"), stages.count("evaluation")) == (525, 525, 8400)
    by_id = {r["gen_id"]: r for r in rows}
    assert by_id["19mmrs1b04sk61is"]["parent_gen_id"] == "7kdpno8ufm86lzci"
    assert membership_digest(rows) == REFERENCE_MEMBERSHIP_SHA256


def test_slurm_profile_loads_and_plans_with_its_resources(tiny):
    """Without Slurm (a dry run, anywhere): the profile and its executor plugin load, and generate
    jobs are planned in a group of their stage with the profile's per-call resources. A real
    Slurm run is test_slurm.py."""
    run_snakemake(tiny, "cohort")
    result = run_snakemake(tiny, "all_drafts", "-n", "--profile", str(ROOT / "profiles" / "slurm"))
    text = result.stdout + result.stderr
    assert "Group job llm_draft" in text
    assert "runtime=10" in text and "mem_mb=1000" in text and "cpus_per_task=1" in text


def test_report_and_plots(tiny):
    """Every registered table and plot is made by `snakemake all` and shown in the report."""
    from daydream.analysis.registry import RESULT_PLOTS, RESULT_TABLES

    run_snakemake(tiny, "all")
    (plots,) = (tiny / "data/cohorts").glob("*/reports/plots")
    for plot in RESULT_PLOTS:
        assert (plots / plot.file).read_bytes().startswith(b"\x89PNG")
    run_snakemake(tiny, "--report", str(tiny / "report.html"))
    html = (tiny / "report.html").read_text(errors="replace")
    assert "Agreement between evaluators" in html
    for entry in (*RESULT_TABLES, *RESULT_PLOTS):
        assert entry.file in html, entry.file


def test_select_top_switches_next_run_to_curated(tiny):
    run_snakemake(tiny, "all")
    cli = subprocess.run(
        [sys.executable, "-m", "daydream", "select-top", "--n", "2", "--config", str(tiny / "config.yaml")],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    text = (tiny / "data/2_tasks/selected_essays.txt").read_text()
    selected = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(selected) == 2
    run_snakemake(tiny, "cohort")
    manifests = {p.parent.name: json.loads(p.read_text()) for p in (tiny / "data/cohorts").glob("*/manifest.json")}
    (curated_id,) = [cid for cid, m in manifests.items() if m["mode"] == "curated"]
    rows = membership_at_cohort(tiny / "data", curated_id)
    assert [r["stage"] for r in rows].count("essay") == 2
    assert [r["stage"] for r in rows].count("evaluation") == 2 * 2


def daydream(root, *args):
    result = subprocess.run(
        [sys.executable, "-m", "daydream", *args, "--config", str(root / "config.yaml")],
        cwd=root,
        capture_output=True,
        text=True,
        env=run_env(),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_candidate_list_edited_by_hand_and_chosen_essays_exported(tiny):
    run_snakemake(tiny, "all")
    daydream(tiny, "select-top", "--score-span", "10", "--aggregate", "max", "--evaluation-templates", "judge-a")
    tasks = tiny / "data/2_tasks"
    with open(tasks / "selection_candidates.csv", newline="") as handle:
        candidates = list(csv.DictReader(handle))
    assert len(candidates) == 6 and all(row["selected"] == "true" for row in candidates)  # all within 10
    assert all(row["essay_path"].endswith("/parsed.txt") and row["combo_id"] for row in candidates)
    keep = [candidates[0]["essay_gen_id"], candidates[3]["essay_gen_id"]]
    edited = (tasks / "selection_candidates.csv").read_text().replace("true,", "false,")
    for gen_id in keep:
        edited = edited.replace(f"false,{gen_id},", f"true,{gen_id},")
    (tasks / "selection_candidates.csv").write_text(edited)
    daydream(tiny, "select-top", "--from-candidates", str(tasks / "selection_candidates.csv"))
    chosen = [line for line in (tasks / "selected_essays.txt").read_text().splitlines() if not line.startswith("#")]
    assert chosen == keep
    daydream(tiny, "export", "--essays", str(tasks / "selected_essays.txt"), "--out", str(tiny / "export"))
    for gen_id in keep:
        folder = tiny / "export" / gen_id
        essay = tiny / "data/gens/essay" / gen_id / "parsed.txt"
        assert (folder / "essay.txt").read_text() == essay.read_text() and (folder / "draft.txt").is_file()
        summary = (folder / "summary.md").read_text()
        assert summary.count(" | judge-off | ") == 2 and len(list((folder / "evaluations").glob("*.txt"))) == 2


def test_dd_cohort_environment_names_the_cohort(tiny):
    run_snakemake(tiny, "cohort", env={"DD_COHORT": "pilot-1"})
    rows = membership_at_cohort(tiny / "data", "pilot-1")
    assert rows and {r["cohort_id"] for r in rows} == {"pilot-1"}
    manifest = json.loads((tiny / "data/cohorts/pilot-1/manifest.json").read_text())
    assert manifest["cohort_id"] == "pilot-1"


def test_pinned_cohort_grows_without_new_calls_for_existing_generations(tmp_path):
    with FakeLLM() as server:
        env = http_setup(tmp_path, server, cohort_id="grow")
        run_snakemake(tmp_path, "all_drafts", env=env)
        assert len(server.requests) == 3
        models = HTTP_MODELS + "writer2,vendor/writer-2,openrouter,Writer 2,true,false\n"
        (tmp_path / "data/1_raw/llm_models.csv").write_text(models)
        run_snakemake(tmp_path, "all_drafts", env=env)
        assert len(server.requests) == 6  # only the new model's three drafts
    manifest = json.loads((tmp_path / "data/cohorts/grow/manifest.json").read_text())
    assert manifest["llms"]["generation"] == ["writer", "writer2"]
    assert len([r for r in membership_at_cohort(tmp_path / "data", "grow") if r["stage"] == "draft"]) == 6


def old_paid_raw(gen_id: str) -> str:
    return f'Step 1\n<essay-idea stage="1">\nan old paid idea of {gen_id}\n</essay-idea>\nline 5\n'


def as_failed_parse_store(data) -> dict:
    """Every draft in the original pipeline's failed-parse state: prompt.txt, raw.txt (a paid
    response, in no responses/ archive) and its metadata keys, no parsed.txt. Returns the raw
    texts by folder."""
    raws = {}
    for folder in sorted(data.glob("gens/draft/*")):
        shutil.rmtree(folder / "responses")
        (folder / "parsed.txt").unlink()
        raws[folder] = old_paid_raw(folder.name)
        (folder / "raw.txt").write_text(raws[folder])
        (folder / "metadata.json").write_text(json.dumps({"model_id": "writer", "template_id": "ideas"}))
    shutil.rmtree(data / ".daydream")  # and no index of ours
    return raws


@pytest.mark.parametrize("change", ["none", "template touched", "store copied", "template edited"])
def test_a_raw_in_no_archive_answers_its_own_prompt_whatever_the_file_times(tmp_path, change):
    """The original's failed-parse state. Its raw.txt is archived as the answer to the prompt.txt
    beside it, as found, before any job: with the prompt up to date, re-rendered to the same text
    (a touched template, a store copied with new file times), targeting the drafts pays nothing
    and keeps every old text; re-rendered to another prompt (an edited template), it is a new
    request: one call per draft, and the old response is kept as the answer to the old prompt."""
    with FakeLLM() as server:
        env = http_setup(tmp_path, server)
        run_snakemake(tmp_path, "all_drafts", env=env)
        data = tmp_path / "data"
        raws = as_failed_parse_store(data)
        prompts = {folder: (folder / "prompt.txt").read_text() for folder in raws}
        template = tmp_path / "templates/draft/ideas.txt"
        if change == "template touched":
            os.utime(template)  # newer than every prompt: each is rendered again, to the same text
        elif change == "template edited":
            template.write_text(template.read_text() + "Be concise.\n")
        elif change == "store copied":
            moved = tmp_path / "copied"
            shutil.copytree(data, moved, copy_function=shutil.copy)  # new file times, in copy order
            shutil.rmtree(data)
            moved.rename(data)
        targets = [str(folder / "parsed.txt") for folder in sorted(raws)]
        run_snakemake(tmp_path, *targets, env=env)
        expected_calls = 3 if change == "template edited" else 0
        assert len(server.requests) == 3 + expected_calls
    for folder, old in raws.items():
        records = [json.loads(p.read_text()) for p in sorted((folder / "responses").glob("*.json"))]
        (kept,) = [r for r in records if r["text"] == old]  # archived once, never lost
        assert kept["prompt"] == prompts[folder]  # the prompt it answered, as found
        meta = json.loads((folder / "metadata.json").read_text())
        if change == "template edited":
            assert (folder / "prompt.txt").read_text() != prompts[folder] and kept["request_key"] != meta["request_key"]
            assert meta["response_origin"] == "called" and (folder / "raw.txt").read_text() != old
        else:
            assert (folder / "raw.txt").read_text() == old and meta["response_origin"] == "archive"
            assert kept["request_key"] == meta["request_key"] and "old paid idea" in (folder / "parsed.txt").read_text()


def test_transient_faults_are_retried_inside_a_run(tmp_path):
    with FakeLLM(retry_after="0") as server:
        server.faults = ["429", "500"]
        env = http_setup(tmp_path, server, llm={"backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 4})
        # one call in flight at a time: both faults hit the same call, whichever is first
        run_snakemake(tmp_path, "all_drafts", "--cores", "1", "--resources", "openrouter=1", env=env)
    assert len(server.requests) == 3 + 2
    metas = [json.loads((gen_dir(tmp_path, r) / "metadata.json").read_text()) for r in membership(tmp_path)
             if r["stage"] == "draft"]  # fmt: skip
    assert sorted(m["attempts"] for m in metas) == [1, 1, 3]


def test_generation_jobs_need_threads_and_say_so(tiny):
    """Without the default profile's force-use-threads, Snakemake would start a whole Snakemake
    process per generation job: the run stops at once with the fix in the message."""
    run_snakemake(tiny, "cohort")
    result = run_snakemake(tiny, "all_drafts", "--workflow-profile", "none", check=False)
    assert result.returncode != 0
    assert "force-use-threads" in result.stderr and not (tiny / "data/gens").exists()


@pytest.mark.parametrize("cap", [3, 8])
def test_calls_in_flight_reach_the_provider_cap_whatever_the_cores(tmp_path, cap):
    """At most `cap` requests in flight at the server, and exactly `cap` at the peak, with one core:
    Snakemake runs at most cores + 5 = 6 jobs at once, so a cap of 8 is reached only because the
    prompt jobs hand their calls to the call engine. The server holds its answers until `cap` are
    in flight, or until no new request came for a second (then all it holds are answered): the
    peak does not depend on how fast this machine renders prompts."""
    with FakeLLM() as server:
        server.gate.clear()
        done = threading.Event()

        def release_when_full_or_quiet():
            seen, quiet_since = 0, time.monotonic()
            while not done.is_set():
                if len(server.requests) != seen:
                    seen, quiet_since = len(server.requests), time.monotonic()
                if server.in_flight >= cap or (server.in_flight and time.monotonic() - quiet_since > 1.0):
                    server.gate.set()
                    while server.in_flight and not done.is_set():
                        time.sleep(0.01)
                    server.gate.clear()
                    quiet_since = time.monotonic()
                time.sleep(0.01)
            server.gate.set()

        releaser = threading.Thread(target=release_when_full_or_quiet, daemon=True)
        releaser.start()
        env = http_setup(tmp_path, server)
        try:
            run_snakemake(tmp_path, "all_evaluations", "--cores", "1", "--resources", f"openrouter={cap}", env=env)
        finally:
            done.set()
    assert len(server.requests) == 3 + 3 + 12
    assert server.max_in_flight == cap


def test_provider_cap_defaults_to_max_concurrency_in_config(tmp_path):
    with FakeLLM(latency_s=0.4) as server:
        make_experiment(tmp_path, models=HTTP_MODELS)
        providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None, "max_concurrency": 2}}
        write_config(tmp_path, providers=providers)
        run_snakemake(tmp_path, "all_evaluations")
    assert server.max_in_flight == 2 and len(server.requests) == 18


def test_kill_9_with_calls_in_flight_then_the_same_command_pays_nothing_again(tmp_path):
    """SIGKILL of snakemake while calls are in flight and some stored responses are not parsed
    yet; the same command again (the default profile has rerun-incomplete) finishes the run. No
    file is left half written, no generation whose response was stored before the kill is called
    again, and the only calls repeated are the ones whose response never arrived."""
    gens = tmp_path / "data/gens"

    def stored_not_parsed():
        return [p for p in gens.glob("*/*/responses/*.json") if not (p.parent.parent / "parsed.txt").exists()]

    with FakeLLM(latency_s=1.0) as server:
        env = http_setup(tmp_path, server)
        # a cap of 8 with one core: at most 5 generate jobs wait at once, so responses arrive
        # for calls whose generate job has not started
        command = snakemake_command(tmp_path, "all_evaluations", "--cores", "1", "--resources", "openrouter=8")
        with open(tmp_path / "killed.log", "w") as log:
            process = subprocess.Popen(command, cwd=tmp_path, env=run_env(env), stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while not (stored_not_parsed() and server.in_flight):
            assert time.monotonic() < deadline and process.poll() is None, "the run ended before the kill"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        sent_before_kill = len(server.requests)
        stored = {p.parent.parent: p for p in gens.glob("*/*/responses/*.json")}
        for raw in gens.glob("*/*/raw.txt"):  # whole: the text of the response it came from
            assert raw.read_text() == json.loads(stored[raw.parent].read_text())["text"]
        for metadata in gens.glob("*/*/metadata.json"):
            assert json.loads(metadata.read_text())["gen_id"] == metadata.parent.name
        for parsed in gens.glob("*/*/parsed.txt"):
            assert parsed.read_text().strip()
        run_snakemake(tmp_path, "all_evaluations", "--resources", "openrouter=4", env=env)
        sent = len(server.requests)
    assert sent_before_kill >= len(stored)
    for folder, response in stored.items():  # still the one response: not called again
        assert list((folder / "responses").glob("*.json")) == [response]
    assert sent == 18 + (sent_before_kill - len(stored))  # repeated: only the lost ones
    assert len(scores_of(tmp_path)) == 12


def scores_of(root):
    return [r for r in membership(root) if r["stage"] == "evaluation" and (gen_dir(root, r) / "parsed.txt").exists()]


@pytest.mark.parametrize("source", ["environment", ".env"])
def test_api_key_is_in_no_file_of_the_run(tmp_path, source):
    """The key reaches the provider and no file: not the store, logs, cohorts, results, plots,
    .snakemake/ or the report, even when the provider echoes it in an error."""
    key = "sk-or-v1-" + "9f3c1e7a" * 4
    with FakeLLM() as server:
        server.faults = ["echo-auth"]  # the first call fails with the key in its error message
        env = http_setup(tmp_path, server)
        if source == ".env":
            (tmp_path / ".env").write_text(f"OPENROUTER_API_KEY={key}\n")
            env = {"OPENROUTER_API_KEY": ""}
        else:
            env = {"OPENROUTER_API_KEY": key}
        failed = run_snakemake(tmp_path, "all", env=env, check=False)
        assert failed.returncode != 0 and "[redacted]" in failed.stderr
        run_snakemake(tmp_path, "all", env=env)
        run_snakemake(tmp_path, "--report", str(tmp_path / "report.html"), env=env)
    assert all(q["headers"]["Authorization"] == f"Bearer {key}" for q in server.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".env"]
    assert len(files) > 100 and (tmp_path / "report.html") in files
    assert any(".snakemake" in p.parts for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), path


def test_timeouts_on_every_attempt_fail_the_job_clearly_and_write_no_raw(tmp_path):
    with FakeLLM(hang_s=1.5) as server:
        server.faults = ["timeout", "timeout"]  # one call at a time: both are the first draft's
        providers = {"openrouter": {"base_url": server.base_url, "timeout_s": 0.3, "max_attempts": 2}}
        make_experiment(tmp_path, models=HTTP_MODELS)
        write_config(tmp_path, providers=providers)
        result = run_snakemake(tmp_path, "all_drafts", "--resources", "openrouter=1", check=False)
    assert result.returncode != 0
    assert "giving up after 2 attempts, the last: ReadTimeout" in result.stderr
    drafts = [r for r in membership(tmp_path) if r["stage"] == "draft"]
    without_raw = [r for r in drafts if not (gen_dir(tmp_path, r) / "raw.txt").exists()]
    assert len(without_raw) == 1 and not (gen_dir(tmp_path, without_raw[0]) / "parsed.txt").exists()
    assert len(server.requests) == 2 + 2  # the two timed-out attempts, then the other drafts


PRICED_MODELS = (
    "id,model,provider,display_name,for_generation,for_evaluation,input_price_per_mtok,output_price_per_mtok\n"
    "writer,vendor/writer-1,openrouter,Writer,true,false,3,15\n"
    "judge,vendor/judge-1,openrouter,Judge,false,true,1,5\n"
)


def test_cost_plan_before_the_checkpoint_and_the_budget_guard(tmp_path):
    """A newcomer's first dry run, on a fresh data root, says what the run will call and cost;
    max_cost_usd refuses a run estimated above it (both figures in one message) before any call;
    the calls the run then makes are exactly the planned pending ones."""
    with FakeLLM() as server:
        make_experiment(tmp_path, models=PRICED_MODELS)
        providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None}}
        write_config(tmp_path, providers=providers, max_cost_usd=0.0001)
        dry = run_snakemake(tmp_path, "-n", "all_evaluations")
        line = next(text for text in dry.stderr.splitlines() if text.startswith("plan: cohort"))
        assert "3 drafts, 6 essays, 12 evaluations; 18 LLM calls pending, estimated $" in line
        estimate = float(line.split("estimated $")[1].split()[0])
        assert estimate > 0.0001
        refused = run_snakemake(tmp_path, "all_evaluations", check=False)
        assert refused.returncode != 0
        assert f"estimated at ${estimate:.4f}, over max_cost_usd=$0.0001" in refused.stderr
        assert server.requests == [] and not (tmp_path / "data/gens").exists()

        run_snakemake(tmp_path, "all_evaluations", "--config", "max_cost_usd=100")
        assert len(server.requests) == 18  # the planned pending calls, no more
        cost = daydream(tmp_path, "cost")
        recorded = sum(
            json.loads(path.read_text())["cost"]
            for path in (tmp_path / "data/gens").glob("*/*/metadata.json")
            if json.loads(path.read_text())["mode"] == "llm"
        )
        assert recorded > 0 and f"{recorded:.4f}" in cost.splitlines()[-1]  # the store's total
        again = run_snakemake(tmp_path, "-n", "all_evaluations", "--config", "max_cost_usd=100")
        assert "18 LLM calls pending" not in again.stderr and "0 LLM calls pending" in again.stderr


def test_plan_from_snakemake_and_from_the_cli_is_one_table(tiny):
    """`snakemake plan` and `daydream plan` write the same plan.csv into the cohort's folder and
    print it with where it went."""
    result = run_snakemake(tiny, "plan")
    (path,) = (tiny / "data/cohorts").glob("*/plan.csv")
    from_snakemake = path.read_text()
    assert from_snakemake.startswith("stage,")
    assert len(from_snakemake.splitlines()) == 1 + 3  # a line per stage and model
    assert f"-> {path}" in result.stdout and "plan: cohort" in result.stdout
    path.unlink()
    printed = daydream(tiny, "plan")
    assert path.read_text() == from_snakemake
    assert f"-> {path}" in printed


def test_budget_guard_refuses_models_without_prices(tmp_path):
    with FakeLLM() as server:
        make_experiment(tmp_path, models=HTTP_MODELS)
        providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None}}
        write_config(tmp_path, providers=providers, max_cost_usd=50)
        refused = run_snakemake(tmp_path, "all_evaluations", check=False)
    assert refused.returncode != 0
    assert "18 pending calls go to models without prices (judge, writer)" in refused.stderr
    assert server.requests == []


def stored_files(root):
    """Every file of the store's drafts and essays, with its bytes and modification time."""
    files = [p for stage in ("draft", "essay") for p in (root / "data/gens" / stage).rglob("*") if p.is_file()]
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def test_rescoring_stored_essays_makes_only_the_new_evaluation_calls(tmp_path):
    """curated_mode: evaluate. 5 stored essays, 2 evaluation templates, 1 new evaluation model:
    exactly 10 calls, all evaluations by the new model; the stored essays and their drafts are
    neither called again nor touched; a second run calls nothing and keeps the same ids."""
    with FakeLLM() as server:
        env = http_setup(tmp_path, server)
        run_snakemake(tmp_path, "all", env=env)
        assert len(server.requests) == 18
        config = str(tmp_path / "config.yaml")
        select = [sys.executable, "-m", "daydream", "select-top", "--n", "5", "--config", config]
        subprocess.run(select, cwd=tmp_path, check=True, capture_output=True, env=run_env(env))
        chosen = [
            line
            for line in (tmp_path / "data/2_tasks/selected_essays.txt").read_text().splitlines()
            if not line.startswith("#")
        ]
        assert len(chosen) == 5
        models = tmp_path / "data/1_raw/llm_models.csv"
        models.write_text(
            models.read_text().replace(
                "judge,vendor/judge-1,openrouter,Judge,false,true", "judge,vendor/judge-1,openrouter,Judge,false,false"
            )
            + "judge2,vendor/judge-2,openrouter,Judge 2,false,true\n"
        )
        before = stored_files(tmp_path)
        rescore = ("all", "--config", "curated_mode=evaluate")
        run_snakemake(tmp_path, *rescore, env=env)
        new = server.requests[18:]
        assert len(new) == 5 * 2 * 1
        assert {r["body"]["model"] for r in new} == {"vendor/judge-2"}
        assert stored_files(tmp_path) == before  # drafts and essays: not one file written
        manifests = {
            p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "data/cohorts").glob("*/manifest.json")
        }
        (rescore_id,) = [cid for cid, m in manifests.items() if m["mode"] == "rescore"]
        assert manifests[rescore_id]["essays"] == sorted(chosen)
        rows = membership_at_cohort(tmp_path / "data", rescore_id)
        assert {r["parent_gen_id"] for r in rows} == set(chosen) and {r["stage"] for r in rows} == {"evaluation"}
        run_snakemake(tmp_path, *rescore, env=env)
        assert len(server.requests) == 28  # nothing again
        assert membership_at_cohort(tmp_path / "data", rescore_id) == rows  # the same ids
        scored = scores(tmp_path, rescore_id)
        assert len(scored) == 10 and all(r["error"] == "" and r["cohort_id"] == rescore_id for r in scored)
        # housekeeping: the store is consistent; purging the first cohort spares what the
        # re-scoring cohort uses (the 5 essays and their drafts), and the latter still runs free
        assert "0 finding(s)" in daydream(tmp_path, "store", "check")
        (first_id,) = [cid for cid, m in manifests.items() if m["mode"] == "cartesian"]
        purged = daydream(tmp_path, "purge", "--cohort", first_id, "--yes")
        assert f"removed {21 - 5 - 3} generations" in purged  # of 21: kept the 5 essays and their 3 drafts
        assert all((tmp_path / "data/gens/essay" / gen_id / "parsed.txt").is_file() for gen_id in chosen)
        run_snakemake(tmp_path, *rescore, env=env)
        assert len(server.requests) == 28


def test_rescoring_needs_a_selection_of_stored_essays(tiny):
    result = run_snakemake(tiny, "cohort", "--config", "curated_mode=evaluate", check=False)
    assert result.returncode != 0 and "selected_essays.txt" in result.stderr and "does not exist" in result.stderr
    (tiny / "data/2_tasks").mkdir(parents=True)
    (tiny / "data/2_tasks/selected_essays.txt").write_text("notstored1\n")
    result = run_snakemake(tiny, "cohort", "--config", "curated_mode=evaluate", check=False)
    assert result.returncode != 0 and "essay notstored1 has no parsed.txt in the store" in result.stderr


def as_original_store(data):
    """Rewrite a store in the original pipeline's shape: no responses/ archives, and its metadata
    keys only (model_id, template_id, draft_template, essay_template, parent_gen_id, combo_id; no
    provider, no usage)."""
    for folder in data.glob("gens/*/*"):
        shutil.rmtree(folder / "responses", ignore_errors=True)
        ours = json.loads((folder / "metadata.json").read_text())
        original = {
            key: ours[key] for key in ("gen_id", "stage", "parent_gen_id", "combo_id", "template_id") if ours.get(key)
        }
        original["model_id"] = ours["llm_model_id"]
        if ours["stage"] == "essay":
            original["essay_template"] = ours["template_id"]
        (folder / "metadata.json").write_text(json.dumps(original))


def test_a_store_written_by_the_original_pipeline_is_read_and_never_paid_again(tmp_path):
    with FakeLLM() as server:
        env = http_setup(tmp_path, server)
        run_snakemake(tmp_path, "all", env=env)
        assert len(server.requests) == 18
        as_original_store(tmp_path / "data")
        shutil.rmtree(tmp_path / ".snakemake")  # and a checkout that never ran it
        run_snakemake(tmp_path, "all", "--forcerun", "results", env=env)
        assert len(server.requests) == 18  # nothing it holds is called again
        table = scores(tmp_path)
        assert len(table) == 12 and all(r["error"] == "" and r["generation_model"] == "writer" for r in table)
        config = str(tmp_path / "config.yaml")
        for command in (["status"], ["cost"], ["select-top", "--n", "2"]):
            done = subprocess.run(
                [sys.executable, "-m", "daydream", *command, "--config", config],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env=run_env(env),
            )
            assert done.returncode == 0, done.stderr
        run_snakemake(tmp_path, "cohort", env=env)  # curated (regenerate) plans from the original's keys
        before = tmp_path / "before-rescoring"
        shutil.copytree(tmp_path / "data", before)
        # re-scoring the two essays by the same evaluators: the store holds those very requests
        # (its raws, archived as the answers to the prompts beside them), so nothing is paid...
        run_snakemake(tmp_path, "all_evaluations", "--config", "curated_mode=evaluate", env=env)
        assert len(server.requests) == 18
        # ...unless fresh samples are asked for: the two essays' evaluations only
        shutil.rmtree(tmp_path / "data")
        before.rename(tmp_path / "data")
        run_snakemake(tmp_path, "all_evaluations", "--config", "curated_mode=evaluate", "reuse=cohort", env=env)
        assert len(server.requests) == 18 + 2 * 2


def test_each_cohort_has_its_own_tables_and_results_all_has_every_cohort(tiny):
    """Two cohorts in one data root (k_max 2 and the pinned pilot with k_max 3): each cohort's
    tables cover only its own evaluations; `results_all` covers both, cohort_id a column."""
    run_snakemake(tiny, "all")
    run_snakemake(tiny, "all", "--config", "k_max=3", env={"DD_COHORT": "pilot"})
    first = [p.parent.name for p in (tiny / "data/cohorts").glob("*/membership.csv") if p.parent.name != "pilot"]
    for cohort in (*first, "pilot"):
        evaluations = {r["gen_id"] for r in membership_at_cohort(tiny / "data", cohort) if r["stage"] == "evaluation"}
        table = scores(tiny, cohort)
        assert {r["gen_id"] for r in table} == evaluations and {r["cohort_id"] for r in table} == {cohort}
    run_snakemake(tiny, "results_all")
    with open(tiny / "data/7_cross_experiment/parsed_scores.csv", newline="") as handle:
        everything = list(csv.DictReader(handle))
    assert {r["cohort_id"] for r in everything} == {*first, "pilot"}
    assert len(everything) == sum(len(scores(tiny, cohort)) for cohort in (*first, "pilot"))


def run_with_planted_markup(root, payload):
    """A cube whose essays (and the evaluators' reasoning quoting them) contain payload, run
    through `all` and `--report`; returns the cohort's reports folder."""

    def reply(prompt):
        text = stage_shaped_reply(prompt)
        return text.replace("\n", f" {payload}\n", 1) if "essay" in prompt.lower() else text

    with FakeLLM(reply=reply) as server:
        env = http_setup(root, server)
        run_snakemake(root, "all", env=env)
        run_snakemake(root, "--report", str(root / "report.html"), env=env)
    (reports,) = (root / "data/cohorts").glob("*/reports")
    return reports


def test_model_output_in_the_essays_page_is_text_never_markup(tmp_path):
    """Essays and evaluator reasoning that contain markup are shown escaped in essays.html (and
    the page forbids scripts), also inside the Snakemake report."""
    reports = run_with_planted_markup(tmp_path, '<script>alert("essay")</script><img src=x onerror=alert(1)>')
    html = (reports / "essays.html").read_text()
    assert "<h2>1. Essay " in html and "Failed generations (0)" in html
    assert "&lt;script&gt;alert(&quot;essay&quot;)&lt;/script&gt;" in html and "&lt;img src=x onerror" in html
    assert "<script" not in html and "<img" not in html
    assert "default-src 'none'" in html
    assert "essays.html" in (tmp_path / "report.html").read_text(errors="replace")
