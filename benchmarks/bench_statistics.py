"""Benchmark: the results of a large cohort, statistics included. Prints figures; asserts nothing.

Writes a synthetic gens store shaped like the cube of docs/performance.md (91 combos x 5 draft
templates x 4 generation models = 1,820 drafts and essays; 3 evaluation templates x 2 judges =
10,920 evaluations), with planted effects, then runs the two results jobs exactly as the rules
do (workflow/scripts/results.py, each a fresh process, so imports count) and reports wall time
and peak memory of each; then, in this process, the time of each statistic alone.

    python benchmarks/bench_statistics.py                     # 10,920 evaluations, 1,000 resamples
    python benchmarks/bench_statistics.py --combos 20 --resamples 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from daydream.analysis import registry  # noqa: E402
from daydream.analysis.scores import score_rows, scores_frame  # noqa: E402
from daydream.config import section_defaults  # noqa: E402


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def build_store(data: Path, combos: int, seed: int) -> int:
    """Drafts and essays of every combo x draft template x generation model, each essay scored
    once by 3 templates x 2 judges; returns the number of evaluations."""
    rng = np.random.default_rng(seed)
    gens = data / "gens"
    draft_effect = dict(zip([f"draft-{i}" for i in range(5)], [0.0, 0.3, -0.2, 0.5, 0.0], strict=True))
    model_effect = dict(zip([f"gen-model-{i}" for i in range(4)], [0.0, 0.4, -0.4, 0.1], strict=True))
    judge_bias = {"judge-a": 0.0, "judge-b": -0.5}
    evaluations = 0
    for c in range(combos):
        combo = f"combo_v1_{c:012x}"
        for template, t_effect in draft_effect.items():
            for model, m_effect in model_effect.items():
                draft, essay = f"d{c:03d}{template[-1]}{model[-1]}", f"e{c:03d}{template[-1]}{model[-1]}"
                write_json(
                    gens / "draft" / draft / "metadata.json",
                    {
                        "stage": "draft",
                        "gen_id": draft,
                        "combo_id": combo,
                        "template_id": template,
                        "llm_model_id": model,
                    },
                )
                write_json(
                    gens / "essay" / essay / "metadata.json",
                    {
                        "stage": "essay",
                        "gen_id": essay,
                        "parent_gen_id": draft,
                        "template_id": "essay-t",
                        "llm_model_id": model,
                    },
                )
                quality = 6.0 + t_effect + m_effect + rng.normal(0, 1.2)
                for e_template in ("clarity", "novelty", "rigour"):
                    for judge, bias in judge_bias.items():
                        gen_id = f"v{evaluations:07d}"
                        folder = gens / "evaluation" / gen_id
                        write_json(
                            folder / "metadata.json",
                            {
                                "stage": "evaluation",
                                "gen_id": gen_id,
                                "parent_gen_id": essay,
                                "template_id": e_template,
                                "llm_model_id": judge,
                                "replicate": 1,
                                "cohort_id": "cohort-bench",
                                "parser_name": "in_last_line",
                            },
                        )
                        score = float(np.clip(np.round(quality + bias + rng.normal(0, 1.0), 1), 0, 10))
                        (folder / "parsed.txt").write_text(f"{score}\n", encoding="utf-8")
                        evaluations += 1
    return evaluations


def run_job(data: Path, out: Path, job: str, statistics: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one results job in a fresh process."""
    script = ROOT / "workflow" / "scripts" / "results.py"
    command = [sys.executable, str(script), "--data-root", str(data), "--out-dir", str(out)]
    command += ["--top-n", "10", f"--statistics={json.dumps(statistics)}", f"--jobs={job}"]
    code = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "wall = time.perf_counter() - start\n"
        "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True, text=True, env=env)
    wall, peak = result.stdout.split()
    return float(wall), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combos", type=int, default=91, help="combos (x 20 essays, x 6 evaluations each)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    statistics = {**section_defaults("statistics"), "resamples": args.resamples}
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "reports"
        start = time.perf_counter()
        evaluations = build_store(data, args.combos, args.seed)
        print(
            f"store: {evaluations:,} evaluations of {evaluations // 6:,} essays"
            f" written in {time.perf_counter() - start:.1f} s"
        )
        print(f"resamples: {args.resamples:,}; each job a fresh process, as the rules run it")
        total = 0.0
        for job in registry.RESULT_JOBS:
            wall, peak = run_job(data, out, job, statistics)
            total = max(total, wall)
            print(f"  job {job:<13} {wall:6.2f} s wall, peak {peak:6.0f} MiB")
        print(f"  both side by side (the longer of the two): {total:.2f} s")

        start = time.perf_counter()
        scores = scores_frame(score_rows(data))
        print(f"in one process: reading the scores {time.perf_counter() - start:.2f} s; each table alone:")
        inputs = registry.ResultInputs(data, scores, None, [], 10, statistics)
        for table in registry.RESULT_TABLES:
            start = time.perf_counter()
            table.build(inputs)
            print(f"  {table.name:<32} {time.perf_counter() - start:6.2f} s ({table.job})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak of this process {peak:.0f} MiB")


if __name__ == "__main__":
    main()
