"""Adapters to Snakemake: what the rules' run: blocks and job scripts call, and the run-time policy."""
