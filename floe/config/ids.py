"""floe's id and name derivation for flows and nodes."""

from __future__ import annotations

from floe.model.ids import MAX_ID, valid_id

_TRIM = " .-"


def clean_id(raw: str) -> str:
    """Lower-case `raw` and trim spaces, dots and hyphens from both ends (`--A-b..` → `a-b`)."""
    return raw.strip().lower().strip(_TRIM)


def id_from_name(name: str) -> str:
    """An id derived from a name: lower-case, spaces and dots become `-` (`a b.2` → `a-b-2`)."""
    return clean_id(name).replace(" ", "-").replace(".", "-")


def name_from_id(node_id: str) -> str:
    """A name derived from an id: `-` becomes a space (`a-b` → `a b`)."""
    return node_id.replace("-", " ")


def derive(raw_id: str | None, raw_name: str | None) -> tuple[str, str, str]:
    """`(id, name, error)` from the optional id and name as floe derives them; `error` is "" when fine."""
    name = (raw_name or "").strip()
    if raw_id is not None and raw_id.strip():
        node_id = clean_id(raw_id)
        if not node_id:
            return "", name, f"id {raw_id!r} is empty once trimmed of spaces, dots and hyphens"
        if not valid_id(node_id):
            return (
                "",
                name,
                f"id {raw_id!r} must not contain spaces, dots or slashes (at most {MAX_ID} characters)",
            )
        return node_id, name or name_from_id(node_id), ""
    if not name:
        return "", "", "needs an id or a name"
    node_id = id_from_name(name)
    if not valid_id(node_id):
        return "", name, f"no id can be derived from name {name!r}: give an explicit id"
    return node_id, name, ""
