import json

import pytest

from daydream import ids
from daydream.errors import InputError
from daydream.experiment.combos import update_combo_mappings
from daydream.experiment.definition import load_experiment
from daydream.planning.cohort import plan_cohort
from daydream.planning.expansion import build_membership
from daydream.store.membership import MembershipRow, check_integrity
from daydream.store.membership import stage_counts as counts

from conftest import REFERENCE_MEMBERSHIP_SHA256, cohort_settings, make_experiment, membership_digest, write


def plan_for(root, k_max=2, **kw):
    experiment = load_experiment(root / "data", root / "templates")
    plan = plan_cohort(experiment, cohort_settings(k_max=k_max, description_level="paragraph", **kw))
    return experiment, plan


def test_cartesian_counts_and_replicate_salts(tmp_path):
    make_experiment(tmp_path, replicates=(2, 2, 3))
    experiment, plan = plan_for(tmp_path)
    rows = build_membership(plan, experiment)
    # 3 combos x 1 draft template x 1 model x 2 reps; x 2 essay templates x 2 reps;
    # x 2 evaluation templates x 1 model x 3 reps
    assert counts(rows) == {"draft": 6, "essay": 24, "evaluation": 144}
    drafts = {(r.combo_id, r.replicate): r for r in rows if r.stage == "draft"}
    combo = plan.combos[0].combo_id
    task = ids.draft_task_id(combo, "ideas", "gen-off")
    assert drafts[(combo, 1)].gen_id == ids.gen_id("draft", task, plan.cohort_id)
    assert drafts[(combo, 2)].gen_id == ids.gen_id("draft", task, plan.cohort_id, "rep2")
    essay = next(
        r for r in rows if r.stage == "essay" and r.parent_gen_id == drafts[(combo, 2)].gen_id and r.replicate == 1
    )
    assert essay.gen_id == ids.gen_id("essay", ids.essay_task_id(task, essay.template_id), plan.cohort_id, "rep2-1")
    assert essay.llm_model_id == "gen-off"
    evaluation = next(
        r for r in rows if r.stage == "evaluation" and r.parent_gen_id == essay.gen_id and r.replicate == 3
    )
    eval_task = ids.evaluation_task_id(essay.gen_id, evaluation.template_id, evaluation.llm_model_id)
    assert evaluation.gen_id == ids.gen_id("evaluation", eval_task, plan.cohort_id, "rep3")


def test_combos_follow_concept_table_order_and_skip_inactive(tmp_path):
    make_experiment(tmp_path)
    _, plan = plan_for(tmp_path)
    assert [c.concept_ids for c in plan.combos] == [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]


def test_cohort_id_is_deterministic_and_overridable(tmp_path):
    make_experiment(tmp_path)
    _, first = plan_for(tmp_path)
    _, second = plan_for(tmp_path)
    assert first.cohort_id == second.cohort_id and first.cohort_id.startswith("cohort-")
    _, named = plan_for(tmp_path, cohort_id="my-cohort")
    assert named.cohort_id == "my-cohort"


def test_selected_combo_mappings_replace_enumeration(tmp_path):
    make_experiment(tmp_path)
    cid = ids.combo_id(["alpha", "gamma"], "paragraph", 2)
    write(
        tmp_path / "data/2_tasks/selected_combo_mappings.csv",
        f"combo_id,version,concept_id,description_level,k_max,created_at\n{cid},v1,gamma,paragraph,2,\n{cid},v1,alpha,paragraph,2,\n",
    )
    _, plan = plan_for(tmp_path)
    assert [c.combo_id for c in plan.combos] == [cid]
    assert plan.combos[0].concept_ids == ("alpha", "gamma")


def test_integrity_drops_duplicates_and_rejects_orphans():
    draft = MembershipRow("draft", "d1", "c", "", "k", "t", "m", 1)
    essay = MembershipRow("essay", "e1", "c", "d1", "k", "t", "m", 1)
    assert check_integrity([draft, draft, essay]) == [draft, essay]
    orphan = MembershipRow("evaluation", "v1", "c", "missing", "k", "t", "m", 1)
    with pytest.raises(InputError, match="parent 'missing'"):
        check_integrity([draft, essay, orphan])


