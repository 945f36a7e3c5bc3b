"""LLM calls: made once per request key, archived before anything else, and (in the main
Snakemake process) run by a call engine that keeps each provider's cap of calls in flight.

Snakemake's local executor runs at most `--cores + 5` jobs at once, so a job per call would cap
calls in flight by cores, whatever `--resources openrouter=N` says. Instead the prompt job hands
its call to the engine as soon as the prompt is written, and the generate job collects the
response: calls in flight are then bounded only by the provider's cap."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from daydream.calling.llm import LLMError, complete
from daydream.calling.providers import Endpoint
from daydream.store.archive import Request, archive_response, find_archived, lock_path, now_iso


@dataclass(frozen=True)
class Call:
    stage: str
    gen_dir: Path
    key: str  # archive.request_key(request, prompt)
    request: Request
    prompt: str
    endpoint: Endpoint
    force: bool = False  # call even when a response for this key is archived


def perform_call(call: Call, session=None, sleep=time.sleep) -> tuple[dict, bool]:
    """The archived response for the call's request key, or a new call whose response is
    archived before it is returned. Returns (record, reused).

    The request key's file lock makes concurrent callers (threads, or runs from other checkouts
    on the same data root) wait for the one call in progress instead of paying for a second."""
    if not call.force:
        record = find_archived(call.gen_dir, call.key)
        if record is not None:
            return record, True
    lock = lock_path(call.gen_dir, call.key)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        if not call.force:
            record = find_archived(call.gen_dir, call.key)
            if record is not None:
                return record, True
        completion = complete(call.endpoint, call.request, call.prompt, call.stage, session=session, sleep=sleep)
        record = {
            "request_key": call.key,
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "usage": completion.usage,
            "provider": completion.provider,
            "model": completion.model,
            "duration_s": round(completion.duration_s, 3),
            "attempts": completion.attempts,
            "retries": completion.retries,
            "response_id": completion.response_id,
            "created_at": now_iso(),
        }
        archive_response(call.gen_dir, call.key, record)
    return record, False


class CallEngine:
    """Background calls, at most caps[provider] in flight per provider, one per request key."""

    def __init__(self, caps: dict[str, int]):
        self.caps = dict(caps)
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._futures: dict[tuple[str, str], Future] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closing = threading.Event()

    def _pool(self, provider: str) -> ThreadPoolExecutor:
        pool = self._pools.get(provider)
        if pool is None:
            pool = self._pools[provider] = ThreadPoolExecutor(
                max_workers=self.caps[provider], thread_name_prefix=f"daydream-{provider}"
            )
        return pool

    def _session(self):
        """One HTTP session per worker thread: its connection stays open between calls."""
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def _sleep(self, seconds: float) -> None:
        """Backoff between attempts; a stopping run makes no further attempts."""
        if self._closing.wait(seconds):
            raise LLMError("the run is stopping: no further attempts")

    def _run(self, call: Call) -> tuple[dict, bool]:
        return perform_call(call, self._session(), self._sleep)

    def submit(self, call: Call) -> Future:
        """Start the call in the background (or return the one already started for its key)."""
        with self._lock:
            future = self._futures.get((str(call.gen_dir), call.key))
            if future is None:
                if self._closing.is_set():
                    raise LLMError("the run is stopping: no new calls")
                future = self._pool(call.endpoint.name).submit(self._run, call)
                self._futures[(str(call.gen_dir), call.key)] = future
        return future

    def result(self, call: Call) -> tuple[dict, bool]:
        """Wait for the call's response (starting the call if no prompt job started it)."""
        future = self.submit(call)
        try:
            return future.result()
        finally:
            with self._lock:
                if self._futures.get((str(call.gen_dir), call.key)) is future:
                    del self._futures[(str(call.gen_dir), call.key)]

    def shutdown(self) -> None:
        """Cancel calls not started yet; let the ones in flight finish and archive their response
        (they are paid for), without further retries."""
        self._closing.set()
        for pool in list(self._pools.values()):
            pool.shutdown(wait=True, cancel_futures=True)
