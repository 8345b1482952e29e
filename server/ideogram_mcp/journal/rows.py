"""The journal's rows as Python: a task's entry, its image records (as stored, with their claims), the merge of
what two processes recorded of one task, and the decisions every journal takes alike on the rows it holds locked
(a task's cost, who saves each image)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from ideogram_mcp import logs
from ideogram_mcp.journal import (
    Claim,
    Entry,
    Options,
    Pending,
    State,
)
from ideogram_mcp.money import cost_of
from ideogram_mcp.records import ImageRecord

logger = logs.logger(__name__)

CLAIM = ("claimedBy", "claimedUntil")
"""The fields of a stored image record that say who is saving it, until when; only claims write them."""

Raw = dict[str, Any]
"""An image record as stored: ``ImageRecord``'s JSON, and its claim."""


def pending(new: Pending, *, now: float, json_of: Callable[[object], str]) -> tuple[Entry, tuple[Any, ...]]:
    """A task about to be sent, as its entry and as the row every journal inserts (``task_uuid, owner, tool, model,
    task, requested, quote, state, options, created, updated, approval``; JSON written by ``json_of``)."""
    given = {field.name: getattr(new, field.name) for field in dataclasses.fields(new)}
    entry = Entry(**given, cost=None, state="pending", images=[], errors=[], created=now, updated=now)
    row = (
        new.task_uuid, new.owner, new.tool, new.model, json_of(new.task), new.requested, new.quote, "pending",
        json_of(new.options.model_dump(mode="json")), now, now, new.approval,
    )  # fmt: skip
    return entry, row


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
    approval, accepted, unusable_cost, ran = row[14:]
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
        unusable_cost=float(unusable_cost or 0.0),
        ran=bool(ran),
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


def cost(
    images: Sequence[Mapping[str, Any]], quote: float, requested: int, unusable: float, given: float | None
) -> float | None:
    """What a task cost, as ``Journal.update`` records it: what its images cost (an image whose cost Runware did not
    say at the price of one) and ``unusable`` (images reported finished that could not be used), once any of that
    is known; and never less than ``given``, when given (a task counted at its quote stays so)."""
    costs = [float(r["cost"]) if isinstance(r.get("cost"), int | float) else None for r in images]
    known = cost_of(costs, quote / max(1, requested), unusable)
    return known if given is None else max(known or 0.0, given)


def updated(
    stored: Sequence[Any],
    images: Sequence[ImageRecord],
    state: State,
    unusable_cost: float | None,
    given: float | None,
) -> tuple[State, list[Raw], float | None, float]:
    """What ``Journal.update`` writes over a task's row, read locked as ``state, images, unusable_cost, quote,
    requested``: its state (a finished task stays finished), its images merged with what another process recorded
    (``merged``), its cost (``cost``) and what unusable images cost (``unusable_cost``; None: as recorded)."""
    was, kept, unusable_before, quote, requested = stored
    records = merged(json.loads(kept), [raw(image) for image in images], limit=int(requested))
    unusable = float(unusable_before) if unusable_cost is None else unusable_cost
    final: State = "done" if was == "done" else state
    return final, records, cost(records, float(quote), int(requested), unusable, given), unusable


def claimed(records: Sequence[Raw], wanted: Sequence[str], *, by: str, until: float, now: float) -> dict[str, Claim]:
    """Where the saving of each ``wanted`` image stands for ``by`` (``Journal.claim``); the claims it takes are
    written into ``records``, which the caller stores in the transaction it read them in."""
    by_uuid = {record.get("imageUUID"): record for record in records}
    found: dict[str, Claim] = {}
    for image_uuid in wanted:
        record = by_uuid.get(image_uuid)
        if record is None:
            continue
        stem = str(record.get("stem") or "")
        if record.get("path"):
            found[image_uuid] = Claim("stored", stem, str(record["path"]))
        elif record.get("claimedBy") not in (None, by) and float(record.get("claimedUntil") or 0) > now:
            found[image_uuid] = Claim("busy", stem)
        else:
            record |= {"claimedBy": by, "claimedUntil": until}
            found[image_uuid] = Claim("mine", stem)
    return found


def stored(records: Sequence[Raw], record: ImageRecord, *, by: str) -> tuple[bool, str | None]:
    """What ``by``'s saving of an image made of ``records`` (``Journal.stored``): whether they changed, to be
    stored, and the path the image is saved at (another saving's, when another saved it first)."""
    for kept in records:
        if kept.get("imageUUID") != record.image_uuid:
            continue
        if kept.get("path"):
            return False, str(kept["path"])  # saved by another meanwhile: that one stands
        stem = kept.get("stem")
        kept.update({k: v for k, v in raw(record).items() if v is not None})
        kept["stem"] = stem or kept.get("stem")
        if kept.get("claimedBy") == by:
            for key in CLAIM:
                kept.pop(key, None)
        return True, kept.get("path")
    return False, None


def released(records: Sequence[Raw], *, by: str) -> bool:
    """Drop the claims ``by`` holds in ``records`` (``Journal.release``); whether there were any."""
    held = [record for record in records if record.get("claimedBy") == by]
    for record in held:
        for key in CLAIM:
            record.pop(key, None)
    return bool(held)
