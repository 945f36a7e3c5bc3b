"""Benchmark: the per-generation engine at scale. Prints figures; asserts nothing.

Builds a synthetic experiment (2 draft templates x 2 generation models per combo, one LLM essay
template, evaluation templates x 2 evaluation models x replicates per essay) and measures real
`snakemake` runs of this project's Snakefile, with its default profile as a user gets it.

Latency run (default): a loopback OpenAI-compatible server answers after a fixed latency.
Prints the dry run before and after the cohort checkpoint (wall, peak memory), the run
(`snakemake all_evaluations --cores C --resources openrouter=CAP`): calls, wall, floor
(calls x latency / cap), wall/floor, CPU per call (snakemake and every process it started),
peak requests in flight at the server; then a nothing-to-do rerun of the same command.

    python benchmarks/bench_scale.py --evaluations 960 --eval-templates 2 --eval-replicates 2 \\
        --latency 0.5 --cap 32     # the 1,200-call cube: 120 drafts, 120 essays, 960 evaluations

Growth curve (--growth): per cube size, the dry run after the checkpoint, a run with the offline
provider and the nothing-to-do rerun (wall, peak memory), next to bare Snakemake with the same
number of jobs (two touch jobs per generation, no checkpoint, no input functions): its dry run,
and its nothing-to-do rerun over output files created beforehand (running its tens of thousands
of shell jobs would take far longer than ours: each spawns a shell).

    python benchmarks/bench_scale.py --growth 10920 --skip-run      # dry runs of 14,560 generations
    python benchmarks/bench_scale.py --growth 1000 5000 10000 20000

Extra snakemake options go after `--`. CPU figures of runs one after another: pass
`--keep-trees DIR` to each and remove DIR at the end of the sitting (run_folder says why).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from daydream.ids import combo_id  # noqa: E402

from llm_server import FakeLLM  # noqa: E402

DRAFTS_PER_COMBO = 4  # 2 draft templates x 2 generation models
EVAL_MODELS = 2
BARE_SETTINGS = ["--scheduler", "greedy", "--max-jobs-per-timespan", "10000/1s"]


def cube_shape(evaluations: int, eval_templates: int, eval_replicates: int) -> dict:
    per_essay = eval_templates * EVAL_MODELS * eval_replicates
    combos = max(1, round(evaluations / (DRAFTS_PER_COMBO * per_essay)))
    drafts = combos * DRAFTS_PER_COMBO
    return {
        "combos": combos,
        "drafts": drafts,
        "essays": drafts,
        "evaluations": drafts * per_essay,
        "generations": drafts * (2 + per_essay),
    }


def build_experiment(
    root: Path, shape: dict, eval_templates: int, eval_replicates: int, base_url: str, provider: str = "openrouter"
) -> Path:
    """A synthetic experiment with exactly shape['combos'] 3-concept combos (selected_combo_mappings.csv),
    its models served by `provider` (openrouter, sent to base_url; or the built-in offline one)."""
    n_concepts = 3
    while len(list(itertools.combinations(range(n_concepts), 3))) < shape["combos"]:
        n_concepts += 1
    data = root / "data"
    raw = data / "1_raw"
    (raw / "concepts" / "descriptions-paragraph").mkdir(parents=True)
    concept_ids = [f"c{i:03d}" for i in range(n_concepts)]
    lines = ["concept_id,name,active"]
    for cid in concept_ids:
        lines.append(f"{cid},Concept {cid},true")
        (raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt").write_text(f"Concept {cid} is a test idea.\n")
    (raw / "concepts_metadata.csv").write_text("\n".join(lines) + "\n")
    selected = ["combo_id,version,concept_id,description_level,k_max,created_at"]
    for ids in itertools.islice(itertools.combinations(concept_ids, 3), shape["combos"]):
        cid = combo_id(ids, "paragraph", 3)
        selected += [f"{cid},v1,{c},paragraph,3,2025-01-01T00:00:00" for c in ids]
    (data / "2_tasks").mkdir()
    (data / "2_tasks" / "selected_combo_mappings.csv").write_text("\n".join(selected) + "\n")
    head = "template_id,template_name,description,parser,generator,active\n"
    (raw / "draft_templates.csv").write_text(head + "d0,D0,x,essay_idea_last,llm,true\nd1,D1,x,,llm,true\n")
    (raw / "essay_templates.csv").write_text(head + "e0,E0,x,,llm,true\n")
    evals = "".join(f"v{i},V{i},x,in_last_line,llm,true\n" for i in range(eval_templates))
    (raw / "evaluation_templates.csv").write_text(head + evals)
    models = ["id,model,provider,display_name,for_generation,for_evaluation"]
    models += [f"g{i},vendor/g{i},{provider},G{i},true,false" for i in range(2)]
    models += [f"j{i},vendor/j{i},{provider},J{i},false,true" for i in range(EVAL_MODELS)]
    (raw / "llm_models.csv").write_text("\n".join(models) + "\n")
    (raw / "replication_config.csv").write_text(f"stage,replicates\ndraft,1\nessay,1\nevaluation,{eval_replicates}\n")
    tpl = root / "templates"
    for stage in ("draft", "essay", "evaluation"):
        (tpl / stage).mkdir(parents=True)
    for name in ("d0", "d1"):  # two different prompts (identical ones would share their responses)
        body = f"Template {name}. Combine:\n" + "{% for c in concepts %}- {{ c.name }}: {{ c.content }}\n{% endfor %}"
        body += 'Use <essay-idea stage="N">.\n'
        (tpl / "draft" / f"{name}.txt").write_text(body)
    (tpl / "essay" / "e0.txt").write_text("Write an essay from:\n{{ draft_block }}\n")
    for i in range(eval_templates):
        (tpl / "evaluation" / f"v{i}.txt").write_text(f"Judge {i}. End with SCORE: X\n{{{{ response }}}}\n")
    config = root / "config.yaml"
    config.write_text(
        f"data_root: {data}\ntemplates_root: {tpl}\nk_max: 3\n"
        f"providers:\n  openrouter: {{base_url: '{base_url}', api_key_env: null}}\n"
        "stages:\n  draft: {min_lines: 1}\n"
    )
    return config


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its reaped children, from /proc (None once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _sample_in_flight(pid: int, server, samples: list, stop: threading.Event) -> None:
    """(time, CPU seconds, calls in flight at the server) four times a second."""
    while not stop.wait(0.25):
        cpu = _cpu_seconds(pid)
        if cpu is None:
            return
        samples.append((time.monotonic(), cpu, server.in_flight))


def core_share_in_flight(samples: list) -> float | None:
    """CPU over wall time across the intervals that began with calls in flight at the server."""
    busy = [(b[1] - a[1], b[0] - a[0]) for a, b in zip(samples, samples[1:], strict=False) if a[2] > 0]
    wall = sum(t for _, t in busy)
    return sum(c for c, _ in busy) / wall if wall else None


def measure(command: list[str], cwd: Path, server=None) -> dict:
    """Run a command; wall time, CPU (user+sys of it and its waited-for children), peak RSS; with
    a server, also the share of a core it used while calls were in flight there."""
    started = time.monotonic()
    samples: list = []
    with open(cwd / "bench-stdout.txt", "w") as out, open(cwd / "bench-stderr.txt", "w") as err:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_in_flight, args=(process.pid, server, samples, stop), daemon=True)
        if server is not None:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        stop.set()
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(command)}\n{(cwd / 'bench-stderr.txt').read_text()[-4000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "cpu_system": usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "core_share_in_flight": core_share_in_flight(samples),
    }


def snakemake_command(root: Path, config: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(root),
        *args, "--configfile", str(config),
    ]  # fmt: skip


def bare_snakefile(root: Path, generations: int) -> Path:
    """Bare Snakemake with the same jobs per generation as ours (a prompt job and a generate job),
    no checkpoint and no input functions: what Snakemake itself costs for this job count."""
    path = root / "Snakefile"
    path.write_text(
        f"IDS = [f'g{{i:06d}}' for i in range({generations})]\n\n"
        "rule all:\n    input: expand('gens/{g}/parsed.txt', g=IDS)\n\n"
        "rule prompt:\n    output: 'gens/{g}/prompt.txt'\n    shell: 'touch {output}'\n\n"
        "rule generate:\n    input: 'gens/{g}/prompt.txt'\n    output: 'gens/{g}/parsed.txt'\n"
        "    shell: 'touch {output}'\n"
    )
    return path


@contextlib.contextmanager
def run_folder(keep_in: str | None):
    """A run's tree: a temporary folder removed afterwards, or with --keep-trees one made under
    that folder and left there. On ext4 without a journal every file created in the minutes after
    many were removed scans past their freed inodes, so a run started right after the last one's
    tree was removed pays kernel time for it (docs/performance.md)."""
    if keep_in is None:
        with tempfile.TemporaryDirectory() as folder:
            yield folder
    else:
        Path(keep_in).mkdir(parents=True, exist_ok=True)
        yield tempfile.mkdtemp(dir=keep_in)


def latency_run(args) -> None:
    shape = cube_shape(args.evaluations, args.eval_templates, args.eval_replicates)
    calls = shape["drafts"] + shape["essays"] + shape["evaluations"]
    with FakeLLM(latency_s=args.latency) as server, run_folder(args.keep_trees) as folder:
        root = Path(folder)
        config = build_experiment(root, shape, args.eval_templates, args.eval_replicates, server.base_url)
        run_args = ["all_evaluations", "--cores", str(args.cores), "--resources", f"openrouter={args.cap}", *args.extra]
        before = measure(snakemake_command(root, config, "-n", *run_args), root)
        measure(snakemake_command(root, config, "cohort", "--cores", str(args.cores)), root)
        after = measure(snakemake_command(root, config, "-n", *run_args), root)
        run = measure(snakemake_command(root, config, *run_args), root, server)
        rerun = measure(snakemake_command(root, config, *run_args), root)
        done = len(list((root / "data" / "gens" / "evaluation").glob("*/parsed.txt")))
        requests, peak = len(server.requests), server.max_in_flight
    floor = calls * args.latency / args.cap
    print(
        f"cube: {shape['drafts']} drafts, {shape['essays']} essays, {shape['evaluations']} evaluations; "
        f"latency {args.latency} s, cap {args.cap}, --cores {args.cores}"
    )
    print(f"  dry run before the checkpoint: {before['wall']:6.1f} s, peak {before['rss_mib']:5.0f} MiB")
    print(f"  dry run after the checkpoint:  {after['wall']:6.1f} s, peak {after['rss_mib']:5.0f} MiB")
    print(f"  calls: {calls} planned, {requests} requests at the server, {done} evaluations parsed")
    print_calls_run(run, calls, floor, peak, "snakemake and all its processes")
    print(f"  nothing-to-do rerun: {rerun['wall']:.1f} s, peak {rerun['rss_mib']:.0f} MiB")


def print_calls_run(run: dict, calls: int, floor: float, peak: int, whose: str) -> None:
    """A measured run against the latency server: wall against the floor, CPU per call (and its
    kernel share), the share of a core while calls were in flight, the peak in flight."""
    print(f"  wall {run['wall']:.1f} s; floor {floor:.2f} s; wall/floor {run['wall'] / floor:.2f}x")
    print(
        f"  CPU {run['cpu']:.1f} s = {run['cpu'] / calls:.3f} s per call ({whose}; "
        f"{run['cpu_system']:.1f} s of it in the kernel)"
    )
    share = run["core_share_in_flight"]
    print(
        f"  while calls were in flight: {share:.0%} of a core" if share is not None else "  (no calls seen in flight)"
    )
    print(f"  peak requests in flight at the server: {peak}")


def growth_point(evaluations: int, extra: list[str], with_runs: bool, keep_in: str | None = None) -> dict:
    """One cube size: our dry runs, offline run and rerun; bare Snakemake with as many jobs."""
    shape = cube_shape(evaluations, 3, 1)
    figures: dict = {"shape": shape}
    with run_folder(keep_in) as folder:
        root = Path(folder)
        config = build_experiment(root, shape, 3, 1, "http://127.0.0.1:9/v1", provider="offline")
        figures["dry_before"] = measure(snakemake_command(root, config, "-n", "all_evaluations", *extra), root)
        measure(snakemake_command(root, config, "cohort", *extra), root)
        figures["dry_after"] = measure(snakemake_command(root, config, "-n", "all_evaluations", *extra), root)
        if with_runs:
            figures["run"] = measure(snakemake_command(root, config, "all_evaluations", *extra), root)
            figures["rerun"] = measure(snakemake_command(root, config, "all_evaluations", *extra), root)
    with run_folder(keep_in) as folder:
        root = Path(folder)
        bare = [sys.executable, "-m", "snakemake", "-s", str(bare_snakefile(root, shape["generations"]))]
        bare += ["--cores", "all", *BARE_SETTINGS]
        figures["bare_dry"] = measure([*bare, "-n"], root)
        if with_runs:
            for name in ("prompt.txt", "parsed.txt"):  # outputs in dependency order, as a run leaves them
                for i in range(shape["generations"]):
                    path = root / "gens" / f"g{i:06d}" / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
            figures["bare_rerun"] = measure(bare, root)
    return figures


def print_growth_row(point: dict) -> None:
    shape = point["shape"]
    row = [f"{shape['evaluations']:,}", f"{shape['generations']:,}", f"{2 * shape['generations']:,}"]
    for key in ("dry_before", "dry_after", "run", "rerun", "bare_dry", "bare_rerun"):
        figure = point.get(key)
        row.append(f"{figure['wall']:.1f} s, {figure['rss_mib']:.0f} MiB" if figure else "-")
    print("| " + " | ".join(row) + " |", flush=True)


GROWTH_COLUMNS = ["evaluations", "generations", "jobs", "dry run before checkpoint", "dry run", "run (offline)"]
GROWTH_COLUMNS += ["rerun", "bare: dry run", "bare: rerun"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=960, help="evaluations in the cube (rounded to the shape)")
    parser.add_argument("--eval-templates", type=int, default=2)
    parser.add_argument("--eval-replicates", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency per request, seconds")
    parser.add_argument("--cap", type=int, default=32, help="provider concurrency cap (--resources openrouter=N)")
    parser.add_argument("--cores", type=int, default=32)
    parser.add_argument("--growth", type=int, nargs="+", help="growth curve over these evaluation counts")
    parser.add_argument("--skip-run", action="store_true", help="with --growth: dry runs only")
    parser.add_argument(
        "--keep-trees",
        metavar="DIR",
        help="make each run's tree under DIR and leave it there (remove DIR after the sitting: see run_folder)",
    )
    parser.add_argument("extra", nargs="*", help="more snakemake options, after --")
    args = parser.parse_args()
    if args.growth:
        print("| " + " | ".join(GROWTH_COLUMNS) + " |")
        print("|" + "---|" * len(GROWTH_COLUMNS), flush=True)
        for evaluations in args.growth:
            print_growth_row(growth_point(evaluations, args.extra, not args.skip_run, args.keep_trees))
    else:
        latency_run(args)


if __name__ == "__main__":
    main()
