"""Shared helpers: a tiny experiment in a temp dir, a real snakemake run, the reference data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"

CONCEPTS = {
    "alpha": ("Alpha", "Alpha is the first test concept. It has a short paragraph."),
    "beta": ("Beta", "Beta is the second test concept, described in one paragraph."),
    "gamma": ("Gamma", "Gamma is the third test concept."),
    "delta": ("Delta", "Delta is inactive in the default tiny experiment."),
}


def pytest_sessionstart(session):
    """A Slurm configuration link left by a killed Slurm test would make every snakemake start
    wait ~9 s (tests/slurm_cluster.py)."""
    from slurm_cluster import remove_stale_link

    try:
        remove_stale_link()
    except OSError:
        pass  # not ours to remove (no permission): the Slurm test refuses to run over it


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def add_gen(data: Path, stage: str, gen_id: str, parsed=None, raw=None, **meta) -> None:
    """A generation folder written by hand: metadata, and parsed.txt / raw.txt when given."""
    folder = data / "gens" / stage / gen_id
    write(folder / "metadata.json", json.dumps({"stage": stage, "gen_id": gen_id, **meta}))
    if parsed is not None:
        write(folder / "parsed.txt", parsed)
    if raw is not None:
        write(folder / "raw.txt", raw)


def make_review_cohort(data: Path, planted: str = "") -> list[str]:
    """A cohort written by hand for the review app: five essays (e1 best .. e5 worst by two
    judges), their drafts from one combo of two concepts, draft templates tpl-a / tpl-b, a cost
    on each generation; `planted` is put into e1's text and its judges' responses. Returns the
    essay ids, best first."""
    from daydream.store.membership import MembershipRow, membership_csv

    cohort = "cohort-r"
    write(data / "1_raw/concepts_metadata.csv", "concept_id,name,active\nc-a,Tide Pools,true\nc-b,Crop Rotation,true\n")
    write(data / "combo_mappings.csv", "combo_id,concept_id\nk1,c-a\nk1,c-b\n")
    rows, essays = [], []
    for n in range(1, 6):
        draft, essay = f"d{n}", f"e{n}"
        template = "tpl-a" if n % 2 else "tpl-b"
        common = {"cohort_id": cohort, "mode": "llm", "provider": "http", "cost": 0.01}
        add_gen(
            data, "draft", draft, f"draft {n} text", combo_id="k1", template_id=template, llm_model_id="gen-1", **common
        )
        text = f"essay {n} text\nsecond line" + (f"\n{planted}" if n == 1 else "")
        add_gen(data, "essay", essay, text, parent_gen_id=draft, template_id="essay-t", llm_model_id="gen-1", **common)
        rows += [
            MembershipRow("draft", draft, cohort, "", "k1", template, "gen-1", 1),
            MembershipRow("essay", essay, cohort, draft, "k1", "essay-t", "gen-1", 1),
        ]
        for judge, offset in (("m1", 0.0), ("m2", 0.5)):
            gen_id = f"v{n}{judge}"
            score = 10 - 1.5 * n + offset
            raw = f"reasoning of {judge} on {essay}" + (f" {planted}" if n == 1 else "") + f"\nSCORE: {score:g}"
            meta = {"parent_gen_id": essay, "template_id": "judge", "llm_model_id": judge, "replicate": 1}
            add_gen(data, "evaluation", gen_id, f"{score:g}\n", raw=raw, parser_name="in_last_line", **meta, **common)
            if judge == "m2":  # a reasoning judge: its thinking kept apart
                write(data / "gens/evaluation" / gen_id / "reasoning.txt", f"thinking of m2 about {essay} {planted}\n")
            rows.append(MembershipRow("evaluation", gen_id, cohort, essay, "k1", "judge", judge, 1))
        essays.append(essay)
    write(data / "cohorts" / cohort / "membership.csv", membership_csv(rows))
    return essays


def make_experiment(root: Path, *, models: str | None = None, replicates=(1, 1, 1), essay_copy: bool = True) -> Path:
    """A 3-active-concept experiment: k_max 2 gives 3 combos, 1 draft template, 1-2 essay
    templates, 2 evaluation templates. Returns the data root (templates live in root/templates)."""
    data = root / "data"
    raw = data / "1_raw"
    rows = ["concept_id,name,active"]
    for cid, (name, text) in CONCEPTS.items():
        rows.append(f"{cid},{name},{'false' if cid == 'delta' else 'true'}")
        write(raw / "concepts" / "descriptions-paragraph" / f"{cid}.txt", text + "\n")
        write(raw / "concepts" / "descriptions-sentence" / f"{cid}.txt", name + " in a sentence.\n")
    write(raw / "concepts_metadata.csv", "\n".join(rows) + "\n")
    write(
        raw / "draft_templates.csv",
        "template_id,template_name,description,parser,generator,active\n"
        "ideas,Ideas,steps with essay-idea blocks,essay_idea_last,llm,true\n",
    )
    essay_rows = "plain-essay,Plain,llm essay,,llm,true\n"
    if essay_copy:
        essay_rows += "copy-essay,Copy,copy of draft,,copy,true\n"
    write(raw / "essay_templates.csv", "template_id,template_name,description,parser,generator,active\n" + essay_rows)
    write(
        raw / "evaluation_templates.csv",
        "template_id,template_name,description,parser,generator,active\n"
        "judge-a,Judge A,ends in SCORE,in_last_line,llm,true\n"
        "judge-b,Judge B,rubric,complex,llm,true\n",
    )
    write(
        raw / "llm_models.csv",
        models
        or (
            "id,model,provider,display_name,for_generation,for_evaluation\n"
            "gen-off,offline/gen,offline,Gen,true,false\n"
            "judge-off,offline/judge,offline,Judge,false,true\n"
        ),
    )
    write(
        raw / "replication_config.csv",
        f"stage,replicates\ndraft,{replicates[0]}\nessay,{replicates[1]}\nevaluation,{replicates[2]}\n",
    )
    tpl = root / "templates"
    write(
        tpl / "draft" / "ideas.txt",
        "Concepts:\n{% for concept in concepts %}- {{ concept.name }}: {{ concept.content }}\n{% endfor %}"
        'Write steps with <essay-idea stage="N"> blocks.\n',
    )
    write(tpl / "essay" / "plain-essay.txt", "Write an essay from these notes:\n{{ draft_block }}\n")
    write(tpl / "evaluation" / "judge-a.txt", "Rate this essay. End with SCORE: X\n{{ response }}\n")
    write(tpl / "evaluation" / "judge-b.txt", "Rubric for:\n{{ response }}\nFinal Score: X/10\n")
    return data


def write_config(root: Path, **overrides) -> Path:
    config = {
        "data_root": str(root / "data"),
        "templates_root": str(root / "templates"),
        "k_max": 2,
        "description_level": "paragraph",
    }
    config.update(overrides)
    return write(root / "config.yaml", yaml.safe_dump(config))


WORKFLOW_PARTS = ("Snakefile", "rules", "workflow", "src", "profiles", "report", "envs", "config")


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow's code (not its data), for tests that edit the code; returns its Snakefile."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / part)
    return dest / "Snakefile"


def snakemake_command(root: Path, *args: str, snakefile: Path | None = None) -> list[str]:
    """The command of a real snakemake run of this project's Snakefile (with its default profile)
    working in root, with root/config.yaml."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile or ROOT / "Snakefile"),
        "--directory",
        str(root),
        "--cores",
        "2",
        *args,
        "--configfile",
        str(root / "config.yaml"),
    ]


