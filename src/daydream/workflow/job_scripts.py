"""The cohort jobs' step (combos, manifest, membership) and the error wrapper of the job scripts."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from daydream.errors import InputError
from daydream.fileio import write_atomic, write_json_atomic
from daydream.store.archive import now_iso


def cohort_step(step: str, settings: dict, out: Path) -> None:
    """Write one cohort file (combos, manifest or membership), re-planned from the run's settings."""
    from daydream.experiment.combos import combos_csv, update_combo_mappings
    from daydream.planning.setup import cohort_job_setup
    from daydream.store.membership import membership_csv

    setup = cohort_job_setup(settings)
    cohort = setup.cohort
    if cohort.cohort_id != settings["expected_cohort_id"]:
        raise InputError(
            f"the experiment changed since this run was planned (cohort {cohort.cohort_id}, "
            f"expected {settings['expected_cohort_id']}); run snakemake again"
        )
    if step == "combos":
        added = update_combo_mappings(setup.store.combo_mappings, cohort.combos, now_iso())
        write_atomic(out, combos_csv(cohort.combos))
        print(f"{len(cohort.combos)} combos ({added} new in combo_mappings.csv)")
    elif step == "manifest":
        write_json_atomic(out, cohort.manifest_document())
        print(f"manifest for {cohort.cohort_id}")
    elif step == "membership":
        rows = setup.membership_rows()
        write_atomic(out, membership_csv(rows))
        print(f"{len(rows)} membership rows for {cohort.cohort_id}")
    else:
        raise ValueError(f"unknown cohort step {step!r}")


def run(main) -> None:
    """Run a job script's main(): first its command line, paths resolved, so that it can be
    copied from the log and run by hand; known failures print one clear line and exit 1."""
    from daydream.text.parsers import ParseError

    print("# command: " + shlex.join([sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]), flush=True)
    started = time.monotonic()
    try:
        main()
    except (InputError, ParseError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"done in {time.monotonic() - started:.3f}s", file=sys.stderr)
