"""Prompt rendering: Jinja2 in its sandbox, with StrictUndefined and no loader (templates cannot
reach Python internals, other files, or variables their stage does not provide)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .errors import InputError
from .tables import read_text

_compiled: dict[tuple[str, int, int], object] = {}
_compiled_lock = threading.Lock()


def environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _template(template_path: str | Path):
    """The compiled template, compiled once per file version in this process."""
    from jinja2 import TemplateSyntaxError

    stat = os.stat(template_path)
    key = (str(template_path), stat.st_mtime_ns, stat.st_size)
    with _compiled_lock:
        template = _compiled.get(key)
    if template is None:
        try:
            template = environment().from_string(read_text(Path(template_path)))
        except TemplateSyntaxError as exc:
            raise InputError(f"template syntax error: {exc.message}", file=template_path, line=exc.lineno) from None
        with _compiled_lock:
            _compiled[key] = template
    return template


def render_template(template_path: str | Path, context: dict) -> str:
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        return _template(template_path).render(**context)
    except UndefinedError as exc:
        raise InputError(f"undefined template variable: {exc.message}", file=template_path) from None
    except SecurityError as exc:
        raise InputError(f"template refused by the sandbox: {exc}", file=template_path) from None
    except TemplateError as exc:
        raise InputError(f"template error: {exc}", file=template_path) from None


def draft_context(concepts) -> dict:
    """concepts: objects with .name and .path (generations.ConceptText), in concept-table row order."""
    return {"concepts": [{"name": c.name, "content": read_text(Path(c.path)).strip()} for c in concepts]}


def essay_context(draft_text: str) -> dict:
    return {"draft_block": draft_text, "links_block": draft_text}


def evaluation_context(essay_text: str) -> dict:
    return {"response": essay_text}


CONTEXTS = {"essay": essay_context, "evaluation": evaluation_context}
