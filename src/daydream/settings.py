"""Workflow configuration: defaults, schema validation and typed per-stage settings."""

from __future__ import annotations

import copy
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.yaml"

STAGE_DEFAULTS = {
    "draft": {"max_tokens": 8192, "temperature": 0.7, "min_lines": 3, "fail_on_truncation": True},
    "essay": {"max_tokens": 8192, "temperature": 0.7, "min_lines": 1, "fail_on_truncation": True},
    "evaluation": {"max_tokens": 4096, "temperature": 0.0, "min_lines": 1, "fail_on_truncation": True},
}
LLM_DEFAULTS = {"timeout_s": 300.0, "max_attempts": 5, "backoff_base_s": 1.0, "backoff_max_s": 60.0}


def load_schema() -> dict:
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _apply_defaults(config: dict, schema: dict) -> dict:
    for key, spec in schema.get("properties", {}).items():
        if key not in config and "default" in spec:
            config[key] = copy.deepcopy(spec["default"])
    return config


def normalize_config(config: dict) -> dict:
    """Validate against the schema, fill defaults and merge per-stage and LLM settings."""
    import jsonschema

    schema = load_schema()
    config = _apply_defaults(dict(config or {}), schema)
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ValueError(f"invalid config at {where}: {exc.message}") from None
    stages = {}
    for stage, defaults in STAGE_DEFAULTS.items():
        stages[stage] = {**defaults, **(config.get("stages") or {}).get(stage, {})}
    config["stages"] = stages
    config["llm"] = {**LLM_DEFAULTS, **(config.get("llm") or {})}
    return config


def read_config_file(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def results_dir(config: dict) -> Path:
    return Path(config["results_dir"] or Path(config["data_root"]) / "7_cross_experiment")
