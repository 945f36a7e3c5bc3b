import csv

import pytest

from daydream.text.parsers import (
    ParseError,
    essay_block,
    essay_idea_last,
    format_score,
    parse_complex,
    parse_in_last_line,
)


def test_essay_idea_last_prefers_highest_stage_not_position():
    text = (
        '<essay-idea stage="2">two</essay-idea>\n<essay-idea stage="10">ten</essay-idea>\n'
        '<essay-idea stage="3">three</essay-idea>'
    )
    assert essay_idea_last(text) == "ten"


def test_essay_idea_last_falls_back_to_last_block_without_stages():
    assert essay_idea_last("<essay-idea>a</essay-idea> x <essay-idea>b</essay-idea>") == "b"


def test_essay_idea_last_without_block_fails():
    with pytest.raises(ParseError, match="essay-idea"):
        essay_idea_last("no tags here")


def test_essay_block_first_closed_or_unclosed():
    assert essay_block("notes <essay>\nfirst\n</essay> <essay>second</essay>") == "first"
    assert essay_block("notes\n<essay>\nruns to the end") == "runs to the end"
    with pytest.raises(ParseError):
        essay_block("nothing")


IN_LAST_LINE = [
    ("Reasoning...\nSCORE: 7", 7.0),
    ("Reasoning\n**SCORE: 8.5**", 8.5),
    ("Total Score: 3\nSCORE: 6", 6.0),
    ("Blah\nFinal Score: 456", 5.0),
    ("Blah\nSCORE: 4 5 6", 5.0),
    ("text\n### Final Score: 9/10", 9.0),
    ("text\nScore 2/10", 2.0),
    ("Score: 9 at first\n\n\nmore text\nlater text\nSCORE: 3\n", 3.0),
    ("text\n*SCORE: 8*", 8.0),
    ("text\nScore: 4,5,6", 5.0),
    ("long reasoning.\n\n**SCORE: 7**  \n*(Short of the full framing, so not higher.)*", 7.0),
    ("analysis\nFinal score: 6 out of 10", 6.0),
]


@pytest.mark.parametrize("text,expected", IN_LAST_LINE)
def test_in_last_line(text, expected):
    assert parse_in_last_line(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    ["SCORE: 7\nline\nline\nline", "no score at all", "SCORE: 11", "", "Score: -2"],
)
def test_in_last_line_rejects(text):
    with pytest.raises(ParseError):
        parse_in_last_line(text)


COMPLEX = [
    ("**Score**: 1/1\n**Score**: 0/1\n\n### **SCORE: 5/10**\n- Core: 2.5/5\n- Connections: 2.5/5", 5.0),
    ("### **Final Score**\n**2/10**\n- Core Concepts: 2/5", 2.0),
    ("Score: 1/1\n### **SCORE:**\n**Total Score: 7/10**\n\nSummary: fine.", 7.0),
    ("Clarity: 3/4\nFinal Score: 6.5", 6.5),
    ("Overall rating: 4 out of 5", 8.0),
    ("Total Score: 7/10\nClarity score: 3/5", 7.0),
    ("### Final Score\n1. The problem is absent\nScore: 4/10", 4.0),
    ("Final score: **8**/10 — strong", 8.0),
    ("REASONING - fine work\nSCORE: 7.5 (above average)", 7.5),
    ("notes\nSCORE: 6\nSCORE: 8\ntrailing remark", 8.0),
    ("lowercase reasoning\nscore: 6.0", 6.0),
    ("**Total Score:** **9/10**", 9.0),
    ("## Evaluation\nNovelty: 3/4\nRigor: 2/3\n\n**Final Score: 5.5/10**\n\nThe essay is fine.", 5.5),
    ("Scores:\n- Novelty: 8\n- Clarity: 6\n\nOverall Score: 7", 7.0),
    ("**Score Breakdown**\n- A: 2/3\n- B: 1/2\n**Total: 6/10**", 6.0),
    ("**Total for Connections**: **3/5**\nSCORE: 4/10", 4.0),
    ("Overall, 3 ideas stand out.\nScore: 5", 5.0),
]


@pytest.mark.parametrize("text,expected", COMPLEX)
def test_complex(text, expected):
    assert parse_complex(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["nothing", "Final Score: 12", "Score: 3/0", "Final Score: 85%"])
def test_complex_rejects(text):
    with pytest.raises(ParseError):
        parse_complex(text)


def test_complex_only_reads_last_30_lines():
    text = "SCORE: 9\n" + "\n".join(f"line {i}" for i in range(40))
    with pytest.raises(ParseError):
        parse_complex(text)


def test_format_score():
    assert format_score(7.0) == "7" and format_score(14 / 3) == "4.6667"


def test_reference_eval_responses_parse_to_expected_scores(reference):
    folder = reference / "eval_responses"
    with open(folder / "expected_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        text = (folder / row["file"]).read_text(encoding="utf-8")
        assert parse_complex(text) == pytest.approx(float(row["final_score"])), row["file"]
