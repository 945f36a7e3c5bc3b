"""DayDreaming on Snakemake: pure functions behind the workflow's rules."""

__version__ = "0.1.0"
