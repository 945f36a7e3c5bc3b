"""Parsers: draft text extraction and evaluation score extraction.

Score parsers return a float on the 0-10 scale or raise ParseError with the reason."""

from __future__ import annotations

import re


class ParseError(ValueError):
    pass


# ---- drafts ---------------------------------------------------------------------------------
_IDEA_BLOCK = re.compile(r"<essay-idea(?P<attrs>[^>]*)>(?P<body>.*?)</essay-idea>", re.S | re.I)
_STAGE_ATTR = re.compile(r"""stage\s*=\s*["']?\s*(\d+(?:\.\d+)?)""", re.I)


def essay_idea_last(text: str) -> str:
    """The <essay-idea> block with the highest numeric stage attribute, else the last block."""
    blocks = list(_IDEA_BLOCK.finditer(text))
    if not blocks:
        raise ParseError("no complete <essay-idea>...</essay-idea> block found")
    staged = []
    for position, block in enumerate(blocks):
        match = _STAGE_ATTR.search(block.group("attrs"))
        if match:
            staged.append((float(match.group(1)), position, block))
    chosen = max(staged, key=lambda item: (item[0], item[1]))[2] if staged else blocks[-1]
    body = chosen.group("body").strip()
    if not body:
        raise ParseError("the chosen <essay-idea> block is empty")
    return body


def essay_block(text: str) -> str:
    """The first <essay>...</essay> block, or from <essay> to the end when it is not closed."""
    start = re.search(r"<essay>", text, re.I)
    if not start:
        raise ParseError("no <essay> tag found")
    rest = text[start.end() :]
    end = re.search(r"</essay>", rest, re.I)
    body = (rest[: end.start()] if end else rest).strip()
    if not body:
        raise ParseError("the <essay> block is empty")
    return body


def identity(text: str) -> str:
    return text


DRAFT_PARSERS = {"": identity, "identity": identity, "essay_idea_last": essay_idea_last, "essay_block": essay_block}


# ---- evaluation scores ------------------------------------------------------------------------
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
# A score header ("Final Score", "Total Score", "SCORE", "Overall rating", a bare "Total:" ...), a
# separator that may span a line break, and a value: a number, optionally "x/y" or "x out of y".
_CANDIDATE = re.compile(
    r"(?P<header>\b(?:(?:(?P<qual>final|total|overall)\s+)?(?:score|rating|grade)|(?P<bare>final|total|overall)(?=\s*:)))\b"
    r"(?:\s*\([^)\n]{0,20}\))?"
    r"[ \t]*(?::|=|-|–|is\b)?[ \t]*:?\s*"
    r"(?P<num>" + _NUMBER + r")(?![\d.]*\s*%)"
    r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?",
    re.I,
)
_EXACT_SCORE_LINE = re.compile(
    r"^\s*SCORE\s*:\s*(?P<num>" + _NUMBER + r")(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?\s*\.?\s*$", re.I
)
_THREE_DIGITS = re.compile(r"^(\d)[,\s]*(\d)[,\s]*(\d)$")


def _strip_markdown(line: str) -> str:
    return line.replace("*", "").replace("#", "").replace("`", "").strip()


def _scaled(num: str, den: str | None) -> float:
    value = float(num)
    if den is not None:
        denominator = float(den)
        if denominator == 0:
            raise ParseError(f"invalid score fraction {num}/{den}")
        value = value / denominator * 10.0
    return value


def _check_range(score: float) -> float:
    if not 0.0 <= score <= 10.0:
        raise ParseError(f"score {score:g} is outside the 0-10 range")
    return score


def _rank(text: str, match: re.Match) -> int:
    """Final verdicts outrank sub-scores: a qualified or all-caps header ranks 2, a plain
    'Score' opening its line 1, a named sub-score such as 'Clarity score' 0."""
    header = match.group("header")
    if match.group("qual") or match.group("bare") or header.isupper():
        return 2
    line_start = text.rfind("\n", 0, match.start()) + 1
    if re.search(r"[A-Za-z]", text[line_start : match.start()]):
        return 0
    return 1


