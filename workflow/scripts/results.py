"""Rules results and results_all: score tables from a cohort's evaluations (its membership) or
from every evaluation in the gens store."""

import argparse

import _bootstrap  # noqa: F401
from daydream.store.membership import read_membership
from daydream.workflow.job_scripts import run
from daydream.analysis.registry import write_results

parser = argparse.ArgumentParser()
parser.add_argument("--data-root", required=True)
parser.add_argument("--out-dir", required=True)
parser.add_argument("--membership", help="a cohort's membership.csv (default: the whole store)")
parser.add_argument("--compare-templates", default="", help="comma-separated draft templates to set side by side")
parser.add_argument("--top-n", type=int, default=10, help="essays shown in essays.html")
args = parser.parse_args()
compare = [name for name in args.compare_templates.split(",") if name]
run(
    lambda: write_results(
        args.data_root, args.out_dir, read_membership(args.membership) if args.membership else None, compare, args.top_n
    )
)
