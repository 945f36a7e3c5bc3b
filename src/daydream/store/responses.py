"""Where a generation's response comes from, short of a call: its own archive (a re-run of the
same request), or, with `reuse: store`, another generation's archived response to the same
request and slot, anywhere in the data root (copied into this generation's archive, saying
which it copies). What a call brings is archived and indexed here too.

Replicates stay independent samples: replicate r of a request is the response archived for
slot r of that request key (the first archived, when several are), so asking for 3 replicates
where 2 exist pays for the third only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daydream.store.archive import archive_response, now_iso, own_records
from daydream.store.index import Entry, index_of, read_record, stamp_of
from daydream.store.layout import StoreLayout
from daydream.store.locks import StoreLock

REUSE_MODES = ("store", "cohort")  # config `reuse`


@dataclass(frozen=True)
class Found:
    record: dict
    origin: str  # "called" (paid by this job), "archive" (this generation's own), "store" (another's)
    file: str  # the record in this generation's archive, relative to the data root

    @property
    def source(self) -> dict:
        """The generation the response was first paid for, and its record."""
        reused = self.record.get("reused_from")
        if isinstance(reused, dict):
            return {key: reused.get(key) for key in ("stage", "gen_id", "file")}
        stage, gen_id = Path(self.file).parts[1:3]
        return {"stage": stage, "gen_id": gen_id, "file": self.file}


def folder_of(stage: str, gen_id: str) -> str:
    return f"{stage}/{gen_id}"


def own_response(store: StoreLayout, stage: str, gen_id: str, key: str, after: str | None = None) -> Found | None:
    """This generation's newest archived response to the request key (after `after`, when set)."""
    found = own_records(store.gen_dir(stage, gen_id), key, after)
    if not found:
        return None
    path, record = found[0]
    return Found(record, "archive", str(path.relative_to(store.path)))


def shared_response(store: StoreLayout, stage: str, gen_id: str, key: str, slot: int) -> Found | None:
    """Another generation's paid response to this request key and slot (the first archived),
    copied into this generation's archive; None when the store holds none."""
    index = index_of(store)
    for entry in index.paid(key, slot):
        if entry.folder == folder_of(stage, gen_id):
            continue  # its own: own_response looked already
        record = read_record(store.path / entry.path)
        if record is None or record.get("request_key") != key or not isinstance(record.get("text"), str):
            index.forget(entry.path)  # gone or damaged: the files are the truth
            continue
        source_stage, source_gen = entry.folder.split("/", 1)
        copy = {
            **{name: value for name, value in record.items() if name not in ("reused_from", "slot")},
            "slot": slot,
            "reused_from": {"stage": source_stage, "gen_id": source_gen, "file": entry.path},
            "copied_at": now_iso(),
        }
        return Found(copy, "store", archive(store, stage, gen_id, key, slot, copy))
    return None


def archive(store: StoreLayout, stage: str, gen_id: str, key: str, slot: int, record: dict) -> str:
    """Write a record into the generation's archive and the index; returns its path."""
    path = archive_response(store.gen_dir(stage, gen_id), key, record)
    relative = str(path.relative_to(store.path))
    origin = record.get("reused_from", {}).get("file") if isinstance(record.get("reused_from"), dict) else None
    index_of(store).add(Entry(relative, folder_of(stage, gen_id), key, slot, stamp_of(path.name, key), origin))
    return relative


def request_lock(store: StoreLayout, key: str, slot: int) -> StoreLock:
    """One lock per request key and slot across the data root: whoever holds it makes the call;
    everyone else (another thread, another cohort's run, a job on another node) waits and then
    finds the archived response."""
    return StoreLock(store.request_lock(key, slot))
