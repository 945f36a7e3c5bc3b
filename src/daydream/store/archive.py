"""The response archive: every response received is written to its generation's responses/
folder before anything else, as a record under its request key (and, since store-wide reuse, the
slot of its request it fills), so no paid response is ever lost. Snakemake deletes a job's
declared outputs before re-running it, never this folder.

A record is the response's text, finish reason, usage and provenance. A copy of another
generation's response (reused by request) says which record it copies (`reused_from`); a raw.txt
found without a record (the original pipeline's store) is archived as the answer to the prompt
stored beside it (`source`, with that prompt's text)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from daydream.fileio import listdir, read_json_object, read_text, write_json_atomic
from daydream.store.layout import METADATA, PROMPT, RAW, responses_dir

# the key of a response whose prompt is unknown: kept, never the answer to any request
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True, slots=True)
class Request:
    """What makes two calls the same call, besides the prompt text."""

    provider: str
    model: str
    max_tokens: int
    temperature: float
    response_format: str | None = None  # a structured output's schema (text/structured.py), by name


def request_fields(request: Request, prompt: str) -> dict:
    """What identifies a request: its key is a hash of these, and its archive records keep them."""
    fields = {
        "provider": request.provider,
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
    }
    if request.response_format:  # only then: every key made before structured output stays the same
        fields["response_format"] = request.response_format
    return fields


def request_key(request: Request, prompt: str) -> str:
    fields = request_fields(request, prompt)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()[:20]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def archive_stamp() -> str:
    """Sortable UTC time for archive file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def own_records(gen_dir: Path, key: str, after: str | None = None) -> list[tuple[Path, dict]]:
    """This generation's archived records for a request key, newest first; `after`: only those
    archived after that stamp (a generation marked for a new call)."""
    folder = responses_dir(gen_dir)
    names = sorted(
        (name for name in listdir(folder) if name.startswith(f"{key}-") and name.endswith(".json")),
        reverse=True,
    )
    found = []
    for name in names:
        if after is not None and name[len(key) + 1 : -len(".json")] <= after:
            continue
        record = read_json_object(folder / name)
        if isinstance(record.get("text"), str):
            found.append((folder / name, record))
    return found


def find_archived(gen_dir: Path, key: str) -> dict | None:
    """The newest archived response for this request key in this generation's folder, or None."""
    found = own_records(gen_dir, key)
    return found[0][1] if found else None


def archive_response(gen_dir: Path, key: str, record: dict) -> Path:
    """Write a record into the generation's archive (a new file: nothing is replaced)."""
    path = responses_dir(gen_dir) / f"{key}-{archive_stamp()}.json"
    write_json_atomic(path, record)
    return path


def archived_texts(gen_dir: Path) -> set[str]:
    texts = set()
    folder = responses_dir(gen_dir)
    for name in sorted(listdir(folder)):
        if name.endswith(".json") and not name.startswith("."):
            record = read_json_object(folder / name)
            if isinstance(record.get("text"), str):
                texts.add(record["text"])
    return texts


def old_request(metadata: dict, current: Request) -> Request:
    """The request a stored response answered: what its metadata records, else the current one's
    fields (the original pipeline recorded neither provider, max_tokens nor temperature)."""

    def recorded(name, kind, default):
        value = metadata.get(name)
        return value if isinstance(value, kind) and not isinstance(value, bool) else default

    return Request(
        recorded("provider", str, current.provider),
        recorded("model", str, current.model),
        recorded("max_tokens", int, current.max_tokens),
        recorded("temperature", int | float, current.temperature),
    )


def import_unarchived_raw(gen_dir: Path, request: Request, replicate: int) -> Path | None:
    """A raw.txt that is in no archived record (written by the original pipeline or another tool)
    is archived as the answer to the prompt stored beside it, as found (before any re-render),
    so that it is never lost and answers the current request only when that request's prompt is
    the same text. Without a prompt beside it, it is kept as unattributed: never reused.
    Returns the record written, None when there was nothing to archive."""
    text = raw_text(gen_dir)
    if text is None or text in archived_texts(gen_dir):
        return None
    metadata = read_json_object(Path(gen_dir) / METADATA)
    prompt = _text_or_none(Path(gen_dir) / PROMPT)
    answered = old_request(metadata, request)
    key = request_key(answered, prompt) if prompt is not None else UNATTRIBUTED
    usage = metadata.get("usage") if isinstance(metadata.get("usage"), dict) else {}
    tokens = {name: _int(usage.get(name)) for name in ("prompt_tokens", "completion_tokens")}
    record = {
        "request_key": key,
        "request": {
            "provider": answered.provider,
            "model": answered.model,
            "max_tokens": answered.max_tokens,
            "temperature": answered.temperature,
        },
        "slot": replicate,
        "text": text,
        "prompt": prompt,
        "finish_reason": metadata.get("finish_reason") or "stop",
        "usage": {**tokens, "total_tokens": sum(tokens.values())},
        "provider": metadata.get("provider") or "imported",
        "model": metadata.get("model") or request.model,
        "duration_s": 0.0,
        "attempts": 0,
        "retries": [],
        "response_id": None,
        "created_at": metadata.get("created_at") or now_iso(),
        "source": "raw.txt found without an archived response"
        + ("" if prompt is not None else ", and no prompt.txt beside it"),
        "metadata": metadata,
    }
    return archive_response(gen_dir, key, record)


def keep_raw_before_overwrite(gen_dir: Path, new_text: str, text: str | None) -> Path | None:
    """Before raw.txt (its text: `text`, None when there is none) is replaced: a raw.txt that is
    in no record is archived (unattributed: its prompt may already be re-rendered), so nothing
    paid is ever overwritten."""
    if text is None or text == new_text or text in archived_texts(gen_dir):
        return None
    record = {
        "request_key": UNATTRIBUTED,
        "text": text,
        "source": "raw.txt about to be replaced, in no archived response",
        "metadata": read_json_object(Path(gen_dir) / METADATA),
        "created_at": now_iso(),
    }
    return archive_response(gen_dir, UNATTRIBUTED, record)


def raw_text(gen_dir: Path) -> str | None:
    """The generation's raw.txt as it is (undecodable bytes replaced), None when there is none."""
    return _text_or_none(Path(gen_dir) / RAW)


def _text_or_none(path: Path) -> str | None:
    try:
        return read_text(path, errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
