"""Never paying twice across the whole store, through real snakemake runs against a loopback
provider: a cohort that overlaps an earlier one pays only for its new requests, more replicates
pay only for the missing ones, two overlapping cohorts at once pay once per request and
replicate, money is counted once, and a chosen few are called again on purpose."""

import csv
import json
import shutil
import subprocess
import sys

from conftest import copy_workflow, make_experiment, run_env, run_snakemake, snakemake_command, write, write_config
from llm_server import FakeLLM

HTTP_MODELS = (
    "id,model,provider,display_name,for_generation,for_evaluation,input_price_per_mtok,output_price_per_mtok\n"
    "writer,vendor/writer-1,openrouter,Writer,true,false,3,15\n"
    "judge,vendor/judge-1,openrouter,Judge,false,true,1,5\n"
)
TEMPLATES = "template_id,template_name,description,parser,generator,active\n"


def setup(root, server, **config):
    make_experiment(root, models=HTTP_MODELS)
    providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None}}
    write_config(root, providers=providers, **config)


def add_judge_c(root):
    """A third evaluation template, active."""
    path = root / "data/1_raw/evaluation_templates.csv"
    path.write_text(path.read_text() + "judge-c,Judge C,terse,in_last_line,llm,true\n")
    write(root / "templates/evaluation/judge-c.txt", "Judge tersely. End with SCORE: X\n{{ response }}\n")


def set_replicates(root, evaluation):
    write(root / "data/1_raw/replication_config.csv", f"stage,replicates\ndraft,1\nessay,1\nevaluation,{evaluation}\n")


def cohorts(root):
    return sorted(path.parent.name for path in (root / "data/cohorts").glob("*/membership.csv"))


