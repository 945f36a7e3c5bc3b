"""Rules results and results_all: score tables from a cohort's evaluations (its membership) or
from every evaluation in the gens store."""

import argparse

import _bootstrap  # noqa: F401
from daydream.cohort import read_membership
from daydream.jobs import run
from daydream.results import write_results

parser = argparse.ArgumentParser()
parser.add_argument("--data-root", required=True)
parser.add_argument("--out-dir", required=True)
parser.add_argument("--membership", help="a cohort's membership.csv (default: the whole store)")
args = parser.parse_args()
run(lambda: write_results(args.data_root, args.out_dir, read_membership(args.membership) if args.membership else None))
