"""Workflow configuration: validated against the JSON schema, which is the one source of defaults."""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from urllib.parse import urlparse

SCHEMA_PATH = Path(__file__).with_name("schemas") / "config.schema.yaml"
PATH_KEYS = ("data_root", "templates_root", "results_dir")
# Resource names with a meaning to Snakemake or its executors (a provider's cap is a resource of
# the provider's name), and this workflow's own
RESERVED_RESOURCES = {
    "mem", "mem_mb", "mem_mib", "disk", "disk_mb", "disk_mib", "runtime", "walltime", "threads", "tmpdir",
    "gpu", "gpus", "gpu_model", "nvidia_gpu", "amd_gpu", "cpus_per_task", "tasks", "tasks_per_node", "nodes",
    "mpi", "constraint", "qos", "generate_jobs",
}  # fmt: skip


def validate_config(config: dict | None) -> dict:
    """A validated copy of config with the schema's defaults filled in, nested ones included.

    The Snakefile, the CLI and the jobs all call this, so they see the same values. It does what
    Snakemake's `validate` does (JSON Schema 2020-12, each `properties` default filled in, as in
    the jsonschema FAQ) without its cost: every cohort job validates, and Snakemake's pure-Python
    YAML load of the schema took 0.15 s of a 0.23 s job. Raises ValueError naming the offending
    key."""
    import jsonschema

    from daydream.stages import STAGES

    config = copy.deepcopy(dict(config or {}))
    for where, number in _numbers(config):  # NaN and infinity pass a JSON schema's "number"
        if not math.isfinite(number):
            raise ValueError(
                f"invalid config at {where}: {number} is not a finite number (a limit on money or time " "must be one)"
            )
    if isinstance(config.get("stages", {}), dict):  # every stage gets its settings' defaults
        config["stages"] = {**{name: {} for name in STAGES}, **(config.get("stages") or {})}
    try:
        _defaults_validator().validate(config)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ValueError(f"invalid config at {where}: {exc.message}") from None
    for key in PATH_KEYS:
        if config[key] and any(brace in str(config[key]) for brace in "{}"):
            raise ValueError(
                f"invalid config at {key}: {config[key]!r} contains a brace, which Snakemake would read as a "
                "wildcard in every path under it; use a folder name without braces"
            )
    for name in config["stages"]:
        if name not in STAGES:
            raise ValueError(f"invalid config at stages.{name}: not a stage (the stages are: {', '.join(STAGES)})")
    for name, provider in config["providers"].items():
        parsed = urlparse(provider["base_url"])
        if parsed.username is not None or parsed.password is not None:
            raise ValueError(
                f"invalid config at providers.{name}.base_url: credentials in a URL would reach logs and "
                "error messages; put the key in an environment variable or .env and name it in api_key_env"
            )
        if name in RESERVED_RESOURCES or name.startswith("slurm_"):
            raise ValueError(
                f"invalid config at providers.{name}: the provider's name is also its Snakemake resource "
                f"(--resources {name}=N), and {name!r} is one of Snakemake's own; rename the provider"
            )
    return config


@functools.cache
def _schema() -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML has it
    return yaml.load(SCHEMA_PATH.read_text(encoding="utf-8"), Loader=loader)


@functools.cache
def _defaults_validator():
    """A JSON Schema 2020-12 validator of the config schema that fills in each default."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": fill_defaults})(_schema())


def _numbers(value, where: str = ""):
    """(key path, number) of every float in a config, nested ones included."""
    if isinstance(value, float):
        yield where or "(top level)", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{where}[{i}]")


def read_config_file(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def results_dir(config: dict) -> Path:
    from daydream.store.layout import StoreLayout

    return Path(config["results_dir"] or StoreLayout(config["data_root"]).cross_experiment_dir)


def section_defaults(key: str) -> dict:
    """The schema's defaults of one object-valued setting (e.g. `statistics`), for callers that
    were given no validated config."""
    properties = _schema()["properties"][key]["properties"]
    return {name: prop["default"] for name, prop in properties.items() if "default" in prop}