def rows_of(root, cohort):
    with open(root / "data/cohorts" / cohort / "membership.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def metadata(root, row):
    return json.loads((root / "data/gens" / row["stage"] / row["gen_id"] / "metadata.json").read_text())


def daydream(root, *args):
    done = subprocess.run(
        [sys.executable, "-m", "daydream", *args, "--config", str(root / "config.yaml")],
        cwd=root,
        capture_output=True,
        text=True,
        env=run_env(),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_grown_experiment_pays_only_for_its_new_requests(tmp_path):
    """Two evaluation templates (18 calls), then a third: a new cube, so a new cohort and new
    gen_ids, yet the second run makes only the 6 new evaluations' calls. Every reused generation
    keeps its own files and says whose response it took; the plan said so before any call; the
    spend counts each paid call once."""
    with FakeLLM() as server:
        setup(tmp_path, server)
        run_snakemake(tmp_path, "all_evaluations")
        assert len(server.requests) == 18
        (first,) = cohorts(tmp_path)
        shutil.rmtree(tmp_path / "data/.daydream")  # the index is rebuilt from the archive files
        assert "18 responses in 21 generation folders indexed" in daydream(tmp_path, "store", "reindex")
        add_judge_c(tmp_path)
        dry = run_snakemake(tmp_path, "all_evaluations", "-n")
        assert "6 LLM calls pending (18 more reuse other cohorts' responses)" in dry.stderr
        run_snakemake(tmp_path, "all_evaluations")
        assert len(server.requests) == 18 + 6
    (second,) = [c for c in cohorts(tmp_path) if c != first]
    old = {(r["stage"], r["template_id"], r["combo_id"]): r for r in rows_of(tmp_path, first)}
    for row in rows_of(tmp_path, second):
        meta = metadata(tmp_path, row)
        if row["template_id"] in ("judge-c", "copy-essay"):
            continue
        assert meta["response_origin"] == "store" and meta["reused_response"] is True
        source = meta["response_source"]
        assert source["stage"] == row["stage"] and source["gen_id"] != row["gen_id"]
        folder = tmp_path / "data/gens" / row["stage"] / row["gen_id"]
        (copy,) = (folder / "responses").glob("*.json")  # its own files, under its own gen_id
        assert json.loads(copy.read_text())["reused_from"]["gen_id"] == source["gen_id"]
        if row["stage"] == "draft":  # the draft it reused is the earlier cohort's same draft
            assert source["gen_id"] == old[("draft", row["template_id"], row["combo_id"])]["gen_id"]
    cohort_total, store_total = [
        line.split() for line in daydream(tmp_path, "cost").splitlines() if line.startswith("total")
    ]
    assert (cohort_total[1], cohort_total[3]) == ("6", "18")  # this cohort paid 6 calls, reused 18
    assert (store_total[1], store_total[3]) == ("24", "18")  # the store: every call paid once


def test_fill_up_pays_only_the_missing_replicates(tmp_path):
    """A cohort with two evaluation replicates, then a grown one (a third template) with three:
    of the old templates' evaluations only the third replicate is called, and replicates stay
    independent samples (three different responses to each request)."""
    with FakeLLM() as server:
        setup(tmp_path, server)
        set_replicates(tmp_path, 2)
        run_snakemake(tmp_path, "all_evaluations")
        assert len(server.requests) == 3 + 3 + 24
        (first,) = cohorts(tmp_path)
        add_judge_c(tmp_path)
        set_replicates(tmp_path, 3)
        dry = run_snakemake(tmp_path, "all_evaluations", "-n")
        assert "30 LLM calls pending (30 more reuse other cohorts' responses)" in dry.stderr
        run_snakemake(tmp_path, "all_evaluations")
        assert len(server.requests) == 3 + 3 + 24 + 12 + 18
    (second,) = [c for c in cohorts(tmp_path) if c != first]
    by_request: dict[tuple, set] = {}
    for row in rows_of(tmp_path, second):
        if row["stage"] == "evaluation" and row["template_id"] != "judge-c":
            meta = metadata(tmp_path, row)
            assert meta["response_origin"] == ("called" if row["replicate"] == "3" else "store"), row
            text = (tmp_path / "data/gens/evaluation" / row["gen_id"] / "raw.txt").read_text()
            by_request.setdefault((row["parent_gen_id"], row["template_id"]), set()).add(text)
    assert len(by_request) == 12 and all(len(texts) == 3 for texts in by_request.values())


def test_reuse_cohort_draws_fresh_samples(tmp_path):
    with FakeLLM() as server:
        setup(tmp_path, server, reuse="cohort")
        run_snakemake(tmp_path, "all_evaluations")
        add_judge_c(tmp_path)
        dry = run_snakemake(tmp_path, "all_evaluations", "-n")
        assert "24 LLM calls pending," in dry.stderr and "reuse other cohorts" not in dry.stderr
        run_snakemake(tmp_path, "all_evaluations")
        assert len(server.requests) == 18 + 24


def test_two_overlapping_cohorts_at_once_pay_once_per_request_and_replicate(tmp_path):
    """Two checkouts run two cohorts on one data root at the same moment: the same drafts and
    essays (6 requests in common), different evaluations (another max_tokens). Their calls
    overlap in flight at the server; each request and replicate is paid once (30 calls, not 36)."""
    lab = tmp_path / "lab"
    make_experiment(lab, models=HTTP_MODELS)
    with FakeLLM(latency_s=0.3) as server:
        providers = {"openrouter": {"base_url": server.base_url, "api_key_env": None}}
        commands = []
        for name, extra in (("checkout-a", {}), ("checkout-b", {"stages": {"evaluation": {"max_tokens": 2048}}})):
            root = tmp_path / name
            snakefile = copy_workflow(root)
            write_config(
                root,
                data_root=str(lab / "data"),
                templates_root=str(lab / "templates"),
                providers=providers,
                cohort_id=name,
                **extra,
            )
            commands.append((snakemake_command(root, "all_evaluations", snakefile=snakefile), root))
        running = [
            subprocess.Popen(
                command, cwd=root, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for command, root in commands
        ]
        outputs = [process.communicate(timeout=600)[0] for process in running]
        for process, output in zip(running, outputs, strict=True):
            assert process.returncode == 0, output[-3000:]
        assert server.max_in_flight > 1
    sent = [(r["body"]["messages"][-1]["content"], r["body"]["max_tokens"]) for r in server.requests]
    assert len(sent) == len(set(sent)) == 3 + 3 + 12 + 12
    origins = [
        json.loads(path.read_text())["response_origin"]
        for path in (lab / "data/gens").glob("*/*/metadata.json")
        if json.loads(path.read_text())["mode"] == "llm"
    ]
    assert origins.count("called") == 30 and origins.count("store") == 6


def test_chosen_generations_are_called_again_on_purpose(tmp_path):
    """daydream redo marks chosen evaluations (by a filter over the cohort's score table): the next
    run calls again for exactly those, keeps every older response, and the replicate stays."""
    with FakeLLM() as server:
        setup(tmp_path, server)
        run_snakemake(tmp_path, "all")
        assert len(server.requests) == 18
        listed = daydream(tmp_path, "redo", "--evaluation-templates", "judge-a", "--score-above", "6.5")
        assert "would mark 6 evaluations" in listed
        assert len(server.requests) == 18 and not list((tmp_path / "data/gens").glob("*/*/redo.json"))
        daydream(tmp_path, "redo", "--evaluation-templates", "judge-a", "--score-above", "6.5", "--yes")
        dry = run_snakemake(tmp_path, "all", "-n")
        assert "6 LLM calls pending" in dry.stderr
        run_snakemake(tmp_path, "all")
        assert len(server.requests) == 18 + 6
        run_snakemake(tmp_path, "all")  # and only once
        assert len(server.requests) == 18 + 6
        dry = run_snakemake(tmp_path, "all", "-n")
        assert "Nothing to be done" in dry.stdout + dry.stderr and "0 LLM calls pending" in dry.stderr
    (cohort,) = cohorts(tmp_path)
    for row in rows_of(tmp_path, cohort):
        if row["stage"] != "evaluation":
            continue
        folder = tmp_path / "data/gens/evaluation" / row["gen_id"]
        records = [json.loads(p.read_text()) for p in sorted((folder / "responses").glob("*.json"))]
        meta = metadata(tmp_path, row)
        if row["template_id"] == "judge-a":
            assert len(records) == 2 and meta["response_origin"] == "called"
            assert (folder / "raw.txt").read_text() == records[-1]["text"] != records[0]["text"]
            assert {r["slot"] for r in records} == {int(row["replicate"])}
        else:
            assert len(records) == 1 and meta["response_origin"] == "called"
