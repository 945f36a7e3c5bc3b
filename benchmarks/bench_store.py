"""Benchmark: the response index at scale. Prints figures; asserts nothing.

Writes a synthetic data root of N archived responses (one generation folder each, records shaped
like real ones: text of a few KB, usage, request), then measures:
- building the index from scratch from those files (what a missing or damaged index costs, and
  `daydream store reindex`);
- refreshing it when nothing changed (what every snakemake start pays);
- a lookup of a request key and slot (the index query every reuse makes), over many random keys;
- reuse: a lookup that finds another generation's response and copies it into a new generation.

    python benchmarks/bench_store.py                  # 100,000 responses
    python benchmarks/bench_store.py --responses 20000
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from daydream.store.archive import Request, archive_response, request_key  # noqa: E402
from daydream.store.index import ResponseIndex  # noqa: E402
from daydream.store.layout import StoreLayout  # noqa: E402
from daydream.store.responses import shared_response  # noqa: E402

TEXT = "A response line of a synthetic evaluation, long enough to be realistic.\n" * 40 + "SCORE: 7\n"


def build_store(data: Path, responses: int) -> list[str]:
    store = StoreLayout(data)
    keys = []
    request = Request("openrouter", "vendor/judge", 4096, 0.0)
    for n in range(responses):
        key = request_key(request, f"prompt {n}")
        keys.append(key)
        record = {
            "request_key": key,
            "request": {"provider": "openrouter", "model": "vendor/judge", "max_tokens": 4096, "temperature": 0.0},
            "slot": 1,
            "text": TEXT,
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 900, "completion_tokens": 400, "total_tokens": 1300},
            "provider": "openrouter",
            "model": "vendor/judge",
            "duration_s": 1.0,
            "attempts": 1,
            "retries": [],
            "response_id": f"gen-{n}",
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        archive_response(store.gen_dir("evaluation", f"g{n:07d}"), key, record)
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        started = time.monotonic()
        keys = build_store(data, args.responses)
        print(f"store: {args.responses:,} archived responses written in {time.monotonic() - started:.1f} s")
        store = StoreLayout(data)

        index = ResponseIndex(store)
        started = time.monotonic()
        report = index.rebuild()
        built = time.monotonic() - started
        size = store.index_file.stat().st_size / 2**20
        print(f"  index from scratch: {built:.1f} s for {report.responses:,} responses ({size:.1f} MiB)")

        started = time.monotonic()
        fresh = ResponseIndex(store).refresh()  # a new process: the start of a run
        print(f"  refresh, nothing changed: {time.monotonic() - started:.2f} s ({fresh.folders_scanned} rescanned)")

        rng = random.Random(7)
        picks = [rng.choice(keys) for _ in range(args.lookups)]
        timings = []
        for key in picks:
            started = time.perf_counter()
            found = index.paid(key, 1)
            timings.append(time.perf_counter() - started)
            assert found
        timings.sort()
        mean = sum(timings) / len(timings)
        p99 = timings[int(0.99 * len(timings))]
        print(f"  lookup (request key, slot): mean {mean * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us over {len(picks):,}")

        started = time.perf_counter()
        reuses = min(2000, len(keys))
        for n, key in enumerate(keys[:reuses]):
            assert shared_response(store, "evaluation", f"new{n:07d}", key, 1) is not None
        per_reuse = (time.perf_counter() - started) / reuses
        print(f"  reuse (lookup, read, copy into a new generation, index it): {per_reuse * 1e3:.2f} ms each")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
