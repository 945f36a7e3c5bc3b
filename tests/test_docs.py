"""The documentation keeps up with the code: every config key and every table column."""

import yaml

from daydream.config import SCHEMA_PATH
from daydream.experiment.definition import MODEL_COLUMNS, TEMPLATE_COLUMNS

from conftest import ROOT

CONFIG_README = (ROOT / "config" / "README.md").read_text(encoding="utf-8")


def schema_keys(schema, defs, prefix=""):
    """(dotted key, property) for every property of the schema, following $refs."""
    for name, prop in (schema.get("properties") or {}).items():
        if "$ref" in prop:
            prop = {**defs[prop["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in prop.items() if k != "$ref"}}
        yield f"{prefix}{name}", prop
        yield from schema_keys(prop, defs, f"{prefix}{name}.")
        if isinstance(prop.get("additionalProperties"), dict):
            yield from schema_keys(prop["additionalProperties"], defs, f"{prefix}{name}.<name>.")


def test_every_config_key_is_described_in_the_schema_and_in_config_readme():
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)  # a valid schema: config.py does not check it at each start
    keys = list(schema_keys(schema, schema["$defs"]))
    assert len(keys) > 40
    undescribed = [key for key, prop in keys if not prop.get("description")]
    assert undescribed == []
    leaf_names = {key.rsplit(".", 1)[-1] for key, _ in keys}
    spelled = ("`{}`", ".{}`", "`{}.")  # a key alone, or at the end or start of a dotted key
    undocumented = [name for name in leaf_names if not any(form.format(name) in CONFIG_README for form in spelled)]
    assert undocumented == []


def test_every_column_the_loader_reads_is_documented():
    columns = {
        *TEMPLATE_COLUMNS,
        *MODEL_COLUMNS,
        "input_price_per_mtok",
        "output_price_per_mtok",
        "reasoning_tag",
        "structured_output",
        "concept_id",
        "name",
        "active",
        "stage",
        "replicates",
        "combo_id",
        "description_level",
        "k_max",
    }
    assert [column for column in sorted(columns) if f"`{column}`" not in CONFIG_README] == []


def test_the_conda_environment_has_every_dependency_the_scripts_import():
    """envs/daydream.yaml (for --software-deployment-method conda) carries the project's
    dependencies, with the same bounds, all but Snakemake itself (which runs the jobs)."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {re.split(r"[<>=]", spec, maxsplit=1)[0]: spec for spec in project["dependencies"]}
    wanted.pop("snakemake")
    environment = yaml.safe_load((ROOT / "envs" / "daydream.yaml").read_text(encoding="utf-8"))
    listed = {re.split(r"[<>=]", spec, maxsplit=1)[0]: spec for spec in environment["dependencies"]}
    assert {name: listed.get(name) for name in wanted} == wanted
