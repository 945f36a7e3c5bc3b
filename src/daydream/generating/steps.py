"""One generation's steps: render its prompt; get its response (one call, or the archived one);
record raw.txt and metadata.json; validate and parse into parsed.txt. Values in, files out.

raw.txt and metadata.json are written before validation and are not outputs Snakemake deletes
when the job fails, so a response that fails validation keeps them, and fixing a parser or a
setting re-runs only the parse, from the archived response."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from daydream.calling.engine import Call
from daydream.ids import MEMBERSHIP_COLUMNS
from daydream.planning.specs import GenerationSpec
from daydream.stages import STAGE_MODEL
from daydream.store.archive import import_unarchived_raw, request_key
from daydream.store.fileio import write_atomic, write_json_atomic
from daydream.tables import read_text
from daydream.text.parsers import DRAFT_PARSERS, format_score, parse_score
from daydream.text.render import render_template


class ValidationFailed(Exception):
    pass


def render_prompt(gen: GenerationSpec) -> str:
    """The prompt: the stage's template filled from its parents' parsed texts (and concepts)."""
    texts = {stage: read_text(Path(path)) for stage, path in gen.parent_files.items()}
    concepts = [{"name": c.name, "content": read_text(Path(c.path)).strip()} for c in gen.concepts]
    return render_template(gen.template, STAGE_MODEL[gen.stage].context(texts, concepts))


def write_prompt(gen: GenerationSpec) -> tuple[str, Path | None]:
    """Render and write prompt.txt. A raw.txt in no archived response (an older store's) is first
    archived as the response to this prompt's request, so it is not paid for again.
    Returns (prompt, the archive file written for such a raw.txt)."""
    prompt = render_prompt(gen)
    imported = import_unarchived_raw(gen.gen_dir, request_key(gen.request, prompt), gen.request)
    write_atomic(gen.prompt_path, prompt)
    return prompt, imported


def make_call(gen: GenerationSpec, prompt: str, force: bool = False) -> Call:
    return Call(gen.stage, gen.gen_dir, request_key(gen.request, prompt), gen.request, prompt, gen.endpoint, force)


def cost_of(usage: dict, prices: dict | None) -> float | None:
    if not prices or prices.get("input") is None or prices.get("output") is None:
        return None
    return round(
        usage["prompt_tokens"] * prices["input"] / 1e6 + usage["completion_tokens"] * prices["output"] / 1e6, 8
    )


def lineage(gen: GenerationSpec) -> dict:
    return {name: getattr(gen.row, name) for name in MEMBERSHIP_COLUMNS}


def llm_metadata(gen: GenerationSpec, record: dict, key: str, reused: bool, prices: dict | None) -> dict:
    usage = record["usage"]
    request = gen.request
    truncated = record["finish_reason"] == "length" or usage.get("completion_tokens", 0) >= request.max_tokens
    metadata = {
        **lineage(gen),
        "mode": "llm",
        "parser_name": gen.parser_name,
        "provider": record["provider"],
        "model": record["model"],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "finish_reason": record["finish_reason"],
        "truncated": truncated,
        "usage": usage,
        "cost": cost_of(usage, prices),
        "duration_s": record["duration_s"],
        "attempts": record.get("attempts", 1),
        "request_key": key,
        "reused_response": reused,
        "created_at": record["created_at"],
    }
    if gen.concepts:
        metadata["concept_levels"] = {c.concept_id: c.level for c in gen.concepts}
    return metadata


def copy_metadata(gen: GenerationSpec, created_at: str) -> dict:
    return {
        **lineage(gen),
        "mode": "copy",
        "parser_name": None,
        "provider": None,
        "model": None,
        "finish_reason": None,
        "truncated": False,
        "usage": None,
        "cost": None,
        "duration_s": 0.0,
        "created_at": created_at,
    }


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
    """parsed.txt from a response: a score, the text a draft parser picks, or the text itself."""
    kind = STAGE_MODEL[stage].parser_kind
    if kind == "score":
        return format_score(parse_score(text, parser)) + "\n"
    if kind == "text":
        return DRAFT_PARSERS[parser](text)
    return text


def generate(
    gen: GenerationSpec,
    respond: Callable[[Call], tuple[dict, bool]],
    prices: dict | None,
    now: Callable[[], str],
    force: bool = False,
) -> str:
    """Build parsed.txt: copy the parent draft, or get the response (`respond` makes the call or
    returns the archived one), record it, validate and parse it. Returns a line for the log."""
    if gen.mode == "copy":
        text = read_text(Path(gen.parent))
        write_json_atomic(gen.metadata_path, copy_metadata(gen, now()))
        write_atomic(gen.parsed_path, text)
        return f"copied the parsed draft {gen.row.parent_gen_id}"
    call = make_call(gen, read_text(Path(gen.prompt_path)), force)
    record, reused = respond(call)
    metadata = llm_metadata(gen, record, call.key, reused, prices)
    write_atomic(gen.raw_path, record["text"])
    write_json_atomic(gen.metadata_path, metadata)
    validate_response(record["text"], metadata, gen.min_lines, gen.fail_on_truncation)
    write_atomic(gen.parsed_path, parse_text(gen.stage, gen.parser, record["text"]))
    how = (
        "reused the archived response"
        if reused
        else f"called {record['provider']} ({record.get('attempts', 1)} attempt(s), {record['duration_s']} s)"
    )
    return f"{how}; parsed with {gen.parser}"
