"""Batch mode against a loopback server implementing the OpenAI file and batch endpoints
(batch_server.py): requests submitted once, collected into the archive like calls, failures and
expiry bounded, a run stopped or killed at every step resumes without a second submission."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from daydream.calling.batching import BatchInFlight, BatchQueue
from daydream.calling.engine import Call
from daydream.calling.llm import LLMError
from daydream.calling.providers import endpoint
from daydream.config import validate_config
from daydream.store import batches
from daydream.store.archive import Request, own_records, request_key
from daydream.store.layout import StoreLayout

from conftest import ROOT, make_experiment, run_env, run_snakemake, snakemake_command, write_config
from llm_server import FakeLLM
from test_workflow import HTTP_MODELS, gen_dir, membership, scores

FAST_BATCH = {"stages": ["evaluation"], "gather_s": 0.2, "poll_s": 0.1}


def batch_endpoint(server, **batch):
    provider = {
        "base_url": server.base_url,
        "max_attempts": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.02,
        "batch": {**FAST_BATCH, **batch},
    }
    return endpoint(validate_config({"providers": {"openai": provider}}), "openai")


def judge_calls(store, where, n=6, reuse="store"):
    calls = []
    for i in range(n):
        request = Request("openai", "vendor/judge-1", 100, 0.0)
        prompt = f"Rate essay {i}. End with SCORE: X"
        calls.append(
            Call("evaluation", f"e{i}", store, request_key(request, prompt), request, prompt, where, reuse=reuse)
        )
    return calls


def collected(queue, calls, timeout=20):
    futures = [queue.submit(call) for call in calls]
    return [future.result(timeout=timeout) for future in futures]


def each_fails(futures, error, match, timeout):
    """Every future ends in `error` whose message matches."""
    for future in futures:
        with pytest.raises(error, match=match):
            future.result(timeout=timeout)


def archived(store, call):
    return own_records(store.gen_dir(call.stage, call.gen_id), call.key)


def test_calls_of_a_batched_stage_go_in_one_batch_and_are_archived_like_calls(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        where = batch_endpoint(server)
        queue = BatchQueue(where, store, report=lambda line: None)
        found = collected(queue, judge_calls(store, where))
        queue.stop()
    assert not [q for q in server.requests if q["path"].endswith("/chat/completions")]  # no normal call
    assert len(server.batches.order) == 1 and set(server.batches.submitted.values()) == {1}
    for result in found:
        assert result.origin == "called" and result.record["text"].rstrip().endswith("SCORE: 7")
        assert result.record["batch"]["batch_id"] == server.batches.order[0]
        assert result.record["price_factor"] == 0.5
    (ledger,) = batches.ledgers(store)
    assert ledger.state == "collected" and ledger.batch_id == server.batches.order[0] and not ledger.unanswered


def test_the_same_request_in_two_generations_is_submitted_once(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        where = batch_endpoint(server)
        one, two = judge_calls(store, where, 1) * 2
        two = Call(two.stage, "e-other", store, two.key, two.request, two.prompt, where)
        queue = BatchQueue(where, store, report=lambda line: None)
        first, second = collected(queue, [one, two])
        queue.stop()
    assert sum(server.batches.submitted.values()) == 1
    assert second.origin == "store" and second.record["text"] == first.record["text"]


def test_size_limits_split_the_calls_into_batches(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        where = batch_endpoint(server, max_requests=4)
        queue = BatchQueue(where, store, report=lambda line: None)
        collected(queue, judge_calls(store, where, 10))
        queue.stop()
        sizes = [len(server.batches.batches[b]["lines"]) for b in server.batches.order]
        assert sorted(sizes) == [2, 4, 4]
        where = batch_endpoint(server, max_bytes=1024)  # a line is about 300 bytes
        queue = BatchQueue(where, StoreLayout(tmp_path / "other"), report=lambda line: None)
        collected(queue, judge_calls(StoreLayout(tmp_path / "other"), where, 10))
        queue.stop()
    for batch_id in server.batches.order[3:]:
        content = server.batches.files[server.batches.batches[batch_id]["input_file_id"]]
        assert len(content) <= 1024 and len(server.batches.batches[batch_id]["lines"]) >= 1
    assert len(server.batches.order) > 4


def test_failed_and_expired_requests_are_submitted_again_then_called_bounded(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.expire = {1}  # the first batch answers half its requests, then expires
        server.batches.fail = lambda custom_id: custom_id.startswith("evaluation.e5.")  # fails every time
        where = batch_endpoint(server, max_submissions=2)
        queue = BatchQueue(where, store, report=lambda line: None)
        calls = judge_calls(store, where, 6)
        found = collected(queue, calls)
        queue.stop()
    submitted = server.batches.submitted
    ids = {call.gen_id: next(c for c in submitted if c.startswith(f"evaluation.{call.gen_id}.")) for call in calls}
    assert [submitted[ids[f"e{i}"]] for i in range(6)] == [1, 1, 1, 2, 2, 2]  # the expired half once more
    normal = [q for q in server.requests if q["path"].endswith("/chat/completions")]
    assert [q["body"]["messages"][0]["content"] for q in normal] == [calls[5].prompt]  # after 2 submissions
    assert found[5].record.get("batch") is None and all(f.record["text"] for f in found)
    first, second = batches.ledgers(store)
    assert first.status == "expired" and len(first.unanswered) == 3 and len(second.unanswered) == 1


def test_a_stopped_run_leaves_its_batch_in_flight_and_the_next_collects_it(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.delay_s = 3600
        where = batch_endpoint(server)
        calls = judge_calls(store, where)
        queue = BatchQueue(where, store, report=lambda line: None)
        futures = [queue.submit(call) for call in calls]
        wait_for(lambda: any(ledger.state == "submitted" for ledger in batches.ledgers(store)))
        queue.stop()
        each_fails(futures, LLMError, "stopping", timeout=5)
        assert not any(archived(store, call) for call in calls)
        server.batches.delay_s = 0
        queue = BatchQueue(where, store, report=lambda line: None)
        found = collected(queue, calls)
        queue.stop()
    assert len(server.batches.order) == 1 and set(server.batches.submitted.values()) == {1}
    assert all(f.record["batch"]["batch_id"] == server.batches.order[0] for f in found)


@pytest.mark.parametrize(
    "faults,stopped_in",
    [
        (["500", "500", "500"], "prepared"),  # the upload never got through
        (["", "500"], "uploaded"),  # uploaded; the creation answered an error (none made)
        (["", "drop-after-create"], "uploaded"),  # created, its answer lost
    ],
)
def test_a_run_stopped_at_each_step_before_the_batch_id_is_known_submits_once(tmp_path, faults, stopped_in):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.faults = list(faults)
        where = batch_endpoint(server, poll_s=30)  # the failed step is not tried again in this run
        calls = judge_calls(store, where)
        queue = BatchQueue(where, store, report=lambda line: None)
        for call in calls:
            queue.submit(call)
        wait_for(lambda: len(server.batches.calls) >= len(faults))
        time.sleep(0.3)
        queue.stop()
        (ledger,) = batches.ledgers(store)
        assert ledger.state == stopped_in
        created_before = len(server.batches.order)
        queue = BatchQueue(batch_endpoint(server), store, report=lambda line: None)
        found = collected(queue, calls)
        queue.stop()
    assert len(server.batches.order) == 1 and set(server.batches.submitted.values()) == {1}
    assert created_before == (1 if "drop-after-create" in faults else 0)
    assert all(f.record["batch"]["batch_id"] == server.batches.order[0] for f in found)


def test_without_waiting_the_call_fails_saying_the_batch_is_in_flight(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.delay_s = 3600
        where = batch_endpoint(server, wait=False)
        calls = judge_calls(store, where, 2)
        queue = BatchQueue(where, store, report=lambda line: None)
        futures = [queue.submit(call) for call in calls]
        each_fails(futures, BatchInFlight, "the same command later collects it", timeout=10)
        queue.stop()
        queue = BatchQueue(where, store, report=lambda line: None)  # still in flight
        with pytest.raises(BatchInFlight):
            queue.submit(calls[0]).result(timeout=10)
        queue.stop()
        server.batches.delay_s = 0
        queue = BatchQueue(where, store, report=lambda line: None)
        found = collected(queue, calls)
        queue.stop()
    assert len(server.batches.order) == 1 and all(f.record["batch"] for f in found)


def test_a_provider_that_refuses_batches_fails_the_calls_with_its_reason(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        where = batch_endpoint(server)
        server.batches.files.clear()
        calls = judge_calls(store, where, 2)
        queue = BatchQueue(where, store, report=lambda line: None)
        original = queue.api.create
        queue.api.create = lambda file_id, *rest: original("file-missing", *rest)  # the server answers 400
        futures = [queue.submit(call) for call in calls]
        each_fails(futures, LLMError, "batch refused", timeout=10)
        queue.stop()
    (ledger,) = batches.ledgers(store)
    assert ledger.state == "failed" and not ledger.open and not server.batches.order


def wait_for(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---- through Snakemake ---------------------------------------------------------------------------
PRICED = HTTP_MODELS.replace("for_evaluation\n", "for_evaluation,input_price_per_mtok,output_price_per_mtok\n")
PRICED = PRICED.replace("true,false\n", "true,false,3,15\n").replace("false,true\n", "false,true,1,2\n")


def batch_setup(tmp_path, server, **batch):
    make_experiment(tmp_path, models=PRICED)
    provider = {"base_url": server.base_url, "api_key_env": "OPENROUTER_API_KEY", "batch": {**FAST_BATCH, **batch}}
    write_config(tmp_path, providers={"openrouter": provider})
    return {"OPENROUTER_API_KEY": "sk-test-key"}


def daydream(tmp_path, *args, check=True):
    command = [sys.executable, "-m", "daydream", *args, "--config", str(tmp_path / "config.yaml")]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=run_env(), check=check)


def test_a_run_batches_its_evaluations_at_the_batch_price(tmp_path):
    with FakeLLM() as server:
        env = batch_setup(tmp_path, server)
        plan = daydream(tmp_path, "plan").stdout
        run = run_snakemake(tmp_path, env=env)
        normal = [q for q in server.requests if q["path"].endswith("/chat/completions")]
        rerun = run_snakemake(tmp_path, env=env)
    assert all(q["body"]["model"] == "vendor/writer-1" for q in normal) and len(normal) == 6
    evaluations = [row for row in membership(tmp_path) if row["stage"] == "evaluation"]
    assert len(evaluations) == 12 and sum(server.batches.submitted.values()) == 12
    assert set(server.batches.submitted.values()) == {1}
    assert {float(row["score"]) for row in scores(tmp_path)} == {7.0}
    for row in evaluations:
        meta = json.loads((gen_dir(tmp_path, row) / "metadata.json").read_text())
        usage = meta["usage"]
        assert meta["batch"]["batch_id"] in server.batches.order and meta["cost_source"] == "price_table"
        assert meta["cost"] == pytest.approx((usage["prompt_tokens"] * 1 + usage["completion_tokens"] * 2) / 1e6 * 0.5)
    assert "batched: 0.5 x the table's prices" in plan
    # a job waiting on a batch holds batch_waits, not a unit of the provider's cap
    assert (run.stdout + run.stderr).count("openrouter=0, batch_waits=1") == 12
    assert "Nothing to be done" in rerun.stdout + rerun.stderr and len(server.batches.order) <= 12
    assert "12 in batches" in daydream(tmp_path, "cost").stdout


def test_the_plan_prices_a_batched_stage_at_the_batch_price(tmp_path):
    def evaluation_line():
        (path,) = (tmp_path / "data/cohorts").glob("*/plan.csv")
        with open(path, newline="") as handle:
            return next(row for row in csv.DictReader(handle) if row["stage"] == "evaluation")

    with FakeLLM() as server:
        batch_setup(tmp_path, server)
        daydream(tmp_path, "plan")
        batched = evaluation_line()
        write_config(tmp_path, providers={"openrouter": {"base_url": server.base_url}})
        daydream(tmp_path, "plan")
        plain = evaluation_line()
    assert float(plain["est_cost_usd"]) > 0 and (batched["price_factor"], plain["price_factor"]) == ("0.5", "1.0")
    assert float(batched["est_cost_usd"]) == pytest.approx(float(plain["est_cost_usd"]) * 0.5, abs=2e-6)


def test_a_run_killed_while_its_batch_is_in_flight_collects_it_next_time(tmp_path):
    with FakeLLM() as server:
        env = batch_setup(tmp_path, server, gather_s=2)
        server.batches.delay_s = 3600
        process = subprocess.Popen(
            snakemake_command(tmp_path),
            cwd=tmp_path,
            env=run_env(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            store = StoreLayout(tmp_path / "data")
            wait_for(lambda: sum(len(b["lines"]) for b in server.batches.batches.values()) == 12, timeout=120)
            wait_for(lambda: all(ledger.state == "submitted" for ledger in batches.ledgers(store)))
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        submitted_before = dict(server.batches.submitted)
        server.batches.delay_s = 0
        run_snakemake(tmp_path, "--unlock", env=env)  # Snakemake's own lock, left by the kill
        run_snakemake(tmp_path, env=env)
        listed = daydream(tmp_path, "batches").stdout
    assert dict(server.batches.submitted) == submitted_before and set(submitted_before.values()) == {1}
    assert {float(row["score"]) for row in scores(tmp_path)} == {7.0}
    assert "0 open" in listed and "collected" in listed


def test_a_run_that_does_not_wait_ends_saying_so_and_batches_can_be_cancelled(tmp_path):
    with FakeLLM() as server:
        env = batch_setup(tmp_path, server, wait=False)
        server.batches.delay_s = 3600
        first = run_snakemake(tmp_path, "--keep-going", env=env, check=False)
        assert first.returncode != 0 and "the same command later collects it" in first.stdout + first.stderr
        listed = daydream(tmp_path, "batches").stdout
        assert "open: the same snakemake command collects them" in listed
        plan = daydream(tmp_path, "plan").stdout  # in flight: committed, not pending again
        assert "batches in flight: 1 (12 requests" in daydream(tmp_path, "status").stdout
        assert "0 LLM calls pending (12 more are in batches in flight" in plan
        cancelled = daydream(tmp_path, "batches", "--cancel").stdout
        assert "cancelled" in cancelled
        wait_for(lambda: all(b["status"] == "cancelling" for b in server.batches.batches.values()))
        server.batches.delay_s = 0.2
        before = dict(server.batches.submitted)
        second = run_snakemake(tmp_path, "--keep-going", env=env, check=False)
        third = run_snakemake(tmp_path, env=env)
    assert sum(before.values()) == 12 and set(before.values()) == {1}
    assert "the same command later collects it" in second.stdout + second.stderr  # the unanswered half again
    cancelled_batch = server.batches.batches[server.batches.order[0]]
    assert cancelled_batch["status"] == "cancelled" and [b["status"] for b in server.batches.batches.values()][1:] == [
        "completed"
    ] * (len(server.batches.order) - 1)
    assert sorted(server.batches.submitted.values()) == [1] * 6 + [2] * 6  # the cancelled half answered once
    assert {float(row["score"]) for row in scores(tmp_path)} == {7.0} and "Nothing to be done" not in third.stderr


def test_a_normal_call_for_a_request_in_an_open_batch_is_refused_not_paid_twice(tmp_path):
    from daydream.calling.engine import perform_call

    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.delay_s = 3600
        where = batch_endpoint(server)
        calls = judge_calls(store, where, 2)
        queue = BatchQueue(where, store, report=lambda line: None)
        for call in calls:
            queue.submit(call)
        wait_for(lambda: any(ledger.state == "submitted" for ledger in batches.ledgers(store)))
        queue.stop()
        with pytest.raises(BatchInFlight, match="would pay for it twice"):
            perform_call(calls[0])  # as a generate job on a cluster node would
        assert not [q for q in server.requests if q["path"].endswith("/chat/completions")]
        server.batches.delay_s = 0
        queue = BatchQueue(where, store, report=lambda line: None)
        collected(queue, calls)
        queue.stop()
        assert perform_call(calls[0]).origin == "archive"  # collected: found, not called
    assert not [q for q in server.requests if q["path"].endswith("/chat/completions")]


def test_a_collection_cut_short_archives_each_response_once(tmp_path):
    """Collecting fails after two responses are archived (a crash, a disk error): the batch stays
    open, the next look collects it again, and each response is archived once, the calls waiting
    for the first two getting those."""
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        where = batch_endpoint(server)
        calls = judge_calls(store, where)
        queue = BatchQueue(where, store, report=lambda line: None)
        archive_one = queue._archive
        done = []

        def archive_two_then_fail_once(*args):
            if len(done) == 2 and not queue.errors:
                raise RuntimeError("killed while collecting")
            done.append(archive_one(*args))
            return done[-1]

        queue._archive = archive_two_then_fail_once
        found = collected(queue, calls)
        queue.stop()
    assert queue.errors == ["killed while collecting"]
    assert [len(archived(store, call)) for call in calls] == [1] * 6
    assert [f.origin for f in found] == ["called"] * 6
    assert [f.file for f in found[:2]] == [d.file for d in done[:2]] == [d.file for d in done[2:4]]
    assert len(server.batches.order) == 1


def test_a_lost_creation_at_a_provider_that_cannot_list_batches_is_never_sent_again(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.faults = ["", "drop-after-create", "404"]
        where = batch_endpoint(server, poll_s=30)
        calls = judge_calls(store, where, 2)
        queue = BatchQueue(where, store, report=lambda line: None)
        for call in calls:
            queue.submit(call)
        wait_for(lambda: len(server.batches.calls) >= 2)
        time.sleep(0.3)
        queue.stop()
        queue = BatchQueue(batch_endpoint(server), store, report=lambda line: None)
        with pytest.raises(LLMError, match="cannot list batches"):
            queue.submit(calls[0]).result(timeout=10)
        queue.stop()
        (ledger,) = batches.ledgers(store)
        assert ledger.state == "uploaded" and ledger.create_sent_at  # still open: it may exist
        assert len(server.batches.order) == 1  # the lost one only: never created again


def test_two_runs_resuming_the_same_batch_submit_it_once_and_collect_it_once(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.faults = ["500", "500", "500"]  # the first run never gets the upload through
        calls = judge_calls(store, batch_endpoint(server), 4)
        queue = BatchQueue(batch_endpoint(server, poll_s=30), store, report=lambda line: None)
        for call in calls:
            queue.submit(call)
        wait_for(lambda: len(server.batches.calls) >= 3)
        time.sleep(0.3)
        queue.stop()
        runs = [BatchQueue(batch_endpoint(server), store, report=lambda line: None) for _ in range(2)]
        futures = [[run.submit(call) for call in calls] for run in runs]
        found = [[future.result(timeout=20) for future in group] for group in futures]
        for run in runs:
            run.stop()
    assert len(server.batches.order) == 1 and set(server.batches.submitted.values()) == {1}
    assert [len(archived(store, call)) for call in calls] == [1] * 4
    assert [f.record["text"] for f in found[0]] == [f.record["text"] for f in found[1]]


def test_a_provider_that_stops_answering_fails_the_calls_bounded_and_keeps_the_batch(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.delay_s = 3600
        server.batches.faults = ["", ""] + ["500"] * 9  # uploaded and created; then every look fails
        where = batch_endpoint(server)  # 3 attempts a request, and 3 failed looks in a row
        calls = judge_calls(store, where, 2)
        queue = BatchQueue(where, store, report=lambda line: None)
        futures = [queue.submit(call) for call in calls]
        each_fails(futures, LLMError, "given up for this run", timeout=20)
        queue.stop()
        looks = [c for c in server.batches.calls if c[0] == "GET" and c[1].startswith("/v1/batches/")]
        assert len(looks) == 9
        (ledger,) = batches.ledgers(store)
        assert ledger.state == "submitted"  # the next run looks again
        server.batches.delay_s = 0
        queue = BatchQueue(where, store, report=lambda line: None)
        collected(queue, calls)
        queue.stop()
    assert len(server.batches.order) == 1


def test_a_request_of_two_generations_that_no_batch_answers_is_called_once_for_both(tmp_path):
    store = StoreLayout(tmp_path)
    with FakeLLM() as server:
        server.batches.fail = lambda custom_id: True
        where = batch_endpoint(server, max_submissions=1)
        (one,) = judge_calls(store, where, 1)
        two = Call(one.stage, "e-other", store, one.key, one.request, one.prompt, where)
        queue = BatchQueue(where, store, report=lambda line: None)
        first, second = collected(queue, [one, two])
        queue.stop()
    assert len([q for q in server.requests if q["path"].endswith("/chat/completions")]) == 1
    assert (first.origin, second.origin) == ("called", "store") and first.record["text"] == second.record["text"]
    assert second.file.startswith("gens/evaluation/e-other/")


def test_a_batch_endpoint_answer_that_is_no_json_is_named_without_the_key(tmp_path):
    from daydream.calling.batch_api import BatchAPI

    with FakeLLM() as server:
        server.batches.faults = ["echo-auth"]
        api = BatchAPI(server.base_url, "sk-secret-batch-key", batch_endpoint(server).policy)
        with pytest.raises(LLMError, match="no JSON in the answer") as info:
            api.get("batch_1")
    assert "sk-secret-batch-key" not in str(info.value) and "seen: Bearer" in str(info.value)
