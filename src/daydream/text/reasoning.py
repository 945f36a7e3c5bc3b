"""A reasoning model's reasoning, kept apart from its answer: the reasoning field sent beside the
content, and thinking blocks inside the content (`<think>...</think>` by default; the tag is set
per model in llm_models.csv). The answer alone is validated and parsed; the reasoning is stored
in reasoning.txt, never parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_TAG = "think"
NO_TAG = "none"  # llm_models.csv reasoning_tag: take no blocks out of the content
TAG_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Split:
    answer: str
    reasoning: str | None
    source: str | None  # "field", "tags", "field+tags" or None


@lru_cache(maxsize=16)
def _patterns(tag: str):
    name = re.escape(tag)
    return (
        re.compile(rf"<{name}\s*>(.*?)</{name}\s*>", re.S | re.I),  # complete blocks
        re.compile(rf"^\s*<{name}\s*>(.*)$", re.S | re.I),  # opened, never closed: cut off mid-thought
        re.compile(rf"^(.*?)</{name}\s*>", re.S | re.I),  # closed, never opened: the opening was in the prompt
        re.compile(rf"<{name}\s*>", re.I),
    )


def split_reasoning(content: str, reasoning_field: str | None = None, tag: str | None = DEFAULT_TAG) -> Split:
    """The answer without its reasoning, and the reasoning (the separate field first, then the
    content's thinking blocks, in order)."""
    parts = [reasoning_field.strip()] if reasoning_field and reasoning_field.strip() else []
    sources = ["field"] if parts else []
    answer = content
    if tag and tag != NO_TAG:
        blocks, unclosed, unopened, opening = _patterns(tag)
        found = [match.group(1).strip() for match in blocks.finditer(answer)]
        answer = blocks.sub("", answer)
        cut = unclosed.match(answer)
        if cut:
            found.append(cut.group(1).strip())
            answer = ""
        else:
            orphan = unopened.match(answer)
            if orphan and not opening.search(orphan.group(1)):
                found.insert(0, orphan.group(1).strip())
                answer = answer[orphan.end() :]
        if found:
            answer = answer.lstrip()
        if any(found):
            parts += [part for part in found if part]
            sources.append("tags")
    return Split(answer, "\n\n".join(parts) if parts else None, "+".join(sources) or None)
