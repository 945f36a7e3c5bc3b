"""Store housekeeping: the check's findings, and a purge that spares other cohorts and archives."""

import json

from daydream.store.housekeeping import check_store, purge, purge_plan

from conftest import write

HEADER = "stage,gen_id,cohort_id,parent_gen_id,combo_id,template_id,llm_model_id,replicate\n"


def gen(data, stage, gen_id, parsed=True, raw=True, **meta):
    folder = data / "gens" / stage / gen_id
    write(folder / "metadata.json", json.dumps({"stage": stage, "gen_id": gen_id, **meta}))
    write(folder / "responses" / "k-1.json", json.dumps({"text": "paid"}))
    if raw:
        write(folder / "raw.txt", "paid")
    if parsed:
        write(folder / "parsed.txt", "paid")


def membership(data, cohort, rows):
    write(data / "cohorts" / cohort / "membership.csv", HEADER + "".join(f"{r}\n" for r in rows))


def store(tmp_path):
    """Cohort a: d1 -> e1 -> v1, d2 -> e2 -> v2. Cohort r re-scores e1 (evaluation r1)."""
    data = tmp_path / "data"
    gen(data, "draft", "d1", combo_id="k1", template_id="t", llm_model_id="m")
    gen(data, "draft", "d2", combo_id="k1", template_id="t", llm_model_id="m")
    gen(data, "essay", "e1", parent_gen_id="d1", combo_id="k1", template_id="et", llm_model_id="m")
    gen(data, "essay", "e2", parent_gen_id="d2", combo_id="k1", template_id="et", llm_model_id="m")
    gen(data, "evaluation", "v1", parent_gen_id="e1", combo_id="k1", template_id="j", llm_model_id="jm")
    gen(data, "evaluation", "v2", parent_gen_id="e2", combo_id="k1", template_id="j", llm_model_id="jm")
    gen(data, "evaluation", "r1", parent_gen_id="e1", combo_id="k1", template_id="j", llm_model_id="jm2")
    membership(
        data,
        "a",
        [
            "draft,d1,a,,k1,t,m,1",
            "draft,d2,a,,k1,t,m,1",
            "essay,e1,a,d1,k1,et,m,1",
            "essay,e2,a,d2,k1,et,m,1",
            "evaluation,v1,a,e1,k1,j,jm,1",
            "evaluation,v2,a,e2,k1,j,jm,1",
        ],
    )
    membership(data, "r", ["evaluation,r1,r,e1,k1,j,jm2,1"])
    return data


def test_a_consistent_store_has_no_findings(tmp_path):
    assert check_store(store(tmp_path)) == []


def test_check_finds_each_kind_of_problem(tmp_path):
    data = store(tmp_path)
    gen(data, "evaluation", "lost", parent_gen_id="e9")  # parent not stored, and in no cohort
    (data / "gens/evaluation/v2/parsed.txt").unlink()  # raw without parsed
    meta = data / "gens/essay/e2/metadata.json"
    meta.write_text(meta.read_text().replace('"et"', '"other"'))  # contradicts membership
    gen(data, "essay", "v1", parent_gen_id="d1")  # one gen_id under two stages
    found = {(p.kind, p.stage, p.gen_id) for p in check_store(data)}
    assert ("missing parent", "evaluation", "lost") in found and ("orphan", "evaluation", "lost") in found
    assert ("raw without parsed", "evaluation", "v2") in found
    assert ("contradicts membership", "essay", "e2") in found
    assert ("duplicate", "essay", "v1") in found or ("duplicate", "evaluation", "v1") in found


def test_purge_spares_what_another_cohort_uses_and_every_archive(tmp_path):
    data = store(tmp_path)
    remove, kept = purge_plan(data, "a")
    assert sorted(remove) == [("draft", "d2"), ("essay", "e2"), ("evaluation", "v1"), ("evaluation", "v2")]
    assert {(stage, gen_id) for stage, gen_id, _ in kept} == {("essay", "e1"), ("draft", "d1")}
    assert purge(data, "a", remove) == 4
    assert (data / "gens/essay/e1/parsed.txt").is_file() and (data / "gens/draft/d1/parsed.txt").is_file()
    assert not (data / "gens/essay/e2/parsed.txt").exists() and not (data / "gens/essay/e2/raw.txt").exists()
    assert (data / "gens/essay/e2/responses/k-1.json").is_file()  # paid responses stay
    purge(data, "a", [("draft", "d2")], include_responses=True)
    assert not (data / "gens/draft/d2").exists()
