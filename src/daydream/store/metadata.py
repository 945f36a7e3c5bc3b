"""Reading what a stored generation's metadata.json says: this store's keys, or the original
pipeline's names for them (the one place those old names are known), each checked for its type
(a file edited by hand or by another tool is named with the field, never a traceback), and its
lineage up the stage model through parent_gen_id."""

from __future__ import annotations

from daydream.errors import InputError
from daydream.fileio import read_json_object
from daydream.ids import is_safe_id
from daydream.stages import PARENT_STAGE
from daydream.store.layout import METADATA, StoreLayout

# this store's key -> the original pipeline's names for it (by the stage of the generation)
ALIASES = {
    "llm_model_id": {None: ("model_id",)},
    "template_id": {"draft": ("draft_template",), "essay": ("essay_template",)},
}


MAX_TEXT = 10_000  # characters of a text field; ids are far shorter


class BadMetadata(InputError):
    """A metadata field of the wrong type or size."""


def read_metadata(store: StoreLayout, stage: str, gen_id: str) -> dict:
    """A stored generation's metadata ({} when missing or unreadable)."""
    return read_json_object(store.gen_dir(stage, gen_id) / METADATA)


def value(meta: dict, name: str, stage: str | None = None, path=None) -> str:
    """A text field under this store's key or an old name for it ('' when absent). A number is
    read as its text; anything else (a list, an object, a boolean, a huge text) is BadMetadata
    naming the file and the field."""
    aliases = ALIASES.get(name, {})
    for key in (name, *aliases.get(stage, aliases.get(None, ()))):
        found = meta.get(key)
        if found in (None, ""):
            continue
        if isinstance(found, int | float) and not isinstance(found, bool):
            found = str(found)
        if not isinstance(found, str) or len(found) > MAX_TEXT:
            got = f"text of {len(found):,} characters" if isinstance(found, str) else _kind(found)
            raise BadMetadata(f"expected text, got {got}", file=path, field=key)
        return found
    return ""


def number(meta: dict, name: str, path=None) -> float | None:
    """A number field (None when absent); anything else is BadMetadata naming file and field."""
    found = meta.get(name)
    if found is None:
        return None
    if isinstance(found, bool) or not isinstance(found, int | float) or found != found or abs(found) == float("inf"):
        raise BadMetadata(f"expected a finite number, got {_kind(found)}", file=path, field=name)
    return found


def _kind(found) -> str:
    if isinstance(found, bool):
        return "a boolean"
    if isinstance(found, int | float):
        return repr(found)
    return {list: "a list", dict: "an object", str: "text"}.get(type(found), type(found).__name__)


def model_of(meta: dict, path=None) -> str:
    return value(meta, "llm_model_id", path=path)


def template_of(meta: dict, stage: str, path=None) -> str:
    return value(meta, "template_id", stage, path)


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
