"""What the generation rules' one-line `run:` blocks call: a generation's prompt job and generate
job, in the Snakemake process itself (no interpreter, no imports, no experiment parsing per job),
each writing its own log file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from daydream.calling.engine import CallEngine, perform_call
from daydream.fileio import open_file, write_atomic
from daydream.generating.steps import generate, make_call, write_prompt
from daydream.planning.specs import SpecIndex
from daydream.store.archive import now_iso

FORCE_ENV = "DD_FORCE_CALL"


def force_calls() -> bool:
    """DD_FORCE_CALL=1: call again even when a response for the same request is archived."""
    return os.environ.get(FORCE_ENV, "").strip().lower() in {"1", "true", "yes"}


@contextlib.contextmanager
def job_log(path: str, target: str):
    """A job's log: how to run it again, what it did, or the error that stopped it (re-raised for
    Snakemake to show)."""
    fd = open_file(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # never through a link (fileio.py)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"# to run this job again: snakemake -f {target} (with this run's config options)\n")

        def line(text: str) -> None:
            handle.write(text + "\n")

        try:
            yield line
        except Exception as exc:
            line(f"error: {type(exc).__name__}: {exc}")
            raise


class Runner:
    """Prompt and generate jobs for one cohort. When `prefetch()` says so (asked once, when the
    first job runs: the main Snakemake process of a local run), a prompt job starts its call in
    the call engine and the generate job collects the response; otherwise (a cluster node) the
    generate job makes the call."""

    def __init__(
        self,
        index: SpecIndex,
        prices: dict[str, dict],
        caps: Callable[[], dict[str, int]],
        prefetch: Callable[[], bool],
        reuse: str = "store",
    ):
        self.index = index
        self.prices = prices
        self.reuse = reuse  # config `reuse`: store.responses
        self.caps = caps
        self._prefetch = prefetch
        self._prefetching: bool | None = None
        self.force = force_calls()
        self._engine: CallEngine | None = None
        self._stopped = False

    @property
    def prefetch(self) -> bool:
        if self._prefetching is None:
            self._prefetching = self._prefetch()
        return self._prefetching

    def engine(self) -> CallEngine:
        if self._engine is None:
            self._engine = CallEngine(self.caps())
            if self._stopped:
                self._engine.stop()
        return self._engine

    def render(self, stage: str, gen_id: str, log: str) -> None:
        gen = self.index.get(stage, gen_id)
        with job_log(log, gen.prompt_path) as line:
            prompt, imported = write_prompt(gen)
            if imported:
                line(f"archived the existing raw.txt, which was in no archived response: {imported}")
            line(f"rendered {gen.template}: {len(prompt)} characters")
            if self.prefetch and gen.calls_remote:
                self.engine().submit(make_call(gen, prompt, self.force, self.reuse))
                line(f"call handed to the {gen.provider} call engine")

    def generate(self, stage: str, gen_id: str, log: str) -> None:
        gen = self.index.get(stage, gen_id)
        respond = self.engine().result if self.prefetch and gen.calls_remote else perform_call
        with job_log(log, gen.parsed_path) as line:
            line(generate(gen, respond, self.prices.get(gen.row.llm_model_id), now_iso, self.force, self.reuse))

    def stop(self) -> None:
        """Stop paying now (an interrupt): see CallEngine.stop."""
        self._stopped = True
        if self._engine is not None:
            self._engine.stop()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()


def write_cost_plan(cost_plan, data_root: str, log: str) -> None:
    """Rule plan: the cohort's pending calls and cost, to plan.csv, its log and the terminal."""
    from daydream.planning.cost_plan import write_plan

    text = write_plan(cost_plan, data_root)
    write_atomic(log, f"{text}\n")
    print(text)
