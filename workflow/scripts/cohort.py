"""Rules combos / manifest / membership: write one cohort file."""

import argparse
import json

import _bootstrap  # noqa: F401
from daydream.workflow.job_scripts import cohort_step, run

parser = argparse.ArgumentParser()
parser.add_argument("step", choices=["combos", "manifest", "membership"])
parser.add_argument("--settings", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
run(lambda: cohort_step(args.step, json.loads(args.settings), args.out))
