"""The call engine against a real HTTP server on 127.0.0.1: the provider cap binds, one call per
request key, responses archived before they are returned, a stopping run makes no new calls."""

import threading
import time

from daydream.calling.engine import Call, CallEngine, perform_call
from daydream.calling.providers import endpoint
from daydream.config import validate_config
from daydream.store.archive import Request, find_archived, request_key
from daydream.store.layout import StoreLayout

from llm_server import FakeLLM


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def loop_endpoint(server, **settings):
    config = validate_config({"providers": {"loop": {"base_url": server.base_url, **settings}}})
    return endpoint(config, "loop")


def make_call(tmp_path, server, n, *, slot=1, gen=None, **settings):
    request = Request("loop", "vendor/m", 100, 0.0)
    prompt = f"prompt {n}: SCORE please"
    return Call(
        "evaluation",
        gen or f"g{n}",
        StoreLayout(tmp_path),
        request_key(request, prompt),
        request,
        prompt,
        loop_endpoint(server, **settings),
        slot,
    )


def test_cap_binds_exactly_at_the_server(tmp_path):
    with FakeLLM(latency_s=0.2) as server:
        engine = CallEngine({"loop": 3})
        calls = [make_call(tmp_path, server, n) for n in range(12)]
        for call in calls:
            engine.submit(call)
        results = [engine.result(call) for call in calls]
        engine.shutdown()
    assert len(server.requests) == 12
    assert server.max_in_flight == 3  # never more than the cap, and the cap was reached
    assert all(found.origin == "called" and found.record["text"] for found in results)


def test_one_call_per_request_key_and_archived_first(tmp_path):
    with FakeLLM(latency_s=0.1) as server:
        engine = CallEngine({"loop": 4})
        call = make_call(tmp_path, server, 1)
        first = engine.submit(call)
        assert engine.submit(call) is first  # the prompt job's call and the generate job's wait
        found = engine.result(call)
        assert find_archived(call.gen_dir, call.key)["text"] == found.record["text"]
        again = engine.result(call)  # a later job: the archive answers
        engine.shutdown()
    assert len(server.requests) == 1 and found.origin == "called" and again.origin == "archive"
    assert again.record["text"] == found.record["text"]


def test_concurrent_callers_of_one_key_pay_once(tmp_path):
    """Two callers that do not share an engine (two runs on one data root) wait on the request
    key's file lock; the second finds the first's archived response."""
    with FakeLLM(latency_s=0.3) as server:
        call = make_call(tmp_path, server, 1)
        results = []
        threads = [threading.Thread(target=lambda: results.append(perform_call(call))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(server.requests) == 1
    assert sorted(found.origin for found in results) == ["archive", "called"]


def test_shutdown_cancels_queued_calls_and_keeps_the_ones_in_flight(tmp_path):
    with FakeLLM(latency_s=0.5) as server:
        engine = CallEngine({"loop": 1})
        calls = [make_call(tmp_path, server, n) for n in range(5)]
        for call in calls:
            engine.submit(call)
        wait_until(lambda: server.in_flight == 1)  # the first call is in flight, the other four queued
        engine.shutdown()
    assert len(server.requests) == 1
    assert find_archived(calls[0].gen_dir, calls[0].key) is not None  # paid for: kept
    assert all(find_archived(c.gen_dir, c.key) is None for c in calls[1:])


def test_a_stopping_run_makes_no_further_attempts(tmp_path):
    with FakeLLM() as server:
        server.faults = ["500"] * 5
        engine = CallEngine({"loop": 1})
        call = make_call(tmp_path, server, 1, backoff_base_s=30, backoff_max_s=30, max_attempts=5)
        future = engine.submit(call)
        wait_until(lambda: len(server.requests) == 1)  # the first attempt failed: a 15 to 30 s backoff
        started = time.monotonic()
        engine.shutdown()
        assert time.monotonic() - started < 10
        assert "stopping" in str(future.exception())
    assert len(server.requests) == 1
