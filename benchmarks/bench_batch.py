"""Benchmark: batch mode's own work for a stage of many calls. Prints figures; asserts nothing.

N evaluation calls are handed to a provider's batch queue (calling/batching.py) in this process,
against the loopback server of the tests (tests/llm_server.py, its file and batch endpoints,
answering at once): gathering them, writing the ledger and the input file, uploading, creating,
looking, downloading the output and archiving every response into its generation's folder (and
the response index), exactly as a run does. Reported: wall time and CPU of this process from the
first call handed over to the last response returned, per call, the batches made, peak memory.

    python benchmarks/bench_batch.py                 # 10,920 calls (the cube's evaluations)
    python benchmarks/bench_batch.py --calls 2000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from daydream.calling.batching import BatchQueue  # noqa: E402
from daydream.calling.engine import Call  # noqa: E402
from daydream.calling.providers import endpoint  # noqa: E402
from daydream.config import validate_config  # noqa: E402
from daydream.store.archive import Request, request_key  # noqa: E402
from daydream.store.layout import StoreLayout  # noqa: E402

from llm_server import FakeLLM  # noqa: E402

ESSAY = "An essay of the cube, about as long as the example's: " + "words " * 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10920)
    parser.add_argument("--max-requests", type=int, default=50000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, FakeLLM() as server:
        server.batches.delay_s = 0
        store = StoreLayout(Path(folder))
        provider = {"base_url": server.base_url, "batch": {"stages": ["evaluation"], "gather_s": 0.5, "poll_s": 0.2}}
        provider["batch"]["max_requests"] = args.max_requests
        where = endpoint(validate_config({"providers": {"openai": provider}}), "openai")
        request = Request("openai", "vendor/judge-1", 1000, 0.0)
        calls = []
        for i in range(args.calls):
            prompt = f"Rate essay {i}. End with SCORE: X\n{ESSAY}"
            calls.append(Call("evaluation", f"e{i:06d}", store, request_key(request, prompt), request, prompt, where))
        queue = BatchQueue(where, store, report=lambda line: None)
        started, cpu = time.monotonic(), time.process_time()
        futures = [queue.submit(call) for call in calls]
        handed = time.monotonic() - started
        for future in futures:
            future.result(timeout=3600)
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        queue.stop()
        gathered = 0.5  # gather_s: the queue waits that long after the last call before submitting
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{args.calls:,} calls in {len(server.batches.order)} batch(es); handed over in {handed:.2f} s")
        print(
            f"last response returned after {wall:.1f} s ({gathered} s of it gathering); "
            f"CPU {cpu:.1f} s = {cpu / args.calls * 1000:.2f} ms per call (this process, the server's included)"
        )
        print(f"peak memory {peak:.0f} MiB (this process, the server's included)")


if __name__ == "__main__":
    main()
