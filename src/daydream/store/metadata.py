"""Reading what a stored generation's metadata.json says: this store's keys, or the original
pipeline's names for them (the one place those old names are known), and its lineage up the
stage model through parent_gen_id."""

from __future__ import annotations

from daydream.ids import is_safe_id
from daydream.stages import PARENT_STAGE
from daydream.store.fileio import read_json_object
from daydream.store.layout import METADATA, StoreLayout

# this store's key -> the original pipeline's names for it (by the stage of the generation)
ALIASES = {
    "llm_model_id": {None: ("model_id",)},
    "template_id": {"draft": ("draft_template",), "essay": ("essay_template",)},
}


def read_metadata(store: StoreLayout, stage: str, gen_id: str) -> dict:
    """A stored generation's metadata ({} when missing or unreadable)."""
    return read_json_object(store.gen_dir(stage, gen_id) / METADATA)


def value(meta: dict, name: str, stage: str | None = None) -> str:
    """A field under this store's key or an old name for it, as text ('' when absent)."""
    aliases = ALIASES.get(name, {})
    for key in (name, *aliases.get(stage, aliases.get(None, ()))):
        found = meta.get(key)
        if found not in (None, ""):
            return str(found)
    return ""


def model_of(meta: dict) -> str:
    return value(meta, "llm_model_id")


def template_of(meta: dict, stage: str) -> str:
    return value(meta, "template_id", stage)


def ancestors(store: StoreLayout, stage: str, meta: dict) -> dict[str, tuple[str, dict]]:
    """(gen_id, metadata) of a generation's ancestors by stage name, up the stage model through
    parent_gen_id; an id that is no safe path part (a hand-edited file) ends the walk."""
    found = {}
    while PARENT_STAGE[stage]:
        parent_id = meta.get("parent_gen_id") or ""
        if not is_safe_id(parent_id):
            break
        stage = PARENT_STAGE[stage]
        meta = read_metadata(store, stage, parent_id)
        found[stage] = (parent_id, meta)
    return found
