"""Structured judge output: the JSON schema a judge is asked to answer in, and the score read
from such an answer. A judge that ignores the schema is parsed by its template's text parser
instead, with the reason recorded (generating/steps.py)."""

from __future__ import annotations

import json
import re

from daydream.text.parsers import ParseError

# The request key includes this name: a new schema is a new request (a new call).
JUDGE_FORMAT = "judge_score_v1"
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "description": "the judge's reasoning, before the score"},
        "score": {"type": "number", "minimum": 0, "maximum": 10, "description": "the score, 0 to 10"},
    },
    "required": ["reasoning", "score"],
    "additionalProperties": False,
}
FORMATS = {JUDGE_FORMAT: JUDGE_SCHEMA}

_FENCE = re.compile(r"^```(?:json)?\s*(?P<body>.*?)\s*```$", re.S | re.I)


def response_format(name: str) -> dict:
    """The request's response_format field (OpenAI's json_schema form, which OpenRouter passes on)."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": FORMATS[name]}}


def structured_score(text: str) -> float:
    """The score of a JSON answer {"reasoning": ..., "score": ...} (a ```json fence around it is
    accepted); ParseError saying why when the answer is not that."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group("body")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"the answer is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise ParseError(f"the answer is JSON but not an object ({type(data).__name__})")
    if "score" not in data:
        raise ParseError("the JSON answer has no 'score'")
    score = data["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or score != score:
        raise ParseError(f"the JSON 'score' is not a number: {json.dumps(score)[:40]}")
    if not 0 <= score <= 10:
        raise ParseError(f"the JSON 'score' {score} is outside 0-10")
    return float(score)
