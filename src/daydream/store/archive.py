"""The response archive: every response received is written to <gen>/responses/ before anything
else, under its request key, so no paid response is ever lost and the same request is never
paid for twice (Snakemake deletes a job's declared outputs before re-running it, never this
folder)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from daydream.store.fileio import read_json_object, write_json_atomic
from daydream.store.layout import METADATA, RAW, responses_dir


@dataclass(frozen=True, slots=True)
class Request:
    """What makes two calls the same call, besides the prompt text."""

    provider: str
    model: str
    max_tokens: int
    temperature: float


def request_key(request: Request, prompt: str) -> str:
    fields = {
        "provider": request.provider,
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()[:20]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def archive_stamp() -> str:
    """Sortable UTC time for archive file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def find_archived(gen_dir: Path, key: str) -> dict | None:
    """The newest archived response for this request key, or None."""
    folder = responses_dir(gen_dir)
    try:
        matches = sorted(p for p in folder.iterdir() if p.name.startswith(f"{key}-") and p.suffix == ".json")
    except FileNotFoundError:
        return None
    for path in reversed(matches):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return None


def archive_response(gen_dir: Path, key: str, record: dict) -> Path:
    path = responses_dir(gen_dir) / f"{key}-{archive_stamp()}.json"
    write_json_atomic(path, record)
    return path


def lock_path(gen_dir: Path, key: str) -> Path:
    """One lock file per request key: whoever holds it makes the call, everyone else (another
    thread, another run on the same data root) waits and then finds the archived response."""
    return responses_dir(gen_dir) / f".{key}.lock"


def import_unarchived_raw(gen_dir: Path, key: str, request: Request) -> Path | None:
    """A raw.txt that is in no archived response (written by the original pipeline or another
    tool) is archived first, as the response to this generation's request, so that it is never
    paid for again (DD_FORCE_CALL=1 calls anyway). A raw.txt already archived, under any key, is
    left alone: a new prompt then makes a new call. Returns the archive file written."""
    raw = Path(gen_dir) / RAW
    if not raw.is_file():
        return None
    text = raw.read_text(encoding="utf-8", errors="replace")
    folder = responses_dir(gen_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("text") == text:
                return None
        except (OSError, json.JSONDecodeError):
            continue
    metadata = read_json_object(Path(gen_dir) / METADATA)
    usage = metadata.get("usage") if isinstance(metadata.get("usage"), dict) else {}
    tokens = {name: int(usage.get(name) or 0) for name in ("prompt_tokens", "completion_tokens")}
    record = {
        "request_key": key,
        "text": text,
        "finish_reason": metadata.get("finish_reason") or "stop",
        "usage": {**tokens, "total_tokens": sum(tokens.values())},
        "provider": metadata.get("provider") or "imported",
        "model": metadata.get("model") or request.model,
        "duration_s": 0.0,
        "attempts": 0,
        "retries": [],
        "response_id": None,
        "created_at": metadata.get("created_at") or now_iso(),
        "source": "raw.txt found without an archived response",
        "metadata": metadata,
    }
    return archive_response(gen_dir, key, record)
