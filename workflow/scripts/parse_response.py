"""Rule parse: validate raw.txt and parse it into parsed.txt (or copy the parent draft)."""

import argparse
import json

import _bootstrap  # noqa: F401
from daydream.jobs import parse_step, run

parser = argparse.ArgumentParser()
parser.add_argument("--spec", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
run(lambda: parse_step(json.loads(args.spec), args.out))
