"""OpenAI-compatible chat-completions client with bounded retries, and the offline provider."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from dataclasses import dataclass, field

from daydream.calling.offline import offline_response

RETRY_STATUSES = {408, 429}
MAX_RETRY_AFTER_S = 600.0


class LLMError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, excerpt: str = ""):
        self.status = status
        self.excerpt = excerpt
        detail = f" (HTTP {status})" if status is not None else ""
        tail = f": {excerpt!r}" if excerpt else ""
        super().__init__(f"{message}{detail}{tail}")


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    usage: dict
    provider: str
    model: str
    duration_s: float
    attempts: int = 1
    response_id: str | None = None
    retries: list = field(default_factory=list)
    reasoning: str | None = None  # a separate reasoning field (message.reasoning / reasoning_content)
    reported_cost: float | None = None  # what the provider says it charged (OpenRouter usage.cost)


@dataclass(frozen=True)
class RetryPolicy:
    """Per-request timeout and bounded retries; the values come from the config (its schema
    holds the defaults)."""

    timeout_s: float
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float

    def backoff(self, attempt: int, rng=random.random) -> float:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1)."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling * (0.5 + 0.5 * rng())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER_S))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - now, MAX_RETRY_AFTER_S))


def _excerpt(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    from daydream.calling.credentials import redact

    text = redact(" ".join(text.split()), secrets)
    return text[:limit] + ("..." if len(text) > limit else "")


def _amount(value) -> float | None:
    """A finite, non-negative number from a provider's JSON (which may carry NaN or Infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return value


def _count(value) -> int | None:
    amount = _amount(value)
    return None if amount is None else int(amount)


