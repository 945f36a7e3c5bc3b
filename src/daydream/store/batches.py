"""The batch ledger: one JSON file per batch under <data_root>/batches/<provider>/, written
(atomically, under the ledger lock) before each step that reaches the provider, so a run killed at
any step resumes the batch instead of submitting its requests again.

A ledger's state: "prepared" (its requests chosen, nothing sent), "uploaded" (the input file is at
the provider: a batch may exist for it), "submitted" (the batch id known), then "collected" or
"cancelled" (closed). An open ledger's requests are in flight: a new call for one waits for it."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from daydream.fileio import listdir, read_json_object, write_json_atomic
from daydream.store.layout import StoreLayout
from daydream.store.locks import StoreLock

OPEN_STATES = ("prepared", "uploaded", "submitted")
CLOSED_STATES = ("collected", "cancelled", "failed")  # failed: the provider refused it, none was made


@dataclass
class Item:
    custom_id: str
    key: str  # the request key
    slot: int
    stage: str
    gen_id: str  # the generation whose archive receives the response
    submission: int = 1  # the how-manieth time this request is in a batch


@dataclass
class Ledger:
    local_id: str
    provider: str
    stage: str
    state: str
    created_at: str
    items: list[Item]
    input_file_id: str | None = None
    create_sent_at: str | None = None  # set before the batch is created: its answer may be lost
    batch_id: str | None = None
    status: str | None = None  # the provider's last word on the batch
    counts: dict = field(default_factory=dict)
    collected_at: str | None = None
    cancelled_at: str | None = None  # `daydream batches --cancel`
    unanswered: dict = field(default_factory=dict)  # custom_id -> why it has no response

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


def new_local_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ledger_lock(store: StoreLayout) -> StoreLock:
    os.makedirs(store.batches_dir(), exist_ok=True)
    return StoreLock(store.batch_lock)


def save(store: StoreLayout, ledger: Ledger) -> None:
    write_json_atomic(store.batch_ledger(ledger.provider, ledger.local_id), asdict(ledger))


def load(path) -> Ledger | None:
    data = read_json_object(path)
    try:
        items = [Item(**item) for item in data["items"]]
        return Ledger(**{**data, "items": items})
    except (KeyError, TypeError):
        return None  # not a ledger (hand-edited): ignored, never acted on


def ledgers(store: StoreLayout, provider: str | None = None) -> list[Ledger]:
    """Every readable ledger (of one provider), oldest first."""
    providers = [provider] if provider else [p for p in sorted(listdir(store.batches_dir())) if not p.startswith(".")]
    found = []
    for name in providers:
        folder = store.batches_dir(name)
        for file in sorted(listdir(folder)):
            if file.endswith(".json") and not file.startswith("."):
                ledger = load(folder / file)
                if ledger is not None:
                    found.append(ledger)
    return found


def open_ledgers(store: StoreLayout, provider: str | None = None) -> list[Ledger]:
    return [ledger for ledger in ledgers(store, provider) if ledger.open]


def describe(ledger: Ledger) -> str:
    counts = ledger.counts or {}
    done = counts.get("completed", 0)
    failed = counts.get("failed", 0)
    return (
        f"batch {ledger.batch_id or '(not created yet)'} of {ledger.provider} ({ledger.local_id}): "
        f"{len(ledger.items)} {ledger.stage} requests, {ledger.state}"
        + (f", provider status {ledger.status}: {done} completed, {failed} failed" if ledger.status else "")
    )


def to_json(ledger: Ledger) -> str:
    return json.dumps(asdict(ledger), indent=1)


_OPEN_KEYS: dict[str, tuple[int, Ledger | None, frozenset]] = {}  # ledger file -> (mtime_ns, ledger, keys)


def in_open_batch(store: StoreLayout, provider: str, key: str, slot: int) -> Ledger | None:
    """The open batch that holds this request and slot, if any (ledgers read again only when
    they change): a normal call for it would pay a second time."""
    folder = store.batches_dir(provider)
    for name in listdir(folder):
        if not name.endswith(".json") or name.startswith("."):
            continue
        path = str(folder / name)
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            continue
        cached = _OPEN_KEYS.get(path)
        if cached is None or cached[0] != mtime:
            ledger = load(path)
            keys = frozenset((i.key, i.slot) for i in ledger.items) if ledger and ledger.open else frozenset()
            cached = _OPEN_KEYS[path] = (mtime, ledger if keys else None, keys)
        if (key, slot) in cached[2]:
            return cached[1]
    return None
