"""The journal's rows as Python: a task's entry, its image records (as stored, with their claims), and the merge of
what two processes recorded of one task."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from ideogram_mcp.journal import Entry, Options, State
from ideogram_mcp.records import ImageRecord

logger = logging.getLogger(__name__)

CLAIM = ("claimedBy", "claimedUntil")
"""The fields of a stored image record that say who is saving it, until when; only claims write them."""

Raw = dict[str, Any]
"""An image record as stored: ``ImageRecord``'s JSON, and its claim."""


def raw(record: ImageRecord) -> Raw:
    return record.model_dump(mode="json")


def records(text: str) -> list[ImageRecord]:
    """The image records of a row (their claims left out); one an earlier version wrote oddly is skipped."""
    found: list[ImageRecord] = []
    for raw in cast(list[object], json.loads(text)):
        try:
            found.append(ImageRecord.model_validate(raw))
        except ValidationError:
            logger.warning("an image record of the journal could not be read; it is left out")
    return found


def entry(row: tuple[Any, ...]) -> Entry:
    (task_uuid, owner, tool, model, task, requested, quote, cost, state, images, errors, options, created, updated) = (
        row[:14]
    )
    approval, accepted = row[14:]
    return Entry(
        task_uuid=str(task_uuid),
        owner=str(owner),
        tool=str(tool),
        model=str(model),
        task=cast(dict[str, Any], json.loads(task)),
        requested=int(requested),
        quote=float(quote),
        cost=float(cost) if cost is not None else None,
        state=cast(State, state),
        images=records(images),
        errors=cast(list[str], json.loads(errors)),
        options=Options.model_validate(json.loads(options)),
        created=float(created),
        updated=float(updated),
        approval=str(approval),
        accepted=bool(accepted),
    )


def merged(
    before: Sequence[Mapping[str, Any]], now: Sequence[Mapping[str, Any]], *, limit: int | None = None
) -> list[Raw]:
    """Image records of both, one per imageUUID, in the order they came, ``now``'s fields over ``before``'s: but a
    saved path is never lost, the name an image is saved under (``stem``) is set once, and claims are left as they
    are (another process may hold one). At most ``limit`` records are kept (a task makes no more images than it
    asked for), those with a saved file first."""
    kept: dict[object, Raw] = {record.get("imageUUID"): dict(record) for record in before}
    for record in now:
        earlier = kept.get(record.get("imageUUID"), {})
        later = {k: v for k, v in record.items() if k not in CLAIM and (v is not None or k not in earlier)}
        if earlier.get("path") and not later.get("path"):
            later = {k: v for k, v in later.items() if k not in ("path", "problem")}
        elif later.get("path"):
            later["problem"] = None
        if earlier.get("stem"):
            later["stem"] = earlier["stem"]
        kept[record.get("imageUUID")] = earlier | later
    records = list(kept.values())
    if limit is None or len(records) <= limit:
        return records
    saved = [r for r in records if r.get("path")]
    return (saved + [r for r in records if not r.get("path")])[:limit] if len(saved) < limit else saved
