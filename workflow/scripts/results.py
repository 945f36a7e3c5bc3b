"""Rule results: score tables from every evaluation in the gens store."""

import argparse

import _bootstrap  # noqa: F401
from daydream.jobs import run
from daydream.results import write_results

parser = argparse.ArgumentParser()
parser.add_argument("--data-root", required=True)
parser.add_argument("--out-dir", required=True)
args = parser.parse_args()
run(lambda: write_results(args.data_root, args.out_dir))
