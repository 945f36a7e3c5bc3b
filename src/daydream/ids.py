"""Deterministic identifiers, byte-for-byte compatible with the original DayDreaming ids."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping

PIPELINE_VERSION = "2025-09-09"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# Ids become path components (a template id becomes `<id>.txt`): this keeps every one far below
# the usual 255-byte file-name limit.
MAX_ID_LENGTH = 100
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")
SAFE_ID_RULE = f"use 1 to {MAX_ID_LENGTH} letters, digits and . _ - (no '/', no '..')"


def is_safe_id(value: str) -> bool:
    """True when value can be used as one path component inside the data root."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and bool(_SAFE_ID.match(value))
        and ".." not in value
        and value != "."
    )


def unsafe_id_message(value, what: str = "id") -> str:
    shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:40]}... ({len(str(value))} characters)"
    return f"unsafe {what} {shown!r}: {SAFE_ID_RULE}"


def check_safe_id(value: str, what: str) -> str:
    if not is_safe_id(value):
        raise ValueError(unsafe_id_message(value, what))
    return value


def combo_id(concept_ids: Iterable[str], description_level: str, k_max: int) -> str:
    ids = sorted(concept_ids)
    key = "|".join(ids) + "|" + description_level + "|" + str(k_max)
    return "combo_v1_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def _to_base36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(_BASE36[rem])
    return "".join(reversed(digits))


def gen_id(stage: str, task_id: str, run_id: str | None = None, salt: str | None = None) -> str:
    h = hashlib.sha256()
    parts = [stage, task_id]
    if run_id:
        parts.append(run_id)
    if salt:
        parts.append(salt)
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"|")
    value = int.from_bytes(h.digest()[:12], "big")
    return _to_base36(value).rjust(16, "0")[:16]


def draft_task_id(combo: str, draft_template: str, model_id: str) -> str:
    return f"{combo}__{draft_template}__{model_id}"


def essay_task_id(draft_task: str, essay_template: str) -> str:
    return f"{draft_task}__{essay_template}"


def evaluation_task_id(essay_gen_id: str, evaluation_template: str, model_id: str) -> str:
    return f"{essay_gen_id}__{evaluation_template}__{model_id}"


def draft_salt(replicate: int) -> str | None:
    return f"rep{replicate}" if replicate > 1 else None


def essay_salt(draft_replicate: int, essay_replicate: int) -> str | None:
    if draft_replicate == 1 and essay_replicate == 1:
        return None
    return f"rep{draft_replicate}-{essay_replicate}"


def evaluation_salt(replicate: int) -> str | None:
    return f"rep{replicate}" if replicate > 1 else None


def cohort_manifest(
    combos: Iterable[str], templates: Mapping[str, Iterable[str]], llms: Mapping[str, Iterable[str]]
) -> dict:
    """What a cohort's id is computed from: its combos, its templates by stage (draft, essay,
    evaluation) and its models by role (generation, evaluation), each sorted."""
    return {
        "combos": sorted(set(combos)),
        "templates": {stage: sorted(set(names)) for stage, names in templates.items()},
        "llms": {role: sorted(set(names)) for role, names in llms.items()},
    }


def cohort_id(manifest: dict) -> str:
    payload = {
        "combos": manifest["combos"],
        "llms": manifest["llms"],
        "templates": manifest["templates"],
        "prompt_versions": None,
        "pipeline_version": PIPELINE_VERSION,
    }
    if manifest.get("essays"):  # a re-scoring cohort: which stored essays it evaluates
        payload["essays"] = manifest["essays"]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "cohort-" + hashlib.blake2s(text.encode("utf-8"), digest_size=6).hexdigest()


# What identifies a generation and its lineage: the columns of membership.csv, also the
# first fields of every metadata.json.
MEMBERSHIP_COLUMNS = [
    "stage",
    "gen_id",
    "cohort_id",
    "parent_gen_id",
    "combo_id",
    "template_id",
    "llm_model_id",
    "replicate",
]

_UNSET = {"", "0", "false", "none", "null"}


def cohort_override(config_value: object, env_value: str | None) -> str | None:
    """The explicit cohort id, if any: the environment (DD_COHORT) wins over config."""
    for raw in (env_value, config_value):
        if raw is None:
            continue
        text = str(raw).strip()
        if text.lower() in _UNSET:
            continue
        return check_safe_id(text, "cohort id")
    return None
