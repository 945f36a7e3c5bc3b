"""An OpenAI-compatible batch API (OpenAI, Together, Groq, Mistral and others): upload a JSONL
file of requests (/files, purpose batch), create a batch of it (/batches), look at it, download
its output and error files, cancel it. Each request is retried like a call (408, 429, 5xx,
timeouts, connection errors; Retry-After honoured), at most policy.max_attempts times."""

from __future__ import annotations

import json
import time

from daydream.calling.llm import LLMError, RetryPolicy, _excerpt, send, with_retries

CHAT_ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "failed", "expired", "cancelled")


class BatchAPI:
    def __init__(self, base_url: str, api_key: str | None, policy: RetryPolicy, session=None, sleep=time.sleep):
        import requests

        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.secrets = (api_key,) if api_key else ()
        self.policy = policy
        self.session = session or requests.Session()
        self.sleep = sleep

    def _request(self, method: str, path: str, attempts: int | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.base_url + path

        def attempt_once(attempt: int, retries: list):
            rejected = f"{method} {path} rejected"
            return send(
                self.session,
                method,
                url,
                self.secrets,
                rejected,
                headers=headers,
                timeout=self.policy.timeout_s,
                **kwargs,
            )

        return with_retries(
            attempt_once, self.policy, sleep=self.sleep, attempts=attempts, giving_up=f"{method} {path}: giving up"
        )

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self._request(method, path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            excerpt = _excerpt(response.text, self.secrets)
            raise LLMError(f"{method} {path}: no JSON in the answer", response.status_code, excerpt) from None
        if not isinstance(data, dict):
            raise LLMError(
                f"{method} {path}: unexpected answer", response.status_code, _excerpt(response.text, self.secrets)
            )
        return data

    def upload(self, name: str, content: bytes) -> str:
        """Upload a batch input file; its id."""
        data = self._json(
            "POST", "/files", data={"purpose": "batch"}, files={"file": (name, content, "application/jsonl")}
        )
        return str(data["id"])

    def create(self, input_file_id: str, completion_window: str, metadata: dict) -> dict:
        """Create a batch: one attempt only. When its answer is lost, the batch may exist: the
        caller looks for it by its input file (find_by_input_file) before creating again."""
        body = {
            "input_file_id": input_file_id,
            "endpoint": CHAT_ENDPOINT,
            "completion_window": completion_window,
            "metadata": metadata,
        }
        return self._json("POST", "/batches", attempts=1, json=body)

    def get(self, batch_id: str) -> dict:
        return self._json("GET", f"/batches/{batch_id}")

    def find_by_input_file(self, input_file_id: str) -> dict | None:
        """The batch made of this input file, if one was created (its creation's answer may have
        been lost: a killed run, a dropped connection)."""
        after = None
        while True:
            page = self._json("GET", "/batches", params={"limit": 100, **({"after": after} if after else {})})
            batches = page.get("data") or []
            for batch in batches:
                if isinstance(batch, dict) and batch.get("input_file_id") == input_file_id:
                    return batch
            if not page.get("has_more") or not batches:
                return None
            after = batches[-1].get("id")

    def lines(self, file_id: str | None) -> list[dict]:
        """The JSON lines of an output or error file ([] when there is none)."""
        if not file_id:
            return []
        text = self._request("GET", f"/files/{file_id}/content").text
        found = []
        for line in text.splitlines():
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a damaged line: its request is treated as not answered
                if isinstance(item, dict):
                    found.append(item)
        return found

    def cancel(self, batch_id: str) -> dict:
        return self._json("POST", f"/batches/{batch_id}/cancel")