def _usage(data: dict) -> dict:
    """Token counts; cached prompt tokens and reasoning tokens too when the provider reports them
    (OpenAI and OpenRouter: usage.prompt_tokens_details / usage.completion_tokens_details)."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    prompt = _count(usage.get("prompt_tokens")) or 0
    completion = _count(usage.get("completion_tokens")) or 0
    total = _count(usage.get("total_tokens")) or (prompt + completion)
    counts = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    for details, name, recorded in (
        ("prompt_tokens_details", "cached_tokens", "cached_tokens"),
        ("completion_tokens_details", "reasoning_tokens", "reasoning_tokens"),
    ):
        part = usage.get(details)
        found = _count(part.get(name)) if isinstance(part, dict) else None
        if found is not None:
            counts[recorded] = found
    return counts


def reported_cost(data: dict) -> float | None:
    """The charge the provider reports in the response (OpenRouter's usage.cost, in USD), if any."""
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    cost = _amount(usage.get("cost"))
    return None if cost is None else float(cost)


def separate_reasoning(message: dict) -> str | None:
    """A reasoning model's reasoning sent beside the answer: OpenRouter's message.reasoning, or
    reasoning_content (DeepSeek, vLLM)."""
    for name in ("reasoning", "reasoning_content"):
        text = message.get(name)
        if isinstance(text, str) and text.strip():
            return text
    return None


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


class _Retryable(Exception):
    """A failed attempt worth another: (problem, status, excerpt), and the wait its Retry-After
    asked for (None: backoff)."""

    def __init__(self, problem: str, status: int | None, excerpt: str, wait: float | None = None):
        super().__init__(problem, status, excerpt)
        self.wait = wait


def send(session, method: str, url: str, secrets: tuple[str, ...], rejected: str = "request rejected", **kwargs):
    """One HTTP attempt: the response when its status is 2xx; _Retryable when another attempt is
    worth it (timeouts, connection errors, 408, 429 and 5xx, with the Retry-After wait); LLMError
    for the rest (`rejected` names it). Excerpts never carry the secrets."""
    import requests

    try:
        response = session.request(method, url, **kwargs)
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise _Retryable(type(exc).__name__, None, _excerpt(str(exc), secrets)) from None
    except requests.RequestException as exc:  # the request could not be sent (a bad header or URL)
        raise LLMError(f"request not sent: {type(exc).__name__}", None, _excerpt(str(exc), secrets)) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    excerpt = _excerpt(response.text, secrets)
    if not is_retryable_status(status):
        raise LLMError(rejected, status, excerpt)
    raise _Retryable(f"HTTP {status}", status, excerpt, parse_retry_after(response.headers.get("Retry-After")))


def with_retries(
    attempt_once,
    policy: RetryPolicy,
    *,
    sleep=time.sleep,
    rng=random.random,
    before_attempt=None,
    attempts: int | None = None,
    giving_up: str = "giving up",
):
    """attempt_once(attempt, retries) until it returns, at most `attempts` times (default
    policy.max_attempts): after a _Retryable, the wait its Retry-After asked for, else backoff
    with jitter. `retries` lists each failed attempt and its wait. before_attempt() runs before
    each attempt (a rate limit's turn)."""
    retries = []
    limit = attempts or policy.max_attempts
    for attempt in range(1, limit + 1):
        if before_attempt is not None:
            before_attempt()
        try:
            return attempt_once(attempt, retries)
        except _Retryable as failed:
            (problem, status, excerpt), wait = failed.args, failed.wait
        if attempt == limit:
            raise LLMError(f"{giving_up} after {attempt} attempts, the last: {problem}", status, excerpt)
        if wait is None:
            wait = policy.backoff(attempt, rng)
        retries.append({"attempt": attempt, "problem": problem, "wait_s": round(wait, 3)})
        sleep(wait)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Answer:
    text: str
    finish_reason: str | None
    usage: dict
    response_id: str | None
    reasoning: str | None
    cost: float | None

    def completion(self, provider: str, model: str, duration_s: float, attempts: int = 1, retries=()) -> Completion:
        return Completion(
            self.text,
            self.finish_reason,
            self.usage,
            provider,
            model,
            duration_s,
            attempts,
            self.response_id,
            list(retries),
            self.reasoning,
            self.cost,
        )


def _completion_from_body(status: int, body: str, secrets: tuple[str, ...]) -> _Answer:
    """The answer in a 200 body. A body that is no completion is worth
    another attempt (an HTML gateway page, cut-off JSON, no choices, an empty completion), as is
    an error object whose code is a retryable status (OpenRouter sends {"error": {"code": 502}}
    with status 200 when a failure happens after the model started); other error codes are not."""
    if not body.strip():
        raise _Retryable("empty response body", status, "")
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise _Retryable("malformed JSON in response", status, _excerpt(body, secrets)) from None
    if not isinstance(data, dict):
        raise _Retryable("unexpected JSON shape in response", status, _excerpt(body, secrets))
    error = data.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        excerpt = _excerpt(json.dumps(error), secrets)
        if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
            if is_retryable_status(int(code)):
                raise _Retryable(f"provider error {code} in the response body", status, excerpt)
        raise LLMError(f"provider error {code} in the response body", status, excerpt)
    choices = data.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        raise _Retryable("response has no choices", status, _excerpt(body, secrets))
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    text = message.get("content")
    finish_reason = choice.get("finish_reason")
    if finish_reason == "length" and not text:
        text = ""  # cut off before any text (a reasoning model mid-thought): a truncation to report
    elif not isinstance(text, str) or not text.strip():
        raise _Retryable(f"empty completion (finish_reason={finish_reason})", status, _excerpt(body, secrets))
    return _Answer(text, finish_reason, _usage(data), data.get("id"), separate_reasoning(message), reported_cost(data))


def chat_payload(model: str, prompt: str, max_tokens: int, temperature: float, extra_body: dict | None) -> dict:
    """The body of a chat-completions request (a call's, or one line of a batch)."""
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": temperature,
        **(extra_body or {}),
    }


def answer_in(status: int, body: str, secrets: tuple[str, ...] = ()) -> _Answer:
    """The answer in a response body (a batch's output line's), or LLMError saying why there is
    none."""
    try:
        return _completion_from_body(status, body, secrets)
    except _Retryable as failed:
        problem, status, excerpt = failed.args
        raise LLMError(problem, status, excerpt) from None


