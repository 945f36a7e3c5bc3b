import itertools
import json
import subprocess
import sys

import pytest

from daydream.experiment.cover import greedy_cover, is_cover, schoenheim_bound, solve_cover

from conftest import ROOT, make_experiment, run_snakemake, write, write_config


@pytest.mark.parametrize(
    "n,k,t,known",
    [
        (7, 3, 2, 7),
        (9, 3, 2, 12),
        (6, 3, 2, 6),
        (13, 4, 2, 13),
        (8, 4, 2, 6),
        (10, 4, 3, 30),
        (6, 3, 1, 2),
        (11, 3, 2, 19),
        (15, 3, 2, 35),
        (16, 4, 2, 20),
        (9, 4, 2, 8),
        (10, 4, 2, 9),
        (14, 4, 2, 18),
        (7, 4, 3, 12),
    ],
)
def test_known_covering_numbers_are_reached_and_proven(n, k, t, known):
    solution = solve_cover(n, k, t, time_limit_s=60)
    assert solution.size == known
    assert solution.status == "optimal" and solution.lower_bound == known and solution.gap == 0
    assert is_cover(solution.blocks, n, t)
    assert all(len(set(b)) == k for b in solution.blocks)


def test_solver_is_deterministic():
    assert solve_cover(9, 3, 2, 30).blocks == solve_cover(9, 3, 2, 30).blocks


def test_time_limit_keeps_best_solution_and_reports_gap():
    solution = solve_cover(20, 4, 2, time_limit_s=1)
    assert is_cover(solution.blocks, 20, 2)
    assert solution.lower_bound >= schoenheim_bound(20, 4, 2) == 35
    assert solution.size >= solution.lower_bound
    assert solution.gap == pytest.approx((solution.size - solution.lower_bound) / solution.size, abs=1e-4)
    assert solution.status in {"optimal", "time_limit"} and solution.time_s < 30


def test_is_cover_detects_a_missing_pair():
    blocks = greedy_cover(7, 3, 2)
    assert is_cover(blocks, 7, 2)
    assert not is_cover(blocks[1:], 7, 2)


def test_cohort_with_cover_has_the_planned_drafts(tmp_path):
    make_experiment(tmp_path)
    # five active concepts, triples covering every pair
    raw = tmp_path / "data/1_raw"
    rows = "concept_id,name,active\n" + "".join(f"c{i},Concept {i},true\n" for i in range(5))
    write(raw / "concepts_metadata.csv", rows)
    for i in range(5):
        write(raw / f"concepts/descriptions-paragraph/c{i}.txt", f"Concept {i} text.\n")
    write_config(tmp_path, k_max=3, combo_selection="cover", cover_t=2)
    run_snakemake(tmp_path, "cohort")
    (folder,) = (tmp_path / "data/cohorts").glob("cohort-*")
    manifest = json.loads((folder / "manifest.json").read_text())
    selection = manifest["combo_selection"]
    assert selection["method"] == "cover" and selection["full_size"] == 10 and selection["status"] == "optimal"
    planned = selection["size"]
    assert planned == 4  # C(5,3,2) = 4
    membership = (folder / "membership.csv").read_text().splitlines()
    assert sum(1 for line in membership if line.startswith("draft,")) == planned  # 1 template x 1 model
    combos = {}
    for line in (folder / "combos.csv").read_text().splitlines()[1:]:
        combo_id, concept_id = line.split(",")[:2]
        combos.setdefault(combo_id, set()).add(concept_id)
    covered = {pair for members in combos.values() for pair in itertools.combinations(sorted(members), 2)}
    assert covered == set(itertools.combinations([f"c{i}" for i in range(5)], 2))


def test_plan_combos_cli_prints_size_and_full_set():
    result = subprocess.run(
        [sys.executable, "-m", "daydream", "plan-combos", "--k-max", "3", "--cover-t", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert "6 combos (full set: 20)" in first and "optimal" in first
    assert len(result.stdout.splitlines()) == 7
