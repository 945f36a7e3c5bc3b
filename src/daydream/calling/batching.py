"""Batch mode: the calls of a provider's batched stages are gathered, submitted as batches
(calling/batch_api.py), watched, and collected into the response archive exactly like the
responses of normal calls, so reuse, the plan and the guards see them.

Every step that reaches the provider is written to the batch's ledger first (store/batches.py):
the requests of a batch and its input file before the upload, the file id before the batch is
created, the batch id before it is watched. A run killed at any step resumes from the ledger:
a batch whose creation's answer was lost is found again by its input file, and a request in an
open batch is never put in another. Requests that fail or expire are submitted again, up to
max_submissions times, then made as normal calls."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict

from daydream.calling.batch_api import CHAT_ENDPOINT, FINISHED, BatchAPI
from daydream.calling.llm import LLMError, answer_in, chat_payload, is_retryable_status, request_extras
from daydream.fileio import read_text, write_atomic
from daydream.store import batches
from daydream.store.archive import Request, own_records
from daydream.store.batches import Item, Ledger
from daydream.store.layout import StoreLayout
from daydream.store.responses import Found, archive


class _Undecidable(Exception):
    """Whether a batch was created cannot be known from here."""


class BatchInFlight(LLMError):
    """The call's request is in a batch the provider has not finished (batch wait: false)."""


def custom_id(stage: str, gen_id: str, key: str, slot: int) -> str:
    return f"{stage}.{gen_id}.{key}.{slot}"


def input_line(item: Item, request: Request, prompt: str, endpoint) -> str:
    body = chat_payload(
        request.model, prompt, request.max_tokens, request.temperature, request_extras(endpoint, request)
    )
    return json.dumps({"custom_id": item.custom_id, "method": "POST", "url": CHAT_ENDPOINT, "body": body})


def request_of(provider: str, body: dict) -> tuple[Request, str]:
    """The request and prompt a batch input line carries."""
    response_format = (body.get("response_format") or {}).get("json_schema", {}).get("name")
    request = Request(provider, body["model"], body["max_tokens"], body["temperature"], response_format)
    return request, body["messages"][-1]["content"]


