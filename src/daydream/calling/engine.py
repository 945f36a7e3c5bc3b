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

from daydream.calling.batching import BatchInFlight, BatchQueue
from daydream.calling.llm import Completion, LLMError, complete
from daydream.calling.providers import Endpoint
from daydream.store.archive import Request, now_iso, request_fields
from daydream.store.batches import describe, in_open_batch
from daydream.store.layout import StoreLayout
from daydream.store.responses import Found, archive, own_response, request_lock, shared_response


@dataclass(frozen=True)
class Call:
    stage: str
    gen_id: str
    store: StoreLayout  # the data root: the archive, the index, the request locks
    key: str  # archive.request_key(request, prompt)
    request: Request
    prompt: str
    endpoint: Endpoint
    slot: int = 1  # the replicate: which response to this request the generation is
    force: bool = False  # DD_FORCE_CALL: call even when a response is archived
    reuse: str = "store"  # "store": any generation's response to the same request and slot; "cohort": own only
    redo_after: str | None = None  # daydream redo: only a response archived after this stamp will do

    @property
    def gen_dir(self) -> Path:
        return self.store.gen_dir(self.stage, self.gen_id)


def find_response(call: Call) -> Found | None:
    """A response already archived for the call, short of calling: the generation's own, else
    (reuse: store) another generation's to the same request and slot."""
    if call.force:
        return None
    found = own_response(call.store, call.stage, call.gen_id, call.key, call.redo_after)
    if found is None and call.reuse == "store" and call.redo_after is None:
        found = shared_response(call.store, call.stage, call.gen_id, call.key, call.slot)
    return found


def perform_call(call: Call, session=None, sleep=time.sleep) -> Found:
    """The archived response for the call, or a new call whose response is archived (and indexed)
    before it is returned.

    The lock of the request key and slot makes concurrent callers (threads, another cohort's run
    on the same data root, jobs on other nodes) wait for the one call in progress and then reuse
    its response instead of paying for a second. The archive is looked up only under the lock: a
    look before it would read the same files twice for every new call."""
    with request_lock(call.store, call.key, call.slot):
        found = find_response(call)
        if found is not None:
            return found
        pending = in_open_batch(call.store, call.endpoint.name, call.key, call.slot)
        if pending is not None:
            raise BatchInFlight(
                f"the request is in {describe(pending)}: a local run of the same command collects it "
                "(a call now would pay for it twice)"
            )
        completion = complete(call.endpoint, call.request, call.prompt, call.stage, session=session, sleep=sleep)
        record = response_record(call.key, call.request, call.prompt, call.slot, completion)
        file = archive(call.store, call.stage, call.gen_id, call.key, call.slot, record)
    return Found(record, "called", file)


def response_record(key: str, request: Request, prompt: str, slot: int, completion: Completion, **extra) -> dict:
    """The archive record of a completion: the text as received, its reasoning and reported
    charge when the provider sent them, and the request it answers."""
    record = {
        "request_key": key,
        "request": request_fields(request, prompt),
        "slot": slot,
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
        **extra,
    }
    if completion.reasoning is not None:
        record["reasoning"] = completion.reasoning
    if completion.reported_cost is not None:
        record["reported_cost"] = completion.reported_cost
    return record


class CallEngine:
    """Background calls, at most caps[provider] in flight per provider, one per request key."""

    def __init__(self, caps: dict[str, int]):
        self.caps = dict(caps)
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._futures: dict[tuple[str, str], Future] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closing = threading.Event()
        self._batches: dict[str, BatchQueue] = {}

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

    def _run(self, call: Call) -> Found:
        return perform_call(call, self._session(), self._sleep)

    def submit(self, call: Call) -> Future:
        """Start the call in the background (or return the one already started for its key): a
        call of a batched stage goes to the provider's batch queue (not one asking for a new
        response: DD_FORCE_CALL, daydream redo)."""
        with self._lock:
            future = self._futures.get((call.stage, call.gen_id, call.key))
            if future is None:
                if self._closing.is_set():
                    raise LLMError("the run is stopping: no new calls")
                if call.endpoint.batches(call.stage) and not call.force and call.redo_after is None:
                    future = self._batch_queue(call).submit(call)
                else:
                    future = self._pool(call.endpoint.name).submit(self._run, call)
                self._futures[(call.stage, call.gen_id, call.key)] = future
        return future

    def _batch_queue(self, call: Call) -> BatchQueue:
        queue = self._batches.get(call.endpoint.name)
        if queue is None:
            pool = self._pool(call.endpoint.name)  # what batches do not answer: called within the cap
            queue = self._batches[call.endpoint.name] = BatchQueue(
                call.endpoint, call.store, call_normally=lambda unbatched: pool.submit(self._run, unbatched)
            )
        return queue

    def result(self, call: Call) -> Found:
        """Wait for the call's response (starting the call if no prompt job started it)."""
        future = self.submit(call)
        try:
            return future.result()
        finally:
            with self._lock:
                if self._futures.get((call.stage, call.gen_id, call.key)) is future:
                    del self._futures[(call.stage, call.gen_id, call.key)]

    def stop(self) -> None:
        """Stop paying, at once (safe in a signal handler): no new call starts, calls not started
        yet are cancelled (their jobs fail fast), calls waiting for a backoff or a rate-limit turn
        give up, and calls in flight finish and archive their response (they are paid for)."""
        self._closing.set()
        for pool in list(self._pools.values()):
            pool.shutdown(wait=False, cancel_futures=True)
        for queue in list(self._batches.values()):
            queue.stop()

    def shutdown(self) -> None:
        """stop(), then wait for the calls in flight."""
        self.stop()
        for pool in list(self._pools.values()):
            pool.shutdown(wait=True)
        for queue in list(self._batches.values()):
            queue.join(timeout=60)