def run_env(env: dict | None = None) -> dict:
    return {**os.environ, "DD_COHORT": "", **(env or {})}


def run_snakemake(
    root: Path,
    *args: str,
    check: bool = True,
    env: dict | None = None,
    snakefile: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """A real snakemake run, working in root."""
    command = snakemake_command(root, *args, snakefile=snakefile)
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, env=run_env(env), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def run_together(target, arguments: list[tuple], timeout: float = 120) -> None:
    """Run target(*args, start) in one new process per args tuple, released at the same moment by
    the `start` event; fails unless every process exits cleanly."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=target, args=(*args, start)) for args in arguments]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=timeout)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)


def cohort_settings(**config):
    """Cohort settings from a config (validated: the schema's defaults fill the rest)."""
    from daydream.config import validate_config
    from daydream.planning.cohort import settings_from_config

    return settings_from_config(validate_config(config))


@pytest.fixture
def tiny(tmp_path):
    """A tiny experiment and its config in a temp dir; returns the root."""
    make_experiment(tmp_path)
    write_config(tmp_path)
    return tmp_path


# Material from the original project, read where it is; CI sets DAYDREAM_REQUIRE_REFERENCE=1 so
# that a missing ../shared/reference fails the suite instead of skipping its tests.
REQUIRE_REFERENCE = os.environ.get("DAYDREAM_REQUIRE_REFERENCE", "").strip() == "1"

# sha256 of the sorted lines "stage,gen_id,parent_gen_id\n" of the reference experiment's cohort
# (k_max 4, paragraph; 9,450 rows), from an independent implementation of the original's rules
REFERENCE_MEMBERSHIP_SHA256 = "9db6a065f36f6b3ce606e83a97013bf3540dee9b34958bc0327e8a78ba83da50"


def membership_digest(rows) -> str:
    """rows: dicts or objects with stage, gen_id and parent_gen_id."""
    import hashlib

    def field(row, name):
        return row[name] if isinstance(row, dict) else getattr(row, name)

    lines = sorted(f"{field(r, 'stage')},{field(r, 'gen_id')},{field(r, 'parent_gen_id')}\n" for r in rows)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


@pytest.fixture
def reference() -> Path:
    if not REFERENCE.is_dir():
        if REQUIRE_REFERENCE:
            pytest.fail(f"{REFERENCE} is missing, and DAYDREAM_REQUIRE_REFERENCE=1 requires it")
        pytest.skip(f"{REFERENCE} is not present")
    return REFERENCE