def _plausible(text: str, match: re.Match) -> bool:
    """A value on the line after its header must stand alone (or be a fraction), so that
    'Score' followed by a numbered list is not read as a score."""
    if "\n" not in text[match.end("header") : match.start("num")]:
        return True
    if match.group("den") is not None:
        return True
    line_end = text.find("\n", match.end())
    rest = text[match.end() : None if line_end < 0 else line_end]
    return not re.search(r"[A-Za-z0-9]", rest) and not rest.strip().startswith(".")


def _best_candidate(text: str, three_digit: bool) -> float | None:
    best = None
    for match in _CANDIDATE.finditer(text):
        if not _plausible(text, match):
            continue
        key = (_rank(text, match), match.start())
        if best is None or key >= best[0]:
            best = (key, match)
    if best is None:
        return None
    match = best[1]
    num, den = match.group("num"), match.group("den")
    if three_digit and den is None:
        digits = _THREE_DIGITS.match(_three_digit_span(text, match))
        if digits:
            return sum(int(d) for d in digits.groups()) / 3.0
    return _scaled(num, den)


def _three_digit_span(text: str, match: re.Match) -> str:
    """The value text after a header, allowing '4 5 6' or '4,5,6' forms."""
    tail = text[match.start("num") :].split("\n", 1)[0]
    span = re.match(r"\d(?:[,\s]*\d){0,2}", tail)
    return span.group(0).strip() if span else ""


def _non_empty_lines(text: str) -> list[str]:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ParseError("empty response")
    return lines


def parse_in_last_line(text: str) -> float:
    """Score from the last 3 non-empty lines: an exact 'SCORE: X' line wins; else the strongest
    'Final/Total Score' header with a number, fraction or three-digit form (mean of the digits)."""
    lines = [_strip_markdown(line) for line in _non_empty_lines(text)[-3:]]
    for line in reversed(lines):
        match = _EXACT_SCORE_LINE.match(line)
        if match:
            digits = _THREE_DIGITS.match(match.group("num"))
            if digits and match.group("den") is None:
                return _check_range(sum(int(d) for d in digits.groups()) / 3.0)
            return _check_range(_scaled(match.group("num"), match.group("den")))
    score = _best_candidate("\n".join(lines), three_digit=True)
    if score is None:
        raise ParseError("no score found in the last 3 non-empty lines")
    return _check_range(score)


def parse_complex(text: str) -> float:
    """Score from the last 30 lines: the last final-verdict header with a number or fraction
    (fractions scaled to 0-10); plain 'Score' sub-scores count only when no verdict is present."""
    lines = text.strip().splitlines()[-30:]
    cleaned = "\n".join(_strip_markdown(line) for line in lines)
    score = _best_candidate(cleaned, three_digit=False)
    if score is None:
        raise ParseError("no score header with a number found in the last 30 lines")
    return _check_range(score)


SCORE_PARSERS = {"in_last_line": parse_in_last_line, "complex": parse_complex}


def parse_score(text: str, parser: str) -> float:
    try:
        function = SCORE_PARSERS[parser]
    except KeyError:
        raise ParseError(f"unknown score parser {parser!r}; known: {', '.join(SCORE_PARSERS)}") from None
    return function(text)


def format_score(score: float) -> str:
    return f"{round(score, 4):g}"


def parsed_text(stage: str, parser: str, text: str) -> str:
    """parsed.txt from a response: a score, the text a draft parser picks, or the text itself,
    by the stage's parser kind (stages.py)."""
    from daydream.stages import STAGE_MODEL

    kind = STAGE_MODEL[stage].parser_kind
    if kind == "score":
        return format_score(parse_score(text, parser)) + "\n"
    if kind == "text":
        return DRAFT_PARSERS[parser](text)
    return text