def test_curated_mode_rebuilds_rows_from_store(tmp_path):
    make_experiment(tmp_path)
    data = tmp_path / "data"
    experiment, plan = plan_for(tmp_path)
    combo = plan.combos[1]
    update_combo_mappings(data / "combo_mappings.csv", plan.combos, "t0")
    write(
        data / "gens/draft/olddraft/metadata.json",
        json.dumps({"combo_id": combo.combo_id, "template_id": "ideas", "llm_model_id": "gen-off", "replicate": 1}),
    )
    write(
        data / "gens/essay/oldessay/metadata.json",
        json.dumps({"parent_gen_id": "olddraft", "template_id": "plain-essay", "replicate": 2}),
    )
    write(data / "2_tasks/selected_essays.txt", "oldessay  # the best one\n")
    experiment, curated = plan_for(tmp_path)
    assert curated.mode == "curated" and curated.cohort_id != plan.cohort_id
    rows = build_membership(curated, experiment)
    assert counts(rows) == {"draft": 1, "essay": 1, "evaluation": 2}
    draft = rows[0]
    task = ids.draft_task_id(combo.combo_id, "ideas", "gen-off")
    assert draft.gen_id == ids.gen_id("draft", task, curated.cohort_id)
    # as the original: the selected essay's stored replicate does not matter, one essay unsalted
    assert rows[1].gen_id == ids.gen_id("essay", ids.essay_task_id(task, "plain-essay"), curated.cohort_id)
    assert curated.manifest["templates"]["essay"] == ["plain-essay"]
    # essay replicates 2: two essays of the selected template per selected draft, salted rep1, rep2
    write(data / "1_raw/replication_config.csv", "stage,replicates\ndraft,3\nessay,2\nevaluation,1\n")
    experiment, curated = plan_for(tmp_path)
    rows = build_membership(curated, experiment)
    assert counts(rows) == {"draft": 1, "essay": 2, "evaluation": 4}
    assert rows[0].gen_id == ids.gen_id("draft", task, curated.cohort_id)  # no draft replicates
    expected = [
        ids.gen_id("essay", ids.essay_task_id(task, "plain-essay"), curated.cohort_id, f"rep{n}") for n in (1, 2)
    ]
    assert [r.gen_id for r in rows if r.stage == "essay"] == expected
    assert [r.replicate for r in rows if r.stage == "essay"] == [1, 2]


def test_combo_mappings_are_append_only(tmp_path):
    make_experiment(tmp_path)
    _, plan = plan_for(tmp_path)
    path = tmp_path / "combo_mappings.csv"
    assert update_combo_mappings(path, plan.combos[:1], "t0") == 1
    before = path.read_text()
    assert update_combo_mappings(path, plan.combos, "t1") == 2
    after = path.read_text()
    assert after.startswith(before) and after.count("\n") == 1 + 2 * 3


def test_reference_experiment_cohort_matches_original(reference):
    experiment = load_experiment(reference / "original-data", reference / "original-data/1_raw/templates")
    plan = plan_cohort(experiment, cohort_settings(k_max=4, description_level="paragraph"))
    assert plan.cohort_id == "cohort-348786683ed1"
    rows = build_membership(plan, experiment)
    assert counts(rows) == {"draft": 525, "essay": 525, "evaluation": 8400}
    by_id = {(r.stage, r.gen_id): r for r in rows}
    assert ("draft", "7kdpno8ufm86lzci") in by_id
    essay = by_id[("essay", "19mmrs1b04sk61is")]
    assert essay.parent_gen_id == "7kdpno8ufm86lzci" and essay.template_id == "parsed-from-links-v1"
    assert membership_digest(rows) == REFERENCE_MEMBERSHIP_SHA256  # every id and parent of 9,450 rows
