"""Rule prompt: render a stage template into prompt.txt."""

import argparse
import json

import _bootstrap  # noqa: F401
from daydream.jobs import render_step, run

parser = argparse.ArgumentParser()
parser.add_argument("--spec", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
run(lambda: render_step(json.loads(args.spec), args.out))
