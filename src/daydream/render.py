"""Prompt rendering with Jinja2 StrictUndefined: an undefined variable names the template file."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .tables import read_text


def render_template(template_path: str | Path, context: dict) -> str:
    from jinja2 import Environment, StrictUndefined, TemplateSyntaxError, UndefinedError

    text = read_text(Path(template_path))
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    try:
        return env.from_string(text).render(**context)
    except TemplateSyntaxError as exc:
        raise InputError(f"template syntax error: {exc.message}", file=template_path, line=exc.lineno) from None
    except UndefinedError as exc:
        raise InputError(f"undefined template variable: {exc.message}", file=template_path) from None


def draft_context(concepts: list[dict]) -> dict:
    """concepts: [{'name': ..., 'file': ...}] in concept-table row order."""
    return {"concepts": [{"name": c["name"], "content": read_text(Path(c["file"])).strip()} for c in concepts]}


def essay_context(draft_text: str) -> dict:
    return {"draft_block": draft_text, "links_block": draft_text}


def evaluation_context(essay_text: str) -> dict:
    return {"response": essay_text}
