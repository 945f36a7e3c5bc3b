"""A response as the generate step reads it: the answer (the content without a reasoning
model's thinking) to validate and parse, the reasoning kept apart, and a structured judge's score
(or why the template's parser reads the answer instead). The cost plan predicts a stored
response's parsed text the same way."""

from __future__ import annotations

from dataclasses import dataclass

from daydream.text.parsers import ParseError, format_score, parsed_text
from daydream.text.reasoning import Split, split_reasoning
from daydream.text.structured import structured_score


@dataclass(frozen=True)
class Answer:
    split: Split
    score: float | None = None  # read from a structured judge's JSON
    structured_fallback: str | None = None  # why a structured judge's answer went to the parser


def read_answer(record: dict, reasoning_tag: str, response_format: str | None, parser: str) -> Answer:
    """The answer in an archived response record."""
    split = split_reasoning(record["text"], record.get("reasoning"), reasoning_tag)
    if not response_format:
        return Answer(split)
    try:
        return Answer(split, structured_score(split.answer))
    except ParseError as exc:
        return Answer(split, None, f"{exc}; read by the {parser} parser")


def parsed_answer(stage: str, parser: str, answer: Answer) -> str:
    """parsed.txt's text: a structured judge's score, else what the parser takes from the answer
    (ParseError when it finds nothing)."""
    if answer.score is not None:
        return format_score(answer.score) + "\n"
    return parsed_text(stage, parser, answer.split.answer)
