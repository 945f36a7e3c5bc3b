"""Rule plots: score distributions for the report."""

import argparse

import _bootstrap  # noqa: F401
from daydream.workflow.job_scripts import run
from daydream.analysis.plots import write_plots

parser = argparse.ArgumentParser()
parser.add_argument("--scores", required=True)
parser.add_argument("--by-evaluator", required=True)
parser.add_argument("--by-generation-model", required=True)
parser.add_argument("--by-draft-template", required=True)
parser.add_argument("--agreement")
parser.add_argument("--by-agreement")
args = parser.parse_args()
run(
    lambda: write_plots(
        args.scores,
        args.by_evaluator,
        args.by_generation_model,
        args.by_draft_template,
        args.agreement,
        args.by_agreement,
    )
)
