"""Which model a tool's ``model`` argument names, and which of a tool's models takes an argument another does not.

A model is named by its name (``ideogram-4.0``), its Runware id (``ideogram:4@0``) or a plain spelling of its
version (``4.0``, ``"Ideogram 4"``, ``v4``); anything else is refused naming the models the tool runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ideogram_mcp.arguments.names import aliases_for
from ideogram_mcp.arguments.problems import show
from ideogram_mcp.specs import ModelSpec, load_specs, models_of


def named(models: Sequence[ModelSpec], raw: Any) -> tuple[ModelSpec | None, str | None]:
    """The model ``raw`` names among a tool's ``models`` (its default when none is named), or why none is."""
    if raw is None:
        return models[0], None
    choices = " or ".join(spec.model.choice for spec in models)
    if not isinstance(raw, str) or not raw.strip():
        return None, f"must be a model name, {choices}; got {show(raw)}."
    text = raw.strip()
    found = [spec for spec in models if text in (spec.model.id, spec.model.choice) or _key(text, spec) in _keys(spec)]
    if len(found) == 1:
        return found[0], None
    default = f"{choices} (the default is {models[0].model.choice})"
    other = load_specs().get(text)
    if other is not None:
        return None, f"{text} is {other.model.name}, which {other.model.tool} runs; this tool runs {default}."
    return None, f"{show(raw)} is not a model this tool runs: give {default}."


def _key(text: str, spec: ModelSpec) -> str:
    """A model's name as compared: no case, spaces or hyphens, no creator's name, no leading v (``Ideogram v4``: 4)."""
    key = re.sub(r"[\s_\-]+", "", text.lower()).removeprefix(spec.model.creator.lower())
    return key.removeprefix("v")


def _keys(spec: ModelSpec) -> set[str]:
    version = _key(spec.model.version, spec)
    return {version, version.removesuffix(".0")} if version.endswith(".0") else {version}


def taker(spec: ModelSpec, given: str) -> ModelSpec | None:
    """Another model of the same tool that takes the argument ``given`` (or what its spelling means), which ``spec``
    does not: the model to name when refusing it."""
    mine = {p.name for p in spec.exposed}
    for other in models_of(spec.model.tool):
        theirs = {p.name for p in other.exposed}
        aliases = aliases_for(theirs)
        name = given if given in theirs else aliases.get(given) or aliases.get(given.lower())
        if other is not spec and name is not None and name not in mine:
            return other
    return None
