"""One generation's steps: render its prompt; get its response (one call, or the archived one);
record raw.txt (the content as received), reasoning.txt (a reasoning model's reasoning) and
metadata.json; validate and parse the answer (the content without its reasoning) into parsed.txt.
Values in, files out.

raw.txt and metadata.json are written before validation and are not outputs Snakemake deletes
when the job fails, so a response that fails validation keeps them, and fixing a parser or a
setting re-runs only the parse, from the archived response."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from daydream.calling.engine import Call
from daydream.fileio import write_atomic, write_json_atomic
from daydream.ids import MEMBERSHIP_COLUMNS
from daydream.planning.specs import GenerationSpec
from daydream.stages import PARENT_STAGE
from daydream.store.archive import import_unarchived_raw, keep_raw_before_overwrite, raw_text, request_key
from daydream.store.layout import REASONING
from daydream.store.responses import Found
from daydream.tables import read_text
from daydream.text.answer import Answer, parsed_answer, read_answer


class ValidationFailed(Exception):
    pass


def write_prompt(gen: GenerationSpec) -> tuple[str, Path | None]:
    """Render and write prompt.txt. A raw.txt in no archived response (an older store's) is first
    archived as the answer to the prompt.txt beside it as found (the run archived such raws
    before any job; here, Snakemake has removed that prompt already, so one left is kept as
    unattributed). Returns (prompt, the archive file written for such a raw.txt)."""
    imported = import_unarchived_raw(gen.gen_dir, gen.request, gen.row.replicate)
    prompt = gen.render_prompt()
    write_atomic(gen.prompt_path, prompt)
    return prompt, imported


def make_call(gen: GenerationSpec, prompt: str, force: bool = False, reuse: str = "store") -> Call:
    return Call(
        gen.stage,
        gen.gen_id,
        gen.store,
        request_key(gen.request, prompt),
        gen.request,
        prompt,
        gen.endpoint,
        gen.row.replicate,
        force,
        reuse,
        gen.redo_after(),
    )


def cost_of(usage: dict, prices: dict | None) -> float | None:
    if not prices or prices.get("input") is None or prices.get("output") is None:
        return None
    return round(
        usage["prompt_tokens"] * prices["input"] / 1e6 + usage["completion_tokens"] * prices["output"] / 1e6, 8
    )


def recorded_cost(record: dict, prices: dict | None) -> tuple[float | None, str | None]:
    """A response's cost and where it comes from: what the provider reported it charged
    ("provider"), else the price table's figure for its tokens ("price_table"; times the record's
    price_factor: a batch's discount), else (None, None)."""
    reported = record.get("reported_cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        return float(reported), "provider"
    usage = record.get("usage") or {}
    if not usage:
        return None, None
    cost = cost_of(usage, prices)
    if cost is None:
        return None, None
    factor = record.get("price_factor", 1)
    return round(cost * factor, 8), "price_table"


def lineage(gen: GenerationSpec) -> dict:
    return {name: getattr(gen.row, name) for name in MEMBERSHIP_COLUMNS}


def llm_metadata(gen: GenerationSpec, found: Found, key: str, prices: dict | None, answer: Answer) -> dict:
    record = found.record
    usage = record.get("usage") or {}
    request = gen.request
    truncated = record.get("finish_reason") == "length" or usage.get("completion_tokens", 0) >= request.max_tokens
    metadata = {
        **lineage(gen),
        "mode": "llm",
        "parser_name": gen.parser_name,
        "provider": record.get("provider"),
        "model": record.get("model"),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "finish_reason": record.get("finish_reason"),
        "truncated": truncated,
        "usage": usage,
        "cost": None,
        "cost_source": None,
        "duration_s": record.get("duration_s"),
        "attempts": record.get("attempts", 1),
        "request_key": key,
        "reused_response": found.origin != "called",
        # where the response came from: called now, this generation's archive, or another
        # generation's (then its cost was paid there, and is not counted again)
        "response_origin": found.origin,
        "response_source": found.source,
        "response_file": found.file,
        "created_at": record.get("created_at"),
    }
    metadata["cost"], metadata["cost_source"] = recorded_cost(record, prices)
    if answer.split.reasoning is not None:
        metadata["reasoning"] = {"source": answer.split.source, "characters": len(answer.split.reasoning)}
    if request.response_format:
        metadata["structured_output"] = {
            "format": request.response_format,
            "parsed_from": "json" if answer.score is not None else "text",
            "fallback_reason": answer.structured_fallback,
        }
    if isinstance(record.get("batch"), dict):
        metadata["batch"] = record["batch"]
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


def generate(
    gen: GenerationSpec,
    respond: Callable[[Call], Found],
    prices: dict | None,
    now: Callable[[], str],
    force: bool = False,
    reuse: str = "store",
) -> str:
    """Build parsed.txt: copy the parent's parsed text, or get the response (`respond` makes the
    call or returns an archived one), record it, validate and parse it. Returns a line for the log."""
    if gen.mode == "copy":
        text = read_text(Path(gen.parent))
        write_json_atomic(gen.metadata_path, copy_metadata(gen, now()))
        write_atomic(gen.parsed_path, text)
        return f"copied the parsed {PARENT_STAGE[gen.stage]} {gen.row.parent_gen_id}"
    call = make_call(gen, read_text(Path(gen.prompt_path)), force, reuse)
    found = respond(call)
    record = found.record
    text = record["text"]
    answer = read_answer(record, gen.reasoning_tag, gen.request.response_format, gen.parser)
    metadata = llm_metadata(gen, found, call.key, prices, answer)
    old_raw = raw_text(gen.gen_dir)
    keep_raw_before_overwrite(gen.gen_dir, text, old_raw)
    if old_raw != text or "\ufffd" in text:  # (read with undecodable bytes as U+FFFD: written again)
        write_atomic(gen.raw_path, text)
    reasoning_path = gen.path(REASONING)
    if answer.split.reasoning is not None:
        write_atomic(reasoning_path, answer.split.reasoning + "\n")
    elif os.path.lexists(reasoning_path):
        os.unlink(reasoning_path)  # an earlier response's (its record in responses/ keeps it)
    write_json_atomic(gen.metadata_path, metadata)
    # min_lines is a text answer's shape; a structured answer is checked by its schema instead
    min_lines = 0 if answer.score is not None else gen.min_lines
    validate_response(answer.split.answer, metadata, min_lines, gen.fail_on_truncation)
    write_atomic(gen.parsed_path, parsed_answer(gen.stage, gen.parser, answer))
    if found.origin == "called":
        how = f"called {record['provider']} ({record.get('attempts', 1)} attempt(s), {record['duration_s']} s)"
    elif found.origin == "archive":
        how = "reused the archived response"
    else:
        source = found.source
        how = f"reused the response of {source['stage']} {source['gen_id']} (the same request, replicate {call.slot})"
    if answer.score is not None:
        return f"{how}; score read from the structured (JSON) answer"
    if answer.structured_fallback:
        return f"{how}; not the structured answer asked for ({answer.structured_fallback})"
    return f"{how}; parsed with {gen.parser}"
