"""The HTTP client against a real server on 127.0.0.1, including its faults."""

import json
import time

import pytest

from daydream.calling.llm import MAX_RETRY_AFTER_S, LLMError, RetryPolicy, chat_completion, parse_retry_after

from llm_server import FakeLLM

FAST = RetryPolicy(timeout_s=1.0, max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.05)


def call(server, policy=FAST, api_key="sk-test", **kw):
    sleeps = []
    completion = chat_completion(
        base_url=server.base_url,
        api_key=api_key,
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


@pytest.mark.parametrize("fault", ["429", "503"])
def test_retry_after_is_the_wait(fault):
    with FakeLLM(retry_after="2") as server:
        server.faults = [fault]
        completion, sleeps = call(server)
    assert sleeps == [2.0] and completion.attempts == 2 and len(server.requests) == 2
    assert completion.retries == [{"attempt": 1, "problem": f"HTTP {fault}", "wait_s": 2.0}]


@pytest.mark.parametrize("fault", ["408", "500", "502", "503", "reset"])
def test_transient_failures_are_retried_with_backoff(fault):
    with FakeLLM(retry_after="junk") as server:  # no usable Retry-After: the backoff decides
        server.faults = [fault, fault]
        completion, sleeps = call(server)
    assert len(sleeps) == 2 and all(0.005 <= s <= 0.05 for s in sleeps)
    assert completion.attempts == 3 and len(server.requests) == 3


@pytest.mark.parametrize("fault", ["400", "401"])
def test_other_4xx_are_not_retried(fault):
    with FakeLLM() as server:
        server.faults = [fault]
        with pytest.raises(LLMError, match="rejected") as info:
            call(server)
    assert info.value.status == int(fault) and len(server.requests) == 1


def test_500_gives_up_after_max_attempts():
    with FakeLLM() as server:
        server.faults = ["500"] * 5
        with pytest.raises(LLMError, match="giving up after 3 attempts") as info:
            call(server)
    assert info.value.status == 500 and "upstream failed" in str(info.value)
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_a_clear_error():
    with FakeLLM() as server:
        url = server.base_url  # the port is free again once the server stops
    sleeps = []
    with pytest.raises(LLMError, match="giving up after 3 attempts, the last: ConnectionError"):
        chat_completion(
            base_url=url, api_key=None, model="m", prompt="p", max_tokens=5, temperature=0.0,
            provider="p", policy=FAST, sleep=sleeps.append,
        )  # fmt: skip
    assert len(sleeps) == 2


def test_timeouts_exhausting_every_attempt_end_in_a_clear_error():
    with FakeLLM(hang_s=1.0) as server:
        server.faults = ["timeout", "timeout"]
        policy = RetryPolicy(timeout_s=0.2, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.05)
        with pytest.raises(LLMError, match="giving up after 2 attempts, the last: ReadTimeout"):
            call(server, policy=policy)
    assert len(server.requests) == 2


def test_timeout_is_retried():
    with FakeLLM(hang_s=1.5) as server:
        server.faults = ["timeout"]
        started = time.monotonic()
        completion, sleeps = call(
            server, policy=RetryPolicy(timeout_s=0.3, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.05)
        )
    assert completion.attempts == 2 and len(sleeps) == 1 and time.monotonic() - started < 5


@pytest.mark.parametrize(
    "fault,message,excerpt",
    [
        ("malformed", "malformed JSON", '{"choices"'),
        ("empty", "empty response body", ""),
        ("html", "malformed JSON", "502 Bad Gateway"),
        ("nochoices", "no choices", "chat.completion"),
        ("error502", "provider error 502", "Provider returned error"),
    ],
)
def test_bodies_that_are_no_completion_are_retried_then_fail_with_status_and_excerpt(fault, message, excerpt):
    with FakeLLM() as server:
        server.faults = [fault]
        completion, sleeps = call(server)  # once: the second attempt succeeds
        assert completion.attempts == 2 and message in completion.retries[0]["problem"]
        server.faults = [fault] * 3
        with pytest.raises(LLMError, match=message) as info:
            call(server)
    assert info.value.status == 200 and excerpt in str(info.value)
    assert len(server.requests) == 2 + 3


def test_error_object_with_a_client_error_code_is_not_retried():
    with FakeLLM() as server:
        server.faults = ["error400"]
        with pytest.raises(LLMError, match="provider error 400") as info:
            call(server)
    assert "Context length exceeded" in str(info.value) and len(server.requests) == 1


def test_empty_completion_cut_at_length_is_a_truncation_not_an_error():
    with FakeLLM() as server:
        server.faults = ["empty-length"]
        completion, sleeps = call(server)
    assert completion.text == "" and completion.finish_reason == "length" and sleeps == []


def test_echoed_key_is_redacted_from_errors():
    def echo(server_self, handler, body, fault):
        auth = handler.headers.get("Authorization", "")
        server_self._send(handler, 401, json.dumps({"error": f"bad credentials: {auth}"}).encode())

    with FakeLLM() as server:
        server.respond = lambda handler, body, fault: echo(server, handler, body, fault)
        with pytest.raises(LLMError) as info:
            call(server)
    assert "sk-test" not in str(info.value) and "[redacted]" in str(info.value)


def test_truncation_reports_length():
    with FakeLLM() as server:
        server.faults = ["truncate"]
        completion, _ = call(server)
    assert completion.finish_reason == "length" and completion.usage["completion_tokens"] == 50


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("86400") == MAX_RETRY_AFTER_S  # a day's wait is capped, not slept
    assert parse_retry_after("junk") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=0) == 600.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(timeout_s=1, max_attempts=5, backoff_base_s=1, backoff_max_s=5)
    assert policy.backoff(1, rng=lambda: 1.0) == 1 and policy.backoff(3, rng=lambda: 1.0) == 4
    assert policy.backoff(10, rng=lambda: 1.0) == 5 and policy.backoff(3, rng=lambda: 0.0) == 2


def test_a_request_that_cannot_be_sent_fails_once_without_the_key_in_the_error():
    """requests puts a header it refuses (here a key with a line break) into its error text."""
    with FakeLLM() as server:
        with pytest.raises(LLMError) as info:
            call(server, api_key="sk-secret-abc123\n")
    assert "request not sent: InvalidHeader" in str(info.value)
    assert "secret-abc123" not in str(info.value) and "[redacted]" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "text",
    [
        "token=LOCALkey42 rejected",  # the value as given
        "header value: 'LOCALkey42\\n'",  # as Python shows it in an error
        "Authorization: Bearer abcdefgh12345678",  # shaped like a key: any bearer token
        "key sk-or-v1-0123456789abcdef",  # shaped like a key: OpenAI / OpenRouter style
    ],
)
def test_redaction_of_configured_and_key_shaped_secrets(text):
    from daydream.calling.credentials import redact

    redacted = redact(text, ("LOCALkey42\n",))
    assert "[redacted]" in redacted
    assert not any(part in redacted for part in ("LOCALkey42", "12345678", "0123456789abcdef"))


def test_token_counts_and_charges_that_are_no_finite_amount_are_not_recorded():
    from daydream.calling.llm import _usage, reported_cost

    body = json.loads('{"usage": {"prompt_tokens": Infinity, "completion_tokens": NaN, "total_tokens": -3, '
                      '"completion_tokens_details": {"reasoning_tokens": 7}, "cost": Infinity}}')  # fmt: skip
    assert _usage(body) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "reasoning_tokens": 7}
    assert reported_cost(body) is None
    assert reported_cost({"usage": {"cost": 0.25}}) == 0.25 and reported_cost({"usage": {"cost": True}}) is None
