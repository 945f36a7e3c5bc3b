"""Covering selection: the fewest k-subsets of the active concepts such that every t-subset
lies in at least one of them, solved exactly as an integer program with PuLP's CBC.

The solution is cached under <data_root>/cohorts/cover-cache/ by its inputs, so the
Snakefile and every cohort job see the same choice even when a time limit stopped CBC."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path

from daydream.errors import InputError
from daydream.experiment.combos import Combo, make_combo
from daydream.experiment.definition import Experiment
from daydream.fileio import read_json_object, write_json_atomic
from daydream.store.layout import StoreLayout


@dataclass(frozen=True)
class CoverSolution:
    blocks: list[tuple[int, ...]]  # indices into the concept list, each sorted
    size: int
    lower_bound: int
    status: str  # "optimal" or "time_limit"
    time_s: float
    full_size: int

    @property
    def gap(self) -> float:
        return 0.0 if self.size == 0 else round((self.size - self.lower_bound) / self.size, 4)


def schoenheim_bound(n: int, k: int, t: int) -> int:
    """The Schönheim lower bound on the covering number C(n, k, t)."""
    bound = 1
    for i in range(t - 1, -1, -1):
        bound = math.ceil((n - i) / (k - i) * bound)
    return bound


def greedy_cover(n: int, k: int, t: int) -> list[tuple[int, ...]]:
    """A deterministic greedy cover, used as the solver's starting solution."""
    uncovered = set(itertools.combinations(range(n), t))
    blocks = []
    candidates = list(itertools.combinations(range(n), k))
    while uncovered:
        best = max(candidates, key=lambda b: sum(1 for s in itertools.combinations(b, t) if s in uncovered))
        blocks.append(best)
        uncovered -= set(itertools.combinations(best, t))
    return blocks


def is_cover(blocks, n: int, t: int) -> bool:
    covered = {s for b in blocks for s in itertools.combinations(sorted(b), t)}
    return all(s in covered for s in itertools.combinations(range(n), t))


def _cbc_bound(log_text: str) -> float | None:
    for pattern in (r"Lower bound:\s*(-?[\d.eE+]+)", r"best possible\s*(-?[\d.eE+]+)"):
        found = re.findall(pattern, log_text)
        if found:
            try:
                return float(found[-1])
            except ValueError:
                continue
    return None


def solve_cover(n: int, k: int, t: int, time_limit_s: float) -> CoverSolution:
    if not 1 <= t <= k <= n:
        raise ValueError(f"covering needs 1 <= t ({t}) <= k ({k}) <= n ({n})")
    with warnings.catch_warnings():
        # PuLP 3.x announces its 4.0 API on every variable; the bundled CBC is what we want here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _solve_cover(n, k, t, time_limit_s)


def _solve_cover(n: int, k: int, t: int, time_limit_s: float) -> CoverSolution:
    import pulp

    started = time.monotonic()
    blocks = list(itertools.combinations(range(n), k))
    problem = pulp.LpProblem("concept_cover", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(len(blocks))]
    problem += pulp.lpSum(x)
    containing: dict[tuple[int, ...], list[int]] = {}
    for index, block in enumerate(blocks):
        for subset in itertools.combinations(block, t):
            containing.setdefault(subset, []).append(index)
    for indices in containing.values():
        problem += pulp.lpSum(x[i] for i in indices) >= 1
    # Valid Schönheim-type cuts: the blocks through any (t-1)-subset S must cover the
    # n-t+1 t-subsets that extend S, each block covering at most k-t+1 of them.
    if t >= 2:
        need = math.ceil((n - t + 1) / (k - t + 1))
        through: dict[tuple[int, ...], list[int]] = {}
        for index, block in enumerate(blocks):
            for subset in itertools.combinations(block, t - 1):
                through.setdefault(subset, []).append(index)
        for indices in through.values():
            problem += pulp.lpSum(x[i] for i in indices) >= need
    lower = schoenheim_bound(n, k, t)
    problem += pulp.lpSum(x) >= lower
    # Symmetry breaking: concepts are interchangeable, so some optimal cover contains the
    # first block {0, ..., k-1} (relabel any optimal cover). Fixing it cuts the search.
    problem += x[0] == 1
    start = set(greedy_cover(n, k, t))
    for variable, block in zip(x, blocks, strict=True):
        variable.setInitialValue(1 if block in start else 0)
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "cbc.log"
        solver = pulp.PULP_CBC_CMD(
            msg=False,
            timeLimit=time_limit_s,
            threads=1,
            warmStart=True,
            logPath=str(log_path),
            options=["randomSeed 12345", "randomCbcSeed 12345"],
        )
        problem.solve(solver)
        log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    chosen = [blocks[i] for i, v in enumerate(x) if (v.value() or 0) > 0.5]
    if not chosen or not is_cover(chosen, n, t):
        chosen = sorted(start)
    size = len(chosen)
    proven = pulp.LpStatus[problem.status] == "Optimal" and problem.sol_status == pulp.LpSolutionOptimal
    cbc_bound = _cbc_bound(log_text)
    if cbc_bound is not None:
        lower = max(lower, math.ceil(cbc_bound - 1e-6))
    if proven:
        lower = size
    lower = min(lower, size)
    status = "optimal" if lower == size else "time_limit"
    return CoverSolution(sorted(chosen), size, lower, status, round(time.monotonic() - started, 3), comb(n, k))


def _cached(data: dict, key: dict, n: int, k: int, t: int) -> CoverSolution | None:
    """The cached solution, when it is one for this key and really a cover (a cache file edited or
    cut short is solved again, never trusted)."""
    if data.get("key") != key or not isinstance(data.get("solution"), dict):
        return None
    try:
        solution = CoverSolution(**{**data["solution"], "blocks": [tuple(b) for b in data["solution"]["blocks"]]})
        blocks_ok = all(len(b) == k and all(isinstance(i, int) and 0 <= i < n for i in b) for b in solution.blocks)
        return solution if blocks_ok and is_cover(solution.blocks, n, t) else None
    except (TypeError, ValueError, KeyError):
        return None


def cover_cache_path(data_root: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return StoreLayout(data_root).cover_cache(digest)


def cover_combos(
    experiment: Experiment, k_max: int, level: str, t: int, time_limit_s: float, use_cache: bool = True
) -> tuple[list[Combo], dict]:
    active = [c.concept_id for c in experiment.active_concepts()]
    n = len(active)
    if not 1 <= t <= k_max <= n:
        raise InputError(
            f"cover needs 1 <= cover_t ({t}) <= k_max ({k_max}) <= active concepts ({n})",
            file=experiment.sources["concepts"],
            field="active",
        )
    key = {"concepts": active, "k": k_max, "t": t, "time_limit_s": time_limit_s}
    cache = cover_cache_path(experiment.data_root, key)
    solution = None
    if use_cache:
        solution = _cached(read_json_object(cache), key, n, k_max, t)
    if solution is None:
        solution = solve_cover(n, k_max, t, time_limit_s)
        if use_cache:
            write_json_atomic(cache, {"key": key, "solution": asdict(solution)})
    combos = [make_combo([active[i] for i in block], level, k_max) for block in solution.blocks]
    selection = {
        "method": "cover",
        "t": t,
        "size": solution.size,
        "lower_bound": solution.lower_bound,
        "gap": solution.gap,
        "status": solution.status,
        "time_s": solution.time_s,
        "time_limit_s": time_limit_s,
        "full_size": solution.full_size,
    }
    return combos, selection
