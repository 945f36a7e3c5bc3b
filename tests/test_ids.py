"""Golden ids from the original DayDreaming implementation."""

import pytest

from daydream import ids

RUN = "cohort-348786683ed1"
DRAFT_TASK = "combo_v1_0fd5758312ab__creative-synthesis-v2__gemini_2.5_flash"


def test_combo_ids_match_original():
    concepts = ["default-mode-network", "dearth-ai-discoveries", "generate-and-test", "positive-feedback-loop"]
    assert ids.combo_id(concepts, "paragraph", 4) == "combo_v1_19e09a86c645"
    assert ids.combo_id(["b", "a"], "sentence", 2) == "combo_v1_d3eebb263918"


def test_gen_ids_match_original():
    assert ids.gen_id("draft", DRAFT_TASK, RUN) == "7kdpno8ufm86lzci"
    assert ids.gen_id("draft", DRAFT_TASK, RUN, "rep2") == "68qbf1980u140760"
    essay_task = ids.essay_task_id(DRAFT_TASK, "parsed-from-links-v1")
    assert ids.gen_id("essay", essay_task, RUN) == "19mmrs1b04sk61is"
    assert ids.gen_id("essay", essay_task, RUN, "rep1-2") == "2xujuic31xq6jxyv"
    assert ids.gen_id("evaluation", "abc__novelty__sonnet-4", RUN, "rep3") == "3mjqjya9st9e8o9z"
    assert ids.gen_id("essay", "x") == "6i3z9o18djpq28va"


def test_cohort_id_matches_original():
    manifest = ids.cohort_manifest(
        ["combo_v1_bbb", "combo_v1_aaa"],
        {"draft": ["d1"], "essay": ["e1"], "evaluation": ["v2", "v1"]},
        {"generation": ["g1"], "evaluation": ["m1"]},
    )
    assert ids.cohort_id(manifest) == "cohort-2df8d5fef215"


def test_salts():
    assert ids.draft_salt(1) is None and ids.draft_salt(2) == "rep2"
    assert ids.essay_salt(1, 1) is None and ids.essay_salt(1, 2) == "rep1-2" and ids.essay_salt(2, 1) == "rep2-1"
    assert ids.evaluation_salt(1) is None and ids.evaluation_salt(3) == "rep3"


@pytest.mark.parametrize("value", ["", "0", "false", "None", "null", " "])
def test_cohort_override_unset_words(value):
    assert ids.cohort_override(None, value) is None


def test_cohort_override_env_wins_and_is_validated():
    assert ids.cohort_override("from-config", "from-env") == "from-env"
    assert ids.cohort_override("from-config", "") == "from-config"
    with pytest.raises(ValueError, match="unsafe cohort id"):
        ids.cohort_override("../escape", None)


@pytest.mark.parametrize("bad", ["a/b", "..", "x..y", "", "sp ace", "é"])
def test_unsafe_ids_rejected(bad):
    assert not ids.is_safe_id(bad)


# Two evaluation gen_ids of the reference experiment's cohort, computed by an independent
# implementation of the original's rules (issue 12); each test walks the whole lineage from the
# combo, so a swapped field in any task id or salt changes the result.
@pytest.mark.parametrize(
    "combo,draft_template,gen_model,essay_template,eval_template,eval_model,replicate,golden",
    [
        ("combo_v1_0fd5758312ab", "problem-solving-v2", "gemini_25_pro", "parsed-from-links-v1",
         "style-coherence-v3", "sonnet-4", 3, "1018ujes89pbawqm"),
        ("combo_v1_560be0cdffc0", "research-discovery-v3", "gemini_2.5_flash", "parsed-from-links-v1",
         "style-coherence-v3", "gemini_25_pro", 1, "103arffxt7t2fj4w"),
    ],
)  # fmt: skip
def test_evaluation_ids_match_original_through_the_lineage(
    combo, draft_template, gen_model, essay_template, eval_template, eval_model, replicate, golden
):
    draft_task = ids.draft_task_id(combo, draft_template, gen_model)
    essay = ids.gen_id("essay", ids.essay_task_id(draft_task, essay_template), RUN, ids.essay_salt(1, 1))
    task = ids.evaluation_task_id(essay, eval_template, eval_model)
    assert ids.gen_id("evaluation", task, RUN, ids.evaluation_salt(replicate)) == golden


def test_task_ids_put_their_fields_in_the_original_order():
    assert ids.draft_task_id("combo_v1_0fd5758312ab", "creative-synthesis-v2", "gemini_2.5_flash") == DRAFT_TASK
    assert ids.essay_task_id(DRAFT_TASK, "e1") == DRAFT_TASK + "__e1"
    assert ids.evaluation_task_id("essay1", "tmpl", "model") == "essay1__tmpl__model"
