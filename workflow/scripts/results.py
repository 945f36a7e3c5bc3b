"""Rules results and results_all: score tables and plots from a cohort's evaluations (its
membership) or from every evaluation in the gens store."""

import argparse
import json

import _bootstrap  # noqa: F401
from daydream.store.membership import read_membership
from daydream.workflow.job_scripts import run
from daydream.analysis.registry import RESULT_JOBS, write_results

parser = argparse.ArgumentParser()
parser.add_argument("--data-root", required=True)
parser.add_argument("--out-dir", required=True)
parser.add_argument("--membership", help="a cohort's membership.csv (default: the whole store)")
parser.add_argument("--compare-templates", default="", help="comma-separated draft templates to set side by side")
parser.add_argument("--top-n", type=int, default=10, help="essays shown in essays.html")
parser.add_argument("--statistics", default="{}", help="config `statistics` as JSON (resamples, seed, thresholds)")
parser.add_argument("--jobs", default=",".join(RESULT_JOBS), help="which jobs' tables and plots (registry.py)")
args = parser.parse_args()
compare = [name for name in args.compare_templates.split(",") if name]
jobs = tuple(args.jobs.split(","))
membership = read_membership(args.membership) if args.membership else None
run(
    lambda: write_results(
        args.data_root, args.out_dir, membership, compare, args.top_n, json.loads(args.statistics), jobs
    )
)