class BatchQueue:
    """One provider's batched calls, gathered, submitted and collected by one background thread."""

    def __init__(
        self,
        endpoint,
        store: StoreLayout,
        api: BatchAPI | None = None,
        report=None,
        clock=time.monotonic,
        call_normally=None,
    ):
        """call_normally(call) -> Future: how a request the batches did not answer is called
        (the call engine's pool, within the provider's cap; by default a pool of its own of
        max_concurrency threads)."""
        from daydream.calling.credentials import api_key_from

        self.endpoint = endpoint
        self.settings = endpoint.batch
        self.store = store
        self.api = api or BatchAPI(endpoint.base_url, api_key_from(endpoint.api_key_env), endpoint.policy)
        self.report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self._lock = threading.RLock()  # _in_flight is called with it held and without
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._pending: list[tuple[Item, object]] = []  # (item, its Call), not in any ledger yet
        self._waiters: dict[str, list[tuple[object, Future]]] = {}  # custom_id -> (Call, Future)
        self._calls: dict[str, object] = {}  # custom_id -> a Call that wants it (for a normal call)
        self._open: dict[str, Ledger] = {}
        self._requests: dict[tuple[str, int], dict[str, Item]] = {}  # (key, slot) -> items by custom id
        self._where: dict[str, str | None] = {}  # custom id -> its open ledger, None while gathered
        self._polled: dict[str, float] = {}  # local id -> when its last step began
        self._seen_in_flight: set[str] = set()  # local ids this run saw in flight at the provider
        self._last_add = 0.0
        self._started_at = batches.now_iso()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        if call_normally is None:
            from concurrent.futures import ThreadPoolExecutor

            from daydream.calling.engine import perform_call

            pool = ThreadPoolExecutor(max_workers=endpoint.max_concurrency, thread_name_prefix="daydream-unbatched")
            call_normally = lambda call: pool.submit(perform_call, call)  # noqa: E731
        self._call_normally = call_normally

    # ---- what the engine asks --------------------------------------------------------------
    def submit(self, call) -> Future:
        """A future of the call's response: archived already, in an open batch, or gathered
        for the next one."""
        from daydream.calling.engine import find_response

        future: Future = Future()
        found = find_response(call)
        if found is not None:
            future.set_result(found)
            return future
        with self._lock:
            if self._closing.is_set():
                raise LLMError("the run is stopping: no new calls")
            self._start()
            item, where = self._lookup(call)
            if item is None:
                item = Item(
                    custom_id(call.stage, call.gen_id, call.key, call.slot),
                    call.key,
                    call.slot,
                    call.stage,
                    call.gen_id,
                )
                self._pending.append((item, call))
                self._index(item, None)
                self._last_add = self.clock()
                self._wake.set()
            self._waiters.setdefault(item.custom_id, []).append((call, future))
            self._calls.setdefault(item.custom_id, call)
            if where is not None and not self.settings.wait and where in self._seen_in_flight:
                self._in_flight([item.custom_id], self._open[where])
        return future

    def _index(self, item: Item, local_id: str | None) -> None:
        """Where a request is: gathered (None) or in an open batch (its ledger's local id)."""
        self._requests.setdefault((item.key, item.slot), {})[item.custom_id] = item
        self._where[item.custom_id] = local_id

    def _lookup(self, call) -> tuple[Item | None, str | None]:
        """The gathered or open-batch item that answers the call, and its ledger (None: gathered)."""
        for item in self._requests.get((call.key, call.slot), {}).values():
            if item.custom_id not in self._where:
                continue
            where = self._where[item.custom_id]
            if self._same_request(item, call) and (where is None or where in self._open):
                return item, where
        return None, None

    def _forget(self, item: Item) -> None:
        self._requests.get((item.key, item.slot), {}).pop(item.custom_id, None)
        self._where.pop(item.custom_id, None)

    @staticmethod
    def _same_request(item: Item, call) -> bool:
        if item.key != call.key or item.slot != call.slot:
            return False
        return call.reuse == "store" or (item.stage, item.gen_id) == (call.stage, call.gen_id)

    def stop(self) -> None:
        """Nothing more is submitted; calls waiting fail (their batches stay in the ledger: the
        next run collects them). Gathered requests not yet in a ledger were never sent."""
        self._closing.set()
        self._wake.set()
        with self._lock:
            waiters = [w for group in self._waiters.values() for w in group]
            self._waiters.clear()
            self._pending.clear()
            self._requests.clear()
            self._where.clear()
        for _, future in waiters:
            if not future.done():
                future.set_exception(LLMError("the run is stopping: batches in flight are collected by the next run"))

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the background thread -------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None:
            for ledger in batches.open_ledgers(self.store, self.endpoint.name):
                self._open[ledger.local_id] = ledger
                for item in ledger.items:
                    self._index(item, ledger.local_id)
            self._thread = threading.Thread(target=self._loop, name=f"daydream-batch-{self.endpoint.name}", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                self._step()
                failures = 0
            except Exception as exc:  # a provider fault beyond the retries: said, then tried again
                failures += 1
                self.errors.append(str(exc))
                self.report(f"batch ({self.endpoint.name}): {exc}")
                if failures >= self.endpoint.policy.max_attempts:
                    # bounded like a call: this run's calls fail; the ledgers stay for the next run
                    for ledger in list(self._open.values()):
                        self._give_up_for_now(ledger, f"batch ({self.endpoint.name}) given up for this run: {exc}")
                    failures = 0
                self._closing.wait(self.settings.poll_s)
            self._wake.wait(self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        now = self.clock()
        waits = [self.settings.poll_s]
        if self._pending:
            waits.append(self._last_add + self.settings.gather_s - now)
        for local_id in self._open:
            waits.append(self._polled.get(local_id, -1e9) + self.settings.poll_s - now)
        return max(0.05, min(waits))

    def _step(self) -> None:
        now = self.clock()
        with self._lock:
            full = len(self._pending) >= self.settings.max_requests
            due = self._pending and (full or now - self._last_add >= self.settings.gather_s)
            taken = self._pending if due else []
            if due:
                self._pending = []
        if taken:
            try:
                self._submit(taken)
            except Exception:
                with self._lock:  # what no ledger holds yet is gathered again, not lost
                    self._pending[:0] = [(i, c) for i, c in taken if self._where.get(i.custom_id, "") is None]
                raise
        for ledger in list(self._open.values()):
            if self._closing.is_set():
                return
            if self.clock() - self._polled.get(ledger.local_id, -1e9) >= self.settings.poll_s:
                self._advance(ledger)

    # ---- submitting ------------------------------------------------------------------------
    def _chunks(self, taken: list[tuple[Item, object]]):
        chunk, size = [], 0
        for item, call in taken:
            line = input_line(item, call.request, call.prompt, call.endpoint) + "\n"
            length = len(line.encode("utf-8"))
            if chunk and (len(chunk) >= self.settings.max_requests or size + length > self.settings.max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append((item, call, line))
            size += length
        if chunk:
            yield chunk

    def _submit(self, taken: list[tuple[Item, object]]) -> None:
        for chunk in self._chunks(taken):
            with batches.ledger_lock(self.store):
                # another run on this data root may have put some of these requests in a batch since
                elsewhere = {}
                for ledger in batches.open_ledgers(self.store, self.endpoint.name):
                    for theirs in ledger.items:
                        elsewhere.setdefault((theirs.key, theirs.slot), []).append((ledger, theirs))
                kept = []
                for item, call, line in chunk:
                    found = [(ledger, theirs) for ledger, theirs in elsewhere.get((item.key, item.slot), [])
                             if self._same_request(theirs, call)]  # fmt: skip
                    if found:
                        self._follow(item, *found[0])
                    else:
                        kept.append((item, line))
                if not kept:
                    continue
                stage = kept[0][0].stage
                ledger = Ledger(
                    batches.new_local_id(),
                    self.endpoint.name,
                    stage,
                    "prepared",
                    batches.now_iso(),
                    [i for i, _ in kept],
                )
                write_atomic(self._input_file(ledger), "".join(line for _, line in kept))
                batches.save(self.store, ledger)
                with self._lock:
                    self._open[ledger.local_id] = ledger
                    for item, _ in kept:
                        self._where[item.custom_id] = ledger.local_id
            try:
                self._advance(ledger)
            except LLMError as exc:  # the ledger is open: the loop takes it up again
                self.errors.append(str(exc))
                self.report(f"batch ({self.endpoint.name}): {exc}; tried again in {self.settings.poll_s:g} s")

    def _follow(self, item: Item, ledger: Ledger, theirs: Item) -> None:
        """A gathered request found in another run's open batch: wait for that one instead."""
        with self._lock:
            self._open.setdefault(ledger.local_id, ledger)
            self._forget(item)
            self._index(theirs, ledger.local_id)
            waiters = self._waiters.pop(item.custom_id, [])
            self._waiters.setdefault(theirs.custom_id, []).extend(waiters)
            call = self._calls.pop(item.custom_id, None)
            if call is not None:
                self._calls.setdefault(theirs.custom_id, call)

    def _input_file(self, ledger: Ledger):
        return self.store.batch_ledger(ledger.provider, ledger.local_id).with_suffix(".jsonl")

    def _advance(self, ledger: Ledger) -> None:
        """One step of the ledger's batch: upload, create, look, collect (each saved first);
        the next one poll_s later."""
        self._polled[ledger.local_id] = self.clock()
        batch = None
        if ledger.state in ("prepared", "uploaded"):
            try:
                batch = self._create(ledger)
            except LLMError as exc:
                if exc.status is None or is_retryable_status(exc.status):
                    raise  # tried again later, from the ledger
                self._refused(ledger, exc)  # no batch was made: nothing paid, nothing in flight
                return
            except _Undecidable as exc:
                self._give_up_for_now(ledger, str(exc))
                return
            if batch is None:
                return  # advanced or closed by another run on this data root
        if ledger.state == "uploaded":
            self._note(ledger, batch)
            ledger.state = "submitted"
            batches.save(self.store, ledger)
            self.report(f"submitted {batches.describe(ledger)}")
            self._polled[ledger.local_id] = self.clock()
            if not self.settings.wait:
                self._in_flight([i.custom_id for i in ledger.items], ledger)
            return
        if ledger.state == "submitted":
            batch = self.api.get(ledger.batch_id)
            with batches.ledger_lock(self.store):
                if not self._same_as_on_disk(ledger):
                    return  # collected or cancelled by another run on this data root
                before = (ledger.status, ledger.counts)
                self._note(ledger, batch)
                changed = (ledger.status, ledger.counts) != before
                if changed:
                    batches.save(self.store, ledger)
            if changed:
                self.report(batches.describe(ledger))
            if ledger.status in FINISHED:
                self._collect(ledger, batch)
            elif not self.settings.wait:
                self._in_flight([i.custom_id for i in ledger.items], ledger)

    def _create(self, ledger: Ledger) -> dict | None:
        """Upload the input file and create the batch, under the ledger lock and from the ledger
        as on disk (another run on this data root may have gone further with it). A batch whose
        creation was sent before is looked for by its input file first: its answer may have been
        lost (a kill, a dropped connection). Returns the batch, None when another run had it."""
        with batches.ledger_lock(self.store):
            if not self._same_as_on_disk(ledger) or ledger.state not in ("prepared", "uploaded"):
                return None
            if ledger.state == "prepared":
                content = read_text(self._input_file(ledger)).encode("utf-8")
                ledger.input_file_id = self.api.upload(f"daydream-{ledger.local_id}.jsonl", content)
                ledger.state = "uploaded"
                batches.save(self.store, ledger)
            if ledger.create_sent_at:
                try:
                    found = self.api.find_by_input_file(ledger.input_file_id)
                except LLMError as exc:
                    if exc.status in (404, 405, 501):
                        raise _Undecidable(
                            f"the creation of {batches.describe(ledger)} was sent at {ledger.create_sent_at} and its "
                            f"answer lost, and {ledger.provider} cannot list batches to find it: if it exists at the "
                            "provider, cancel it there; `daydream batches --cancel` then closes it here"
                        ) from None
                    raise
                if found is not None:
                    return found
            ledger.create_sent_at = batches.now_iso()
            batches.save(self.store, ledger)
            return self.api.create(
                ledger.input_file_id, self.settings.completion_window, {"daydream_batch": ledger.local_id}
            )

    def _same_as_on_disk(self, ledger: Ledger) -> bool:
        """Take the ledger as on disk when another run changed it; False when that run closed it
        (then its requests are answered from the archive, or said to be unanswered)."""
        on_disk = batches.load(self.store.batch_ledger(ledger.provider, ledger.local_id))
        if on_disk is None or asdict(on_disk) == asdict(ledger):
            return True
        ledger.__dict__.update(on_disk.__dict__)
        if ledger.open:
            return True
        self._let_go(ledger)
        for item in ledger.items:
            self._resolve(item, None)
        return False

    def _let_go(self, ledger: Ledger) -> None:
        """This run watches the ledger no more: its requests are no longer found in it."""
        with self._lock:
            self._open.pop(ledger.local_id, None)
            for item in ledger.items:
                self._forget(item)

    def _fail(self, custom_ids, error: Callable[[], Exception]) -> None:
        """The calls waiting for these requests fail, each with a new error(); not settled twice."""
        with self._lock:
            waiters = [w for cid in custom_ids for w in self._waiters.pop(cid, [])]
        for _, future in waiters:
            if not future.done():
                future.set_exception(error())

    def _give_up_for_now(self, ledger: Ledger, reason: str) -> None:
        """A batch this run cannot settle: its calls fail saying why, the ledger stays open."""
        self.report(reason)
        self._let_go(ledger)
        self._fail([item.custom_id for item in ledger.items], lambda: LLMError(reason))

    def _refused(self, ledger: Ledger, exc: LLMError) -> None:
        ledger.state = "failed"
        ledger.unanswered = {item.custom_id: str(exc) for item in ledger.items}
        batches.save(self.store, ledger)
        self._let_go(ledger)
        self.report(f"the provider refused {batches.describe(ledger)}: {exc}")
        self._fail(
            [item.custom_id for item in ledger.items], lambda: LLMError(f"batch refused by {ledger.provider}: {exc}")
        )

    @staticmethod
    def _note(ledger: Ledger, batch: dict) -> None:
        ledger.batch_id = str(batch.get("id") or ledger.batch_id)
        ledger.status = batch.get("status")
        counts = batch.get("request_counts")
        ledger.counts = counts if isinstance(counts, dict) else {}

    def _in_flight(self, custom_ids: list[str], ledger: Ledger) -> None:
        message = (
            f"in {batches.describe(ledger)}; batch wait is false: the same command later collects it "
            "(daydream batches shows every batch)"
        )
        with self._lock:
            self._seen_in_flight.add(ledger.local_id)
        self._fail(custom_ids, lambda: BatchInFlight(message))

    # ---- collecting ------------------------------------------------------------------------
    def _collect(self, ledger: Ledger, batch: dict) -> None:
        """Archive every answer of a finished batch (under the ledger lock: one run collects it),
        then hand them to the calls waiting, and submit again what has no answer."""
        with batches.ledger_lock(self.store):
            if not self._same_as_on_disk(ledger):
                return  # collected by another run on this data root
            self._note(ledger, batch)
            lines = {}
            for line in read_text(self._input_file(ledger)).splitlines():
                if line.strip():
                    parsed = json.loads(line)
                    lines[parsed["custom_id"]] = parsed["body"]
            answered = {str(output.get("custom_id")): output for output in self.api.lines(batch.get("output_file_id"))}
            errors = {str(e.get("custom_id")): e for e in self.api.lines(batch.get("error_file_id"))}
            unanswered = {}
            paid = {}
            for item in ledger.items:
                output = answered.get(item.custom_id)
                try:
                    if output is None:
                        raise LLMError(self._no_answer(ledger, errors.get(item.custom_id)))
                    paid[item.custom_id] = self._archive(ledger, item, lines[item.custom_id], output)
                except LLMError as exc:
                    unanswered[item.custom_id] = str(exc)
            ledger.unanswered = unanswered
            ledger.state = "cancelled" if ledger.status == "cancelled" else "collected"
            ledger.collected_at = batches.now_iso()
            batches.save(self.store, ledger)
        self._let_go(ledger)
        self.report(
            f"collected {batches.describe(ledger)}: {len(ledger.items) - len(unanswered)} responses archived"
            + (f", {len(unanswered)} without one" if unanswered else "")
        )
        for item in ledger.items:
            if item.custom_id not in unanswered:
                self._resolve(item, paid[item.custom_id])
            else:
                self._retry(item, ledger, unanswered[item.custom_id])

    @staticmethod
    def _no_answer(ledger: Ledger, error: dict | None) -> str:
        if error is not None:
            response = error.get("response") if isinstance(error.get("response"), dict) else {}
            detail = error.get("error") or (response.get("body") or {}).get("error") or response.get("body")
            return f"the batch reports an error (HTTP {response.get('status_code')}): {json.dumps(detail)[:200]}"
        return f"no response in the batch (status {ledger.status})"

    def _archive(self, ledger: Ledger, item: Item, body: dict, output: dict) -> Found:
        """The item's response, archived in its generation's folder (once: a run killed while
        collecting archived some already)."""
        from daydream.calling.engine import response_record

        gen_dir = self.store.gen_dir(item.stage, item.gen_id)
        for path, record in own_records(gen_dir, item.key):
            mark = record.get("batch") if isinstance(record.get("batch"), dict) else {}
            if (mark.get("custom_id"), mark.get("batch_id")) == (item.custom_id, ledger.batch_id):
                return Found(record, "called", str(path.relative_to(self.store.path)))
        response = output.get("response") if isinstance(output.get("response"), dict) else {}
        status = int(response.get("status_code") or 0)
        if status != 200:
            raise LLMError("the batch's answer is an error", status, json.dumps(response.get("body"))[:200])
        answer = answer_in(status, json.dumps(response.get("body")))
        request, prompt = request_of(ledger.provider, body)
        completion = answer.completion(ledger.provider, request.model, _seconds_since(ledger.created_at))
        record = response_record(
            item.key,
            request,
            prompt,
            item.slot,
            completion,
            batch={"batch_id": ledger.batch_id, "custom_id": item.custom_id, "local_id": ledger.local_id},
            price_factor=self.settings.discount,
        )
        return Found(record, "called", archive(self.store, item.stage, item.gen_id, item.key, item.slot, record))

    def _resolve(self, item: Item, paid: Found | None) -> None:
        """The calls waiting for the item: its own generation's is the call that paid; another
        generation's (the same request) reuses it as any reuse does."""
        from daydream.calling.engine import find_response

        with self._lock:
            waiters = self._waiters.pop(item.custom_id, [])
            self._calls.pop(item.custom_id, None)
        for call, future in waiters:
            if future.done():
                continue
            if paid is not None and (call.stage, call.gen_id, call.key) == (item.stage, item.gen_id, item.key):
                future.set_result(paid)
                continue
            found = find_response(call)
            if found is None:
                future.set_exception(
                    LLMError(f"the batch's response to {call.stage} {call.gen_id} is not in the archive")
                )
            else:
                future.set_result(found)

    def _retry(self, item: Item, ledger: Ledger, reason: str) -> None:
        """A request the batch did not answer: in the next batch, or after max_submissions as a
        normal call, for the calls of this run that want it. A batch cancelled while this run
        waits for it: its unanswered requests are not made in this run (cancelling means stop
        paying); a run started after the cancel batches them again."""
        with self._lock:
            call = self._calls.get(item.custom_id)
            if call is None or self._closing.is_set():
                return
            if ledger.state == "cancelled" and not (ledger.cancelled_at and ledger.cancelled_at < self._started_at):
                self._fail([item.custom_id], lambda: LLMError(f"{reason}: the batch was cancelled"))
                return
            if item.submission < self.settings.max_submissions:
                again = Item(**{**asdict(item), "submission": item.submission + 1})
                self._pending.append((again, call))
                self._index(again, None)
                self._last_add = self.clock() - self.settings.gather_s  # at once: it waited already
                self._wake.set()
                return
            waiters = self._waiters.pop(item.custom_id, [])
            self._calls.pop(item.custom_id, None)
        self.report(f"{item.stage} {item.gen_id}: {reason}; made as a normal call")
        self._call_normally(call).add_done_callback(lambda done: self._settle(call, waiters, done))

    @staticmethod
    def _settle(call, waiters, done: Future) -> None:
        """The calls waiting for a request made as a normal call: the call's own result, and for
        other generations with the same request, the response as reuse finds it."""
        from daydream.calling.engine import find_response

        for waiting, future in waiters:
            if future.done():
                continue
            if done.cancelled() or done.exception() is not None:
                future.set_exception(done.exception() if not done.cancelled() else LLMError("the run is stopping"))
            elif waiting is call:
                future.set_result(done.result())
            elif (found := find_response(waiting)) is not None:
                future.set_result(found)
            else:
                future.set_exception(LLMError(f"no response archived for {waiting.stage} {waiting.gen_id}"))


def _seconds_since(stamp: str) -> float:
    from datetime import UTC, datetime

    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds())
    except ValueError:
        return 0.0


def cancel_batches(store: StoreLayout, config: dict, provider: str | None = None, report=print) -> int:
    """Cancel every open batch (of one provider): the provider stops it, and the next run
    collects what it answered; returns how many were cancelled."""
    from daydream.calling.credentials import api_key_from
    from daydream.calling.providers import endpoint

    cancelled = 0
    with batches.ledger_lock(store):
        for ledger in batches.open_ledgers(store, provider):
            settings = endpoint(config, ledger.provider)
            api = BatchAPI(settings.base_url, api_key_from(settings.api_key_env), settings.policy)
            if ledger.state == "uploaded" and ledger.create_sent_at:
                try:
                    found = api.find_by_input_file(ledger.input_file_id)
                except LLMError as exc:
                    if exc.status not in (404, 405, 501):
                        raise
                    found = None  # the provider cannot list batches: the user was told to look there
                if found is not None:
                    BatchQueue._note(ledger, found)
                    ledger.state = "submitted"
            ledger.cancelled_at = batches.now_iso()
            if ledger.state == "submitted":
                BatchQueue._note(ledger, api.cancel(ledger.batch_id))
            else:
                ledger.state = "cancelled"  # never created: nothing at the provider to stop
            batches.save(store, ledger)  # a cancelled batch stays open: the next run collects its answers
            cancelled += 1
            report(f"cancelled {batches.describe(ledger)}")
    return cancelled
