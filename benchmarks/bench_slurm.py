"""Benchmark: the shipped example experiment through a real one-node Slurm cluster. Prints
figures; asserts nothing. Needs root and Slurm's Debian packages (slurmctld slurmd slurm-client
munge, which .ci/run installs); the cluster is started and stopped here (tests/slurm_cluster.py).

Runs `snakemake --profile profiles/slurm all_evaluations` on a copy of the example (offline
backend), then the same cube locally, and prints: generations, Slurm jobs, wall of both runs,
the Slurm jobs' summed run time per generation (the cost of a call inside a group: a short
Snakemake process each), and the most Slurm jobs running at once.

    python benchmarks/bench_slurm.py                         # the profile's group size
    python benchmarks/bench_slurm.py --calls-per-job 1       # every call its own Slurm job
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from slurm_cluster import PACKAGES, SlurmCluster, missing_binaries, most_running_at_once  # noqa: E402


def example_copy(folder: Path, cap: int) -> Path:
    """The example experiment's inputs, templates and config in folder; returns the config file."""
    shutil.copytree(ROOT / "data" / "1_raw", folder / "data" / "1_raw")
    shutil.copytree(ROOT / "templates", folder / "templates")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(data_root=str(folder / "data"), templates_root=str(folder / "templates"))
    config["llm"] = {**config.get("llm", {}), "max_concurrency": cap}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(folder: Path, config: Path, *args: str, env: dict) -> float:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(folder)]
    command += ["all_evaluations", *args, "--configfile", str(config)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=folder, env={**env, "DD_COHORT": ""}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"snakemake failed:\n{done.stderr[-3000:]}")
    (folder / "snakemake.out").write_text(done.stdout + done.stderr)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls-per-job", type=int, help="group-components (default: the profile's)")
    parser.add_argument("--cap", type=int, default=16, help="offline calls in flight (llm.max_concurrency)")
    args = parser.parse_args()
    if missing_binaries() or os.geteuid() != 0:
        sys.exit(f"needs root and Slurm ({' '.join(PACKAGES)}); missing: {', '.join(missing_binaries()) or 'root'}")

    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        tmp = Path(tmp)
        local, through_slurm = tmp / "local", tmp / "slurm"
        extra = ["--group-components", f"llm_{{stage}}={args.calls_per_job}"] if args.calls_per_job else []
        with SlurmCluster(tmp / "cluster") as cluster:
            config = example_copy(through_slurm, args.cap)
            slurm_options = ["--slurm-status-command", "squeue", "--slurm-no-account"]
            slurm_options += ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
            slurm_wall = snakemake(
                through_slurm,
                config,
                "--profile",
                str(ROOT / "profiles" / "slurm"),
                *slurm_options,
                *extra,
                env=cluster.environment(),
            )
            jobs = [job for job in cluster.jobs() if job["comment"].startswith("rule_llm_")]
        generations = sum(1 for _ in (through_slurm / "data" / "gens").glob("*/*/parsed.txt"))
        local_wall = snakemake(local, example_copy(local, args.cap), env=dict(os.environ))
        busy = sum(
            (datetime.fromisoformat(j["end"]) - datetime.fromisoformat(j["start"])).total_seconds() for j in jobs
        )
        per_job = args.calls_per_job or 10
        print(f"example cube: {generations} generations; cap {args.cap}; calls per Slurm job: {per_job}")
        print(f"  Slurm jobs: {len(jobs)} ({generations / max(len(jobs), 1):.1f} generations each)")
        print(f"  through Slurm: wall {slurm_wall:.1f} s", end="; ")
        print(f"Slurm jobs' run time {busy:.0f} s = {busy / generations:.2f} s per generation")
        print(f"  most Slurm jobs running at once: {most_running_at_once(jobs)}")
        print(f"  the same cube locally: wall {local_wall:.1f} s")


if __name__ == "__main__":
    main()
