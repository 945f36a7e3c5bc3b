"""The per-job steps the rules run: file paths in, files out. Logic stays in the pure modules."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .errors import InputError
from .fileio import write_atomic, write_json_atomic
from .ids import MEMBERSHIP_COLUMNS
from .tables import read_text

FORCE_ENV = "DD_FORCE_CALL"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- cohort --------------------------------------------------------------------------------
def _plan_from_settings(settings: dict):
    from .cohort import Settings, plan_cohort
    from .experiment import check_experiment_axes, load_experiment

    experiment = load_experiment(settings["data_root"], settings["templates_root"])
    check_experiment_axes(experiment)
    fields = {k: settings[k] for k in Settings.__dataclass_fields__ if k in settings}
    plan = plan_cohort(experiment, Settings(**fields), None)
    return experiment, plan


def cohort_step(step: str, settings: dict, out: Path) -> None:
    from .cohort import build_membership, combo_mappings_path, membership_csv
    from .combos import combos_csv, update_combo_mappings

    experiment, plan = _plan_from_settings(settings)
    if plan.cohort_id != settings["expected_cohort_id"]:
        raise InputError(
            f"the experiment changed since this run was planned (cohort {plan.cohort_id}, "
            f"expected {settings['expected_cohort_id']}); run snakemake again"
        )
    if step == "combos":
        added = update_combo_mappings(combo_mappings_path(experiment.data_root), plan.combos, now_iso())
        write_atomic(out, combos_csv(plan.combos))
        print(f"{len(plan.combos)} combos ({added} new in combo_mappings.csv)")
    elif step == "manifest":
        write_json_atomic(out, plan.manifest_document())
        print(f"manifest for {plan.cohort_id}")
    elif step == "membership":
        rows = build_membership(plan, experiment)
        write_atomic(out, membership_csv(rows))
        print(f"{len(rows)} membership rows for {plan.cohort_id}")
    else:
        raise ValueError(f"unknown cohort step {step!r}")


# ---- prompt ---------------------------------------------------------------------------------
def stash_unarchived_raw(gen_dir: Path) -> Path | None:
    """Keep a raw.txt that is not in responses/ yet (e.g. from an older store) before a new
    prompt makes Snakemake delete it to re-run the call. Returns the archive file written."""
    raw = Path(gen_dir) / "raw.txt"
    if not raw.is_file():
        return None
    text = raw.read_text(encoding="utf-8", errors="replace")
    folder = archive_dir(raw)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("text") == text:
                return None
        except (OSError, json.JSONDecodeError):
            continue
    metadata = None
    try:
        metadata = json.loads((Path(gen_dir) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        pass
    target = folder / f"imported-{archive_stamp()}.json"
    write_json_atomic(target, {"text": text, "metadata": metadata, "source": "raw.txt kept before a new prompt"})
    return target


def render_step(spec: dict, out: Path) -> None:
    from .render import draft_context, essay_context, evaluation_context, render_template

    stashed = stash_unarchived_raw(Path(out).parent)
    if stashed:
        print(f"kept the existing raw.txt in {stashed}")
    stage = spec["stage"]
    if stage == "draft":
        context = draft_context(spec["concepts"])
    else:
        parent_text = read_text(Path(spec["parent"]))
        context = essay_context(parent_text) if stage == "essay" else evaluation_context(parent_text)
    write_atomic(out, render_template(spec["template"], context))


# ---- raw (the one paid call) ----------------------------------------------------------------
def request_key(spec: dict, prompt: str) -> str:
    """What makes two calls the same call: provider, model, prompt and sampling settings."""
    fields = {k: spec[k] for k in ("provider", "model", "max_tokens", "temperature")}
    fields["prompt_sha256"] = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()[:20]


def archive_stamp() -> str:
    """Sortable UTC time for archive file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def archive_dir(raw_path: Path) -> Path:
    return Path(raw_path).parent / "responses"


def find_archived(raw_path: Path, key: str) -> dict | None:
    folder = archive_dir(raw_path)
    if not folder.is_dir():
        return None
    matches = sorted(folder.glob(f"{key}-*.json"))
    for path in reversed(matches):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return None


def api_key_from(env_name: str | None, dotenv: Path = Path(".env")) -> str | None:
    if not env_name:
        return None
    if os.environ.get(env_name):
        return os.environ[env_name]
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name.strip().removeprefix("export ").strip() == env_name:
                return value.strip().strip("'\"") or None
    return None


def is_loopback(url: str) -> bool:
    """True for servers on this machine, which usually need no API key."""
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def missing_api_key(base_url: str | None, api_key_env: str | None) -> bool:
    """True when a remote provider names a key variable that is set nowhere; a loopback
    server is called without a key instead."""
    if not base_url or not api_key_env or is_loopback(base_url):
        return False
    return api_key_from(api_key_env) is None


