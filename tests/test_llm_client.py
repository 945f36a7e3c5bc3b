"""The HTTP client against a real server on 127.0.0.1, including its faults."""

import time

import pytest

from daydream.llm import LLMError, RetryPolicy, chat_completion, parse_retry_after

from llm_server import FakeLLM

FAST = RetryPolicy(timeout_s=1.0, max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.05)


def call(server, policy=FAST, **kw):
    sleeps = []
    completion = chat_completion(
        base_url=server.base_url,
        api_key="sk-test",
        model="vendor/model-x",
        prompt="Rate it. End with SCORE",
        max_tokens=50,
        temperature=0.0,
        provider="testprov",
        policy=policy,
        sleep=sleeps.append,
        **kw,
    )
    return completion, sleeps


def test_success_sends_request_and_records_usage():
    with FakeLLM() as server:
        completion, sleeps = call(server)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "vendor/model-x" and request["body"]["max_tokens"] == 50
    assert request["body"]["messages"] == [{"role": "user", "content": "Rate it. End with SCORE"}]
    assert completion.text.endswith("SCORE: 7\n") and completion.finish_reason == "stop"
    assert completion.usage["prompt_tokens"] == 5 and completion.usage["total_tokens"] > 5
    assert sleeps == [] and completion.attempts == 1


def test_429_honours_retry_after():
    with FakeLLM(retry_after="2") as server:
        server.faults = ["429"]
        completion, sleeps = call(server)
    assert sleeps == [2.0] and completion.attempts == 2 and len(server.requests) == 2


def test_500_retries_with_backoff_then_succeeds():
    with FakeLLM() as server:
        server.faults = ["500", "500"]
        completion, sleeps = call(server)
    assert len(sleeps) == 2 and all(0 < s <= 0.05 for s in sleeps)
    assert completion.attempts == 3


def test_500_gives_up_after_max_attempts():
    with FakeLLM() as server:
        server.faults = ["500"] * 5
        with pytest.raises(LLMError, match="giving up after 3 attempts") as info:
            call(server)
    assert info.value.status == 500 and "upstream failed" in str(info.value)
    assert len(server.requests) == 3


def test_timeout_is_retried():
    with FakeLLM(hang_s=1.5) as server:
        server.faults = ["timeout"]
        started = time.monotonic()
        completion, sleeps = call(
            server, policy=RetryPolicy(timeout_s=0.3, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.05)
        )
    assert completion.attempts == 2 and len(sleeps) == 1 and time.monotonic() - started < 5


def test_400_is_not_retried():
    with FakeLLM() as server:
        server.faults = ["400"]
        with pytest.raises(LLMError, match="rejected") as info:
            call(server)
    assert info.value.status == 400 and len(server.requests) == 1


@pytest.mark.parametrize("fault,message", [("malformed", "malformed JSON"), ("empty", "empty response body")])
def test_malformed_and_empty_bodies_are_errors_with_excerpt(fault, message):
    with FakeLLM() as server:
        server.faults = [fault]
        with pytest.raises(LLMError, match=message) as info:
            call(server)
    assert info.value.status == 200 and len(server.requests) == 1
    if fault == "malformed":
        assert '{"choices"' in str(info.value)


def test_truncation_reports_length():
    with FakeLLM() as server:
        server.faults = ["truncate"]
        completion, _ = call(server)
    assert completion.finish_reason == "length" and completion.usage["completion_tokens"] == 50


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("junk") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=0) == 600.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(timeout_s=1, max_attempts=5, backoff_base_s=1, backoff_max_s=5)
    assert policy.backoff(1, rng=lambda: 1.0) == 1 and policy.backoff(3, rng=lambda: 1.0) == 4
    assert policy.backoff(10, rng=lambda: 1.0) == 5 and policy.backoff(3, rng=lambda: 0.0) == 2
