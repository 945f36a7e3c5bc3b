"""The cost plan: pending calls, estimated tokens and cost, learned from stored responses."""

import json
from pathlib import Path

import pytest

from daydream.config import validate_config
from daydream.errors import InputError
from daydream.planning.cost_plan import CHARS_PER_TOKEN, check_budget
from daydream.planning.setup import Setup, load_setup

from conftest import make_experiment, write

PRICED = (
    "id,model,provider,display_name,for_generation,for_evaluation,input_price_per_mtok,output_price_per_mtok\n"
    "writer,vendor/writer-1,openrouter,Writer,true,false,3,15\n"
    "judge,vendor/judge-1,openrouter,Judge,false,true,1,5\n"
)


def load_plan(root: Path) -> Setup:
    config = {"data_root": str(root / "data"), "templates_root": str(root / "templates"), "k_max": 2}
    return load_setup(validate_config(config), None)


def line_of(plan, stage):
    (line,) = [line for line in plan.lines if line.stage == stage]
    return line


def test_fresh_cohort_estimates_from_files_and_priors(tmp_path):
    make_experiment(tmp_path, models=PRICED)
    workflow = load_plan(tmp_path)
    plan = workflow.cost_plan()
    draft = line_of(plan, "draft")
    assert (draft.calls, draft.pending) == (3, 3)
    # input: the template file plus the two concept descriptions of each combo (3 combos of 3 concepts)
    template = (tmp_path / "templates/draft/ideas.txt").stat().st_size
    descriptions = sum(
        (tmp_path / f"data/1_raw/concepts/descriptions-paragraph/{c}.txt").stat().st_size
        for c in ("alpha", "beta", "gamma")
    )
    assert draft.input_tokens == pytest.approx((3 * template + 2 * descriptions) / CHARS_PER_TOKEN)
    assert draft.output_tokens == 3 * 1200  # the draft prior, expected_output_tokens
    assert draft.cost == pytest.approx(draft.input_tokens * 3 / 1e6 + draft.output_tokens * 15 / 1e6)
    assert (line_of(plan, "essay").calls, line_of(plan, "evaluation").calls) == (3, 12)  # copy essays: no call
    assert plan.pending == 18 and plan.cost == pytest.approx(sum(line.cost for line in plan.lines))
    with pytest.raises(InputError, match=r"18 pending calls are estimated at \$[0-9.]+, over max_cost_usd=\$0.0010"):
        check_budget(plan, 0.001)
    check_budget(plan, 100.0)


def test_stored_responses_are_not_pending_and_teach_the_estimate(tmp_path):
    """A raw.txt stored beside the prompt it answers (the original's failed-parse state) is the
    response to that request: not pending. One beside another prompt answers another request."""
    make_experiment(tmp_path, models=PRICED)
    workflow = load_plan(tmp_path)
    rows = [r for r in workflow.membership_rows() if r.stage == "draft"]
    specs = workflow.spec_index()
    specs.use_rows(rows)
    for row, prompt in ((rows[0], specs.get("draft", rows[0].gen_id).render_prompt()), (rows[1], "an older prompt")):
        stored = tmp_path / "data/gens/draft" / row.gen_id
        write(stored / "prompt.txt", prompt)
        write(stored / "raw.txt", "a stored response whose parse failed\n")
        write(stored / "metadata.json", json.dumps({"mode": "llm", "usage": {"completion_tokens": 100}}))
    draft = line_of(workflow.cost_plan(), "draft")
    assert (draft.calls, draft.pending) == (3, 2)
    assert draft.output_tokens == 2 * 100 and draft.output_estimate == "mean of 1 stored"
    assert len(list((tmp_path / "data/gens/draft").glob("*/responses/*.json"))) == 2  # both kept
