"""Benchmark: wall time of N draft generations against a loopback OpenAI-compatible server
that answers after a fixed latency, compared with the latency floor N * latency / concurrency.

    .venv/bin/python benchmarks/bench_latency.py --calls 250 --latency 0.5 --cores 32
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeLLM  # noqa: E402


def experiment(root: Path, calls: int, base_url: str) -> Path:
    """One draft template and `calls` generation models over a single 2-concept combo: one
    draft (one LLM call) per model."""
    raw = root / "data" / "1_raw"
    (raw / "concepts" / "descriptions-paragraph").mkdir(parents=True)
    (raw / "concepts_metadata.csv").write_text("concept_id,name,active\na,A,true\nb,B,true\n")
    for cid in "ab":
        (raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt").write_text(f"{cid} text\n")
    head = "template_id,template_name,description,parser,generator,active\n"
    (raw / "draft_templates.csv").write_text(head + "ideas,Ideas,x,essay_idea_last,llm,true\n")
    (raw / "essay_templates.csv").write_text(head + "copy,Copy,x,,copy,true\n")
    (raw / "evaluation_templates.csv").write_text(head + "judge,Judge,x,in_last_line,llm,true\n")
    models = ["id,model,provider,display_name,for_generation,for_evaluation", "judge,j,offline,J,false,true"]
    models += [f"m{i},vendor/m{i},openrouter,M{i},true,false" for i in range(calls)]
    (raw / "llm_models.csv").write_text("\n".join(models) + "\n")
    (raw / "replication_config.csv").write_text("stage,replicates\ndraft,1\nessay,1\nevaluation,1\n")
    for stage, body in (
        ("draft", "{% for c in concepts %}{{ c.name }}{% endfor %} essay-idea"),
        ("evaluation", "{{ response }}"),
    ):
        (root / "templates" / stage).mkdir(parents=True)
        (root / "templates" / stage / f"{'ideas' if stage == 'draft' else 'judge'}.txt").write_text(body + "\n")
    config = root / "config.yaml"
    config.write_text(
        f"data_root: {root / 'data'}\ntemplates_root: {root / 'templates'}\nk_max: 2\n"
        f"providers:\n  openrouter: {{base_url: '{base_url}', api_key_env: null}}\n"
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=250)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--cores", type=int, default=32)
    parser.add_argument("extra", nargs="*", help="more snakemake options, after --")
    args = parser.parse_args()
    with FakeLLM(latency_s=args.latency) as server, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = experiment(root, args.calls, server.base_url)
        command = [
            sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(root),
            "--configfile", str(config), "--cores", str(args.cores), "all_drafts",
            "--resources", f"openrouter={args.cores}", *args.extra,
        ]  # fmt: skip
        subprocess.run(command[: command.index("all_drafts")] + ["cohort"], check=True, capture_output=True)
        before = os.times()
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        after = os.times()
        cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    floor = args.calls * args.latency / args.cores
    print(f"{args.calls} calls at {args.latency} s latency, --cores {args.cores} (3 jobs per generation):")
    ratio = elapsed / floor
    print(f"  wall {elapsed:.1f} s; latency floor {floor:.1f} s; ratio {ratio:.1f}x; requests {len(server.requests)}")
    print(f"  CPU of snakemake and its jobs: {cpu:.1f} s ({cpu / args.calls * 1000:.0f} ms per generation)")


if __name__ == "__main__":
    main()
