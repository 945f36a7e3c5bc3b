"""Rule raw: one LLM call (or its archived response) -> raw.txt + metadata.json."""

import argparse
import json
import os

import _bootstrap  # noqa: F401
from daydream.jobs import raw_step, run

parser = argparse.ArgumentParser()
parser.add_argument("--spec", required=True)
parser.add_argument("--prompt", required=True)
parser.add_argument("--raw", required=True)
parser.add_argument("--metadata", required=True)
args = parser.parse_args()
runtime = json.loads(os.environ.get("DAYDREAM_RUNTIME") or "{}")
run(lambda: raw_step(json.loads(args.spec), args.prompt, args.raw, args.metadata, runtime))
