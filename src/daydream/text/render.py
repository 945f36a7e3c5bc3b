"""Prompt rendering: Jinja2 in its sandbox, with StrictUndefined and no loader (templates cannot
reach Python internals, other files, or variables their stage does not provide), and bounded:
a template cannot build a prompt, a string or a loop big enough to exhaust the machine."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from daydream.errors import InputError
from daydream.tables import read_text

_compiled: dict[tuple[str, int, int], object] = {}
_compiled_lock = threading.Lock()


MAX_PROMPT_CHARS = 2_000_000  # far beyond any model's context window
MAX_LOOP_ITEMS = 100_000  # items of all range() calls in one rendering together


def environment():
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class PromptEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError(f"exponent {right} is too large")
            if operator == "*":
                for text, times in ((left, right), (right, left)):
                    if isinstance(text, str | list | tuple) and isinstance(times, int):
                        if len(text) * times > MAX_PROMPT_CHARS:
                            raise SecurityError(f"a repetition of {len(text) * times:,} items is too large")
            return super().call_binop(context, operator, left, right)

    return PromptEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def bounded_range():
    """range() for one rendering: the sandbox caps each range, this caps all of them together
    (nested loops multiply)."""
    from jinja2.exceptions import SecurityError

    used = [0]

    def budgeted(*args):
        items = range(*args)
        used[0] += len(items)
        if used[0] > MAX_LOOP_ITEMS:
            raise SecurityError(f"loops over more than {MAX_LOOP_ITEMS:,} range() items in one prompt")
        return items

    return budgeted


def render_bounded(template, context: dict) -> str:
    """Render, stopping once the text passes MAX_PROMPT_CHARS."""
    from jinja2.exceptions import SecurityError

    parts, size = [], 0
    for part in template.generate(**context, range=bounded_range()):
        size += len(part)
        if size > MAX_PROMPT_CHARS:
            raise SecurityError(f"the prompt would be longer than {MAX_PROMPT_CHARS:,} characters")
        parts.append(part)
    return "".join(parts)


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
        return render_bounded(_template(template_path), context)
    except UndefinedError as exc:
        raise InputError(f"undefined template variable: {exc.message}", file=template_path) from None
    except SecurityError as exc:
        raise InputError(f"template refused by the sandbox: {exc}", file=template_path) from None
    except TemplateError as exc:
        raise InputError(f"template error: {exc}", file=template_path) from None
