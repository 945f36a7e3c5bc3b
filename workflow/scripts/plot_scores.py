"""Rule plots: every registered plot (score distributions, agreement) from a results folder."""

import argparse

import _bootstrap  # noqa: F401
from daydream.analysis.registry import write_plots
from daydream.workflow.job_scripts import run

parser = argparse.ArgumentParser()
parser.add_argument("--reports", required=True, help="a results folder (its tables in, its plots/ out)")
args = parser.parse_args()
run(lambda: write_plots(args.reports))
