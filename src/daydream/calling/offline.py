"""The built-in offline provider: deterministic, clearly synthetic, stage-shaped responses.

Drafts carry several numbered lines, rising <essay-idea stage="N"> blocks and an <essay>
block, so every draft parser finds what it needs; evaluations end in 'SCORE: X'."""

from __future__ import annotations

import hashlib
import json

from daydream.stages import STAGE_MODEL

_WORDS = [
    "feedback",
    "memory",
    "search",
    "signal",
    "pattern",
    "loop",
    "filter",
    "archive",
    "sample",
    "critic",
    "proposal",
    "budget",
    "schedule",
    "trace",
    "index",
    "map",
    "seed",
    "bridge",
]


def _seed(prompt: str, model: str) -> bytes:
    return hashlib.sha256(f"{model}\n{prompt}".encode()).digest()


def _phrase(seed: bytes, offset: int, n: int = 3) -> str:
    return " ".join(_WORDS[seed[(offset + i) % len(seed)] % len(_WORDS)] for i in range(n))


def offline_response(stage: str, prompt: str, model: str, shape: str | None = None) -> str:
    """A deterministic answer to `prompt`, shaped as `shape` ("draft", "essay", "score", or "json":
    a structured judge's answer; by default the stage's own, stages.Stage.offline_shape)."""
    if shape is None:
        shape = STAGE_MODEL[stage].offline_shape
    seed = _seed(prompt, model)
    tag = f"[offline synthetic {stage} from {model}, seed {seed.hex()[:8]}]"
    if shape == "draft":
        lines = [tag, ""]
        for step in range(1, 4):
            lines.append(f"Step {step}: connect {_phrase(seed, step * 3)} with {_phrase(seed, step * 5)}.")
            lines.append(f'<essay-idea stage="{step}">')
            lines.append(f"Idea {step}: a {_phrase(seed, step * 7)} that reuses {_phrase(seed, step * 11, 2)}.")
            lines.append("</essay-idea>")
        lines += [
            "<essay>",
            f"Synthetic essay body: {_phrase(seed, 13, 4)}.",
            f"It links {_phrase(seed, 17)} to {_phrase(seed, 19)}.",
            f"It closes on {_phrase(seed, 23, 2)}.",
            "</essay>",
        ]
        return "\n".join(lines) + "\n"
    if shape == "essay":
        paragraphs = [tag]
        for i in range(3):
            paragraphs.append(
                f"Paragraph {i + 1}: this synthetic essay discusses {_phrase(seed, i * 4)} "
                f"and how {_phrase(seed, i * 6 + 1)} could inform {_phrase(seed, i * 8 + 2)}."
            )
        return "\n\n".join(paragraphs) + "\n"
    score = seed[0] % 11
    if shape == "json":
        reasoning = f"{tag} the text mentions {_phrase(seed, 2)} and {_phrase(seed, 9)}."
        return json.dumps({"reasoning": reasoning, "score": score}) + "\n"
    return (
        f"{tag}\n\nReasoning: the text mentions {_phrase(seed, 2)} and {_phrase(seed, 9)}.\n"
        f"Strength: {_phrase(seed, 5, 2)}. Weakness: {_phrase(seed, 12, 2)}.\n\nSCORE: {score}\n"
    )
