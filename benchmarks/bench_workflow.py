"""Benchmark: Snakemake planning cost at the reference experiment's size, and the offline
example cube's wall time. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_workflow.py            # both
    .venv/bin/python benchmarks/bench_workflow.py --skip-run # planning only
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, config: Path, *args: str) -> float:
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config), "--cores", "2", *args,
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env={"DD_COHORT": "", "PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return time.monotonic() - started


def reference_sized_experiment(root: Path) -> Path:
    """6 active concepts (k_max 4: 15 combos), 7 draft templates, 1 copy essay template,
    2 evaluation templates, 5 generation and 2 evaluation models, 4 evaluation replicates:
    525 drafts, 525 essays, 8,400 evaluations, like the original experiment."""
    raw = root / "data" / "1_raw"
    (raw / "concepts" / "descriptions-paragraph").mkdir(parents=True)
    lines = ["concept_id,name,active"]
    for i in range(6):
        lines.append(f"c{i},Concept {i},true")
        (raw / "concepts" / "descriptions-paragraph" / f"c{i}.txt").write_text(f"Concept {i} text.\n")
    (raw / "concepts_metadata.csv").write_text("\n".join(lines) + "\n")
    head = "template_id,template_name,description,parser,generator,active\n"
    (raw / "draft_templates.csv").write_text(head + "".join(f"d{i},D{i},x,,llm,true\n" for i in range(7)))
    (raw / "essay_templates.csv").write_text(head + "copy,Copy,x,,copy,true\n")
    (raw / "evaluation_templates.csv").write_text(head + "v0,V0,x,in_last_line,llm,true\nv1,V1,x,complex,llm,true\n")
    models = ["id,model,provider,display_name,for_generation,for_evaluation"]
    models += [f"g{i},off/g{i},offline,G{i},true,{'true' if i < 2 else 'false'}" for i in range(5)]
    (raw / "llm_models.csv").write_text("\n".join(models) + "\n")
    (raw / "replication_config.csv").write_text("stage,replicates\ndraft,1\nessay,1\nevaluation,4\n")
    tpl = root / "templates"
    for stage, body in (("draft", "{% for c in concepts %}{{ c.name }}{% endfor %}"), ("evaluation", "{{ response }}")):
        (tpl / stage).mkdir(parents=True)
        for name in (["d0", "d1", "d2", "d3", "d4", "d5", "d6"] if stage == "draft" else ["v0", "v1"]):
            (tpl / stage / f"{name}.txt").write_text(body + "\n")
    config = root / "config.yaml"
    config.write_text(f"data_root: {root / 'data'}\ntemplates_root: {tpl}\nk_max: 4\ndescription_level: paragraph\n")
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-run", action="store_true", help="skip the offline example cube run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = reference_sized_experiment(root)
        t_cohort = snakemake(root, config, "cohort")
        t_dry = snakemake(root, config, "-n", "all_evaluations")
        print("reference-sized cube (525 drafts, 525 essays, 8,400 evaluations; 27,301 jobs):")
        print(f"  snakemake cohort (plan + checkpoint):   {t_cohort:6.1f} s")
        print(f"  snakemake -n all_evaluations (dry run): {t_dry:6.1f} s")
    if not args.skip_run:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            shutil.copytree(ROOT / "data" / "1_raw", root / "data" / "1_raw")
            shutil.copytree(ROOT / "templates", root / "templates")
            config = root / "config.yaml"
            text = (ROOT / "config" / "config.yaml").read_text()
            config.write_text(text + f"\ndata_root: {root / 'data'}\ntemplates_root: {root / 'templates'}\n")
            t_run = snakemake(root, config, "all")
            n_eval = len(list((root / "data" / "gens" / "evaluation").glob("*/parsed.txt")))
            print(f"offline example cube through results ({n_eval} evaluations), --cores 2: {t_run:6.1f} s")


if __name__ == "__main__":
    main()