def chat_completion(
    *,
    base_url: str,
    api_key: str | None,
    model: str,
    prompt: str,
    max_tokens: int,
    temperature: float,
    provider: str,
    policy: RetryPolicy,
    session=None,
    sleep=time.sleep,
    rng=random.random,
    before_attempt=None,
    extra_body: dict | None = None,
) -> Completion:
    """One chat completion. Retried, with backoff or as Retry-After says: 408, 429 and 5xx,
    timeouts, connection errors, and 200 bodies that are no completion; at most
    policy.max_attempts attempts. Other statuses fail at once. before_attempt() runs before each
    attempt (the provider's rate limit). extra_body: more request fields (response_format, usage)."""
    import requests

    session = session or requests.Session()
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    secrets = (api_key,) if api_key else ()
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    payload = chat_payload(model, prompt, max_tokens, temperature, extra_body)
    started = time.monotonic()

    def attempt_once(attempt: int, retries: list) -> Completion:
        response = send(session, "POST", url, secrets, headers=headers, json=payload, timeout=policy.timeout_s)
        if response.status_code != 200:
            raise LLMError("request rejected", response.status_code, _excerpt(response.text, secrets))
        answer = _completion_from_body(response.status_code, response.text, secrets)
        return answer.completion(provider, model, time.monotonic() - started, attempt, retries)

    return with_retries(attempt_once, policy, sleep=sleep, rng=rng, before_attempt=before_attempt)


def offline_completion(
    *, stage: str, prompt: str, model: str, max_tokens: int, response_format: str | None = None
) -> Completion:
    started = time.monotonic()
    text = offline_response(stage, prompt, model, "json" if response_format else None)
    prompt_tokens = len(prompt.split())
    completion_tokens = len(text.split())
    finish_reason = "stop"
    if completion_tokens > max_tokens:
        text = " ".join(text.split(" ")[:max_tokens])
        completion_tokens = max_tokens
        finish_reason = "length"
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return Completion(text, finish_reason, usage, "offline", model, time.monotonic() - started)


def complete(endpoint, request, prompt: str, stage: str, *, session=None, sleep=time.sleep) -> Completion:
    """One completion of `prompt` for `request` (archive.Request) at `endpoint`
    (providers.Endpoint): the offline provider (shaped like `stage`'s output), or an
    OpenAI-compatible server with the key from the environment or .env (a loopback server is
    called without one when none is set)."""
    from daydream.calling.credentials import api_key_from, missing_api_key
    from daydream.errors import InputError

    if endpoint.base_url is None:
        return offline_completion(
            stage=stage,
            prompt=prompt,
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=request.response_format,
        )
    if missing_api_key(endpoint.base_url, endpoint.api_key_env):
        raise InputError(f"no API key: set {endpoint.api_key_env} in the environment or in .env", field="api_key_env")
    before_attempt = None
    if endpoint.requests_per_minute:
        from functools import partial

        from daydream.calling.rate_limit import limit_file, wait_turn

        path = limit_file(endpoint.base_url, endpoint.api_key_env)
        before_attempt = partial(wait_turn, path, endpoint.requests_per_minute, sleep)
    return chat_completion(
        base_url=endpoint.base_url,
        api_key=api_key_from(endpoint.api_key_env),
        model=request.model,
        prompt=prompt,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        provider=endpoint.name,
        policy=endpoint.policy,
        session=session,
        sleep=sleep,
        before_attempt=before_attempt,
        extra_body=request_extras(endpoint, request),
    )


def request_extras(endpoint, request) -> dict:
    """Request fields beyond the chat basics: the structured output's schema, and OpenRouter's
    ask for the charge (which changes no answer, so is no part of the request key)."""
    from daydream.text.structured import response_format

    extras = {}
    if request.response_format:
        extras["response_format"] = response_format(request.response_format)
    if endpoint.usage_accounting:
        extras["usage"] = {"include": True}
    return extras
