"""Workflow configuration: validated against the JSON schema, which is the one source of defaults."""

from __future__ import annotations

import copy
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.yaml"


def validate_config(config: dict | None) -> dict:
    """A validated copy of config with the schema's defaults filled in, nested ones included.

    Uses Snakemake's own `validate`, as the Snakefile does, so the workflow and the CLI see the
    same values. Raises ValueError naming the offending key."""
    import jsonschema
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = copy.deepcopy(dict(config or {}))
    try:
        validate(config, str(SCHEMA_PATH))
    except WorkflowError as exc:
        cause = exc.__context__  # the jsonschema error (Snakemake's message repeats the whole schema)
        if not isinstance(cause, jsonschema.ValidationError):
            raise ValueError(f"invalid config: {exc}") from None
        where = ".".join(str(p) for p in cause.absolute_path) or "(top level)"
        raise ValueError(f"invalid config at {where}: {cause.message}") from None
    return config


def read_config_file(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def results_dir(config: dict) -> Path:
    return Path(config["results_dir"] or Path(config["data_root"]) / "7_cross_experiment")
