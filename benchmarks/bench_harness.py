"""Benchmark: a one-process eval harness (inspect_ai) making the same number of calls against the
same loopback server as `bench_scale.py`, so both are measured on one machine in one sitting.
Prints figures; asserts nothing.

Issue 24 compares the engine's CPU per call with such a harness's: CPU figures differ by machine
and by day (run A measured 0.015-0.029 s per call on different days), so the comparison only
holds when both run the same hour. inspect_ai is no dependency of this project; install it in a
virtualenv of its own and name that interpreter:

    python3 -m venv /tmp/inspect && /tmp/inspect/bin/pip install inspect-ai openai
    python benchmarks/bench_harness.py --python /tmp/inspect/bin/python --calls 1200 --latency 0.5 --cap 32

Each call is one sample whose solver is a single `generate()` (no scorer), at most `--cap`
connections and samples at once; the server is the tests' FakeLLM with a fixed latency. Printed
like bench_scale: wall against the floor (calls x latency / cap), CPU per call (the harness's
process and its children), the share of a core while calls were in flight, peak in flight."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import measure, print_calls_run  # noqa: E402

from llm_server import FakeLLM  # noqa: E402

TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate


@task
def calls():
    prompts = [f"Write an essay about idea {i}." for i in range(CALLS)]
    return Task(dataset=[Sample(input=prompt) for prompt in prompts], solver=generate())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="an interpreter with inspect_ai installed")
    parser.add_argument("--calls", type=int, default=1200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--cap", type=int, default=32)
    args = parser.parse_args()
    inspect = Path(args.python).parent / "inspect"
    with FakeLLM(latency_s=args.latency) as server, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "task.py").write_text(TASK.replace("CALLS", str(args.calls)))
        os.environ.update(FAKE_API_KEY="sk-bench", FAKE_BASE_URL=server.base_url)
        command = [
            str(inspect), "eval", "task.py", "--model", "openai-api/fake/bench-model",
            "--max-connections", str(args.cap), "--max-samples", str(args.cap),
            "--log-dir", str(root / "logs"), "--display", "none", "--no-log-samples",
        ]  # fmt: skip
        run = measure(command, root, server)
        requests, peak = len(server.requests), server.max_in_flight
    floor = args.calls * args.latency / args.cap
    print(f"inspect_ai: {args.calls} calls; latency {args.latency} s, cap {args.cap}")
    print(f"  requests at the server: {requests}")
    print_calls_run(run, args.calls, floor, peak, "the harness and its processes")


if __name__ == "__main__":
    main()