def _call(spec: dict, prompt: str, runtime: dict):
    from .llm import RetryPolicy, chat_completion, offline_completion

    if spec["provider"] == "offline":
        return offline_completion(
            stage=spec["stage"], prompt=prompt, model=spec["model"], max_tokens=spec["max_tokens"]
        )
    endpoint = runtime["providers"][spec["provider"]]
    key = api_key_from(endpoint.get("api_key_env"))
    if missing_api_key(endpoint["base_url"], endpoint.get("api_key_env")):
        raise InputError(
            f"no API key: set {endpoint['api_key_env']} in the environment or in .env",
            field="api_key_env",
        )
    if endpoint.get("api_key_env") and not key:
        print(f"note: {endpoint['api_key_env']} is not set; calling the local server without a key")
    return chat_completion(
        base_url=endpoint["base_url"],
        api_key=key,
        model=spec["model"],
        prompt=prompt,
        max_tokens=spec["max_tokens"],
        temperature=spec["temperature"],
        provider=spec["provider"],
        policy=RetryPolicy.from_settings(runtime.get("llm") or {}),
    )


def cost_of(usage: dict, prices: dict | None) -> float | None:
    if not prices or prices.get("input") is None or prices.get("output") is None:
        return None
    return round(
        usage["prompt_tokens"] * prices["input"] / 1e6 + usage["completion_tokens"] * prices["output"] / 1e6, 8
    )


def raw_step(spec: dict, prompt_path: Path, raw_path: Path, metadata_path: Path, runtime: dict) -> dict:
    """Make the call (or reuse the archived response for the same request) and record it.

    Every response is first written to responses/<key>-<time>.json next to raw.txt, which
    Snakemake never deletes, so no paid response is lost even when a job is re-run."""
    prompt = read_text(prompt_path)
    key = request_key(spec, prompt)
    forced = os.environ.get(FORCE_ENV, "").strip().lower() in {"1", "true", "yes"}
    record = None if forced else find_archived(raw_path, key)
    reused = record is not None
    if record is None:
        completion = _call(spec, prompt, runtime)
        record = {
            "request_key": key,
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
        write_json_atomic(archive_dir(raw_path) / f"{key}-{archive_stamp()}.json", record)
    usage = record["usage"]
    truncated = record["finish_reason"] == "length" or usage.get("completion_tokens", 0) >= spec["max_tokens"]
    metadata = {
        **{name: spec[name] for name in MEMBERSHIP_COLUMNS},
        "mode": "llm",
        "parser_name": spec.get("parser_name"),
        "provider": record["provider"],
        "model": record["model"],
        "max_tokens": spec["max_tokens"],
        "temperature": spec["temperature"],
        "finish_reason": record["finish_reason"],
        "truncated": truncated,
        "usage": usage,
        "cost": cost_of(usage, (runtime.get("prices") or {}).get(spec["llm_model_id"])),
        "duration_s": record["duration_s"],
        "attempts": record.get("attempts", 1),
        "request_key": key,
        "reused_response": reused,
        "created_at": record["created_at"],
    }
    if "concept_levels" in spec:
        metadata["concept_levels"] = spec["concept_levels"]
    write_atomic(raw_path, record["text"])
    write_json_atomic(metadata_path, metadata)
    print(
        f"{spec['stage']} {spec['gen_id']}: {'reused archived response' if reused else 'called ' + record['provider']}"
    )
    return metadata


# ---- parse ------------------------------------------------------------------------------------
class ValidationFailed(Exception):
    pass


def validate_response(text: str, metadata: dict, min_lines: int, fail_on_truncation: bool) -> None:
    if fail_on_truncation and metadata.get("truncated"):
        usage = metadata.get("usage") or {}
        raise ValidationFailed(
            f"response truncated (finish_reason={metadata.get('finish_reason')}, "
            f"completion_tokens={usage.get('completion_tokens')}, max_tokens={metadata.get('max_tokens')}); "
            "raise stages.<stage>.max_tokens to call again, or set fail_on_truncation: false to accept it"
        )
    lines = sum(1 for line in text.splitlines() if line.strip())
    if lines < min_lines:
        raise ValidationFailed(f"response has {lines} non-empty lines, fewer than min_lines={min_lines}")


def parse_text(stage: str, parser: str, text: str) -> str:
    from .parsers import DRAFT_PARSERS, format_score, parse_score

    if stage == "evaluation":
        return format_score(parse_score(text, parser)) + "\n"
    if stage == "draft":
        return DRAFT_PARSERS[parser](text)
    return text


def parse_step(spec: dict, out: Path) -> None:
    if spec["mode"] == "copy":
        text = read_text(Path(spec["parent"]))
        metadata = {
            **spec["metadata"],
            "mode": "copy",
            "parser_name": None,
            "provider": None,
            "model": None,
            "finish_reason": None,
            "truncated": False,
            "usage": None,
            "cost": None,
            "duration_s": 0.0,
            "created_at": now_iso(),
        }
        write_json_atomic(spec["metadata_path"], metadata)
        write_atomic(out, text)
        return
    raw = read_text(Path(spec["raw"]))
    metadata = json.loads(read_text(Path(spec["metadata"])))
    validate_response(raw, metadata, spec["min_lines"], spec["fail_on_truncation"])
    write_atomic(out, parse_text(spec["stage"], spec["parser"], raw))


def run(main) -> None:
    """Run a job's main(); known failures print one clear line and exit 1."""
    from .llm import LLMError
    from .parsers import ParseError

    started = time.monotonic()
    try:
        main()
    except (InputError, ValidationFailed, ParseError, LLMError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"done in {time.monotonic() - started:.3f}s", file=sys.stderr)
