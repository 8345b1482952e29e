"""An agent's names for a tool's arguments: the obvious spellings read as the names they mean, anything else an
error naming the closest known ones."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from ideogram_mcp.arguments.problems import LISTED, SHOWN, Problem, label
from ideogram_mcp.specs import ModelSpec, load_specs, load_tool_specs
from ideogram_mcp.specs.parameter import Parameter

ASPECT_RATIO = "aspectRatio"
FILE_NAME = "fileName"
OUTPUT_DIR = "outputDir"
PREVIEW = "preview"
DRY_RUN = "dryRun"
APPROVED_COST = "approvedCost"

# Names agents reach for that plainly mean one of a tool's arguments: each with the arguments it may mean, the first
# one a tool takes wins. One table for every tool; snake_case and lower-case spellings of every name are added.
ALIASES: dict[str, tuple[str, ...]] = {
    "prompt": ("positivePrompt",),
    "negative": ("negativePrompt",),
    "n": ("numberResults", "limit"),
    "count": ("numberResults", "limit"),
    "num_images": ("numberResults",),
    "number_of_images": ("numberResults",),
    "num_outputs": ("numberResults",),
    "format": ("outputFormat",),
    "quality": ("outputQuality",),
    "ratio": (ASPECT_RATIO,),
    "aspect_ratio": (ASPECT_RATIO, "ratio"),
    ASPECT_RATIO: ("ratio",),
    "style_preset": ("stylePreset",),
    "preset": ("stylePreset",),
    "magic_prompt": ("magicPrompt",),
    "speed": ("renderingSpeed",),
    "webhook": ("webhookURL",),
    "webhook_url": ("webhookURL",),
    "upload_url": ("uploadEndpoint",),
    "upload_endpoint": ("uploadEndpoint",),
    "safety_check": ("checkContent",),
    "safety": ("checkContent",),
    "filename": (FILE_NAME,),
    "file_name": (FILE_NAME,),
    "folder": (OUTPUT_DIR,),
    "output_folder": (OUTPUT_DIR,),
    "directory": (OUTPUT_DIR,),
    "previews": (PREVIEW,),
    "dry_run": (DRY_RUN,),
    "dryrun": (DRY_RUN,),
    "approved_cost": (APPROVED_COST,),
    "task_uuid": ("taskUUID",),
    "task_id": ("taskUUID",),
    "taskId": ("taskUUID",),
    "taskID": ("taskUUID",),
    "wait_seconds": ("wait",),
    "timeout": ("wait",),
    "status": ("state",),
    # Runware's own names for the images (its wire: inputs.seedImage, inputs.maskImage, inputs.referenceImages), and
    # the ones other image APIs use; remix's image is Runware's referenceImages.
    "seedImage": ("image",),
    "seed_image": ("image",),
    "referenceImages": ("image",),
    "reference_images": ("image",),
    "inputImage": ("image",),
    "input_image": ("image",),
    "init_image": ("image",),
    "source_image": ("image",),
    "image_url": ("image",),
    "imageURL": ("image",),
    "images": ("image",),
    "maskImage": ("mask",),
    "mask_image": ("mask",),
    "mask_url": ("mask",),
    "maskURL": ("mask",),
    "regions": ("region",),
}


def aliases_for(known: set[str] | frozenset[str]) -> Mapping[str, str]:
    """Every spelling that names one of ``known``: its snake_case and lower-case forms, and the table's aliases."""
    return _aliases_for(frozenset(known))


@functools.cache
def _aliases_for(known: frozenset[str]) -> dict[str, str]:
    """``aliases_for``, worked out once per set of names (a tool's are the same every call)."""
    found = {snake(name): name for name in known} | {name.lower(): name for name in known}
    for alias, meanings in ALIASES.items():
        meant = next((name for name in meanings if name in known), None)
        if meant is not None and alias not in known:
            found.setdefault(alias, meant)
            found.setdefault(alias.lower(), meant)
    return found


def taken_somewhere(given: str) -> bool:
    """Whether a name means something to some tool or model of the family (another tool's or model's argument, an
    alias, one refused with its reason, however spelt: ``image_weight`` is ``imageWeight``): given as null ("not
    given"), it is passed over rather than called unknown, as clients filling every field of a schema they saw send
    it."""
    return plain(meaning(given)) in _family_names() or plain(given) in _family_names() or plain(given) in inside()


def plain(name: str) -> str:
    """A name as every spelling of it reads: lower case, without underscores."""
    return name.replace("_", "").lower()


@functools.cache
def inside() -> Mapping[str, tuple[tuple[str, str], ...]]:
    """The keys of more than one word that go inside an argument (4.0's
    ``structuredPrompt.style_description.color_palette``) by their ``plain`` spelling: the models that take each
    (their id) and where, the shallowest first. One word (``text``, ``type``, ``lighting``) names too much to be taken
    for a key of theirs."""
    found: dict[str, list[tuple[int, str, str]]] = {}

    def walk(model: str, members: Mapping[str, Parameter], at: str, depth: int) -> None:
        for key, member in members.items():
            here = f"{at}.{key}"
            if "_" in snake(key):
                found.setdefault(plain(key), []).append((depth, model, here))
            walk(model, member.properties or {}, f"{here}[]" if member.type == "object[]" else here, depth + 1)

    for spec in load_specs().values():
        for p in spec.exposed:
            walk(spec.model.id, p.properties or {}, p.name, 0)
    return {key: tuple((model, path) for _, model, path in sorted(places)) for key, places in found.items()}


def meaning(given: str) -> str:
    """The name of the family that ``given`` spells: the table's alias, else a name some tool or model takes written
    in snake_case or lower case (``negative_prompt``: ``negativePrompt``), else ``given`` as it is. Another tool's
    argument in snake_case is then named as that argument, not as unknown."""
    meant = ALIASES.get(given) or ALIASES.get(given.lower())
    if meant is not None:
        return meant[0]
    return _family_spellings().get(given) or _family_spellings().get(given.lower()) or given


def _family_spellings() -> Mapping[str, str]:
    """Every family name by its spellings (``aliases_for`` of them all, worked out once)."""
    names = {name for spec in load_specs().values() for name in spec.parameters}
    return aliases_for(
        names | {name for tool in load_tool_specs().values() for name in tool.parameters} | set(TOOLS_OWN)
    )


@functools.cache
def _family_names() -> frozenset[str]:
    """Every name a tool or model of the family takes, refuses with its reason or reads as another (lower case too)."""
    names = {name for spec in load_specs().values() for name in (*spec.parameters, *spec.refused)}
    names |= {name for tool in load_tool_specs().values() for name in tool.parameters}
    names |= {*ALIASES, *TOOLS_OWN}  # a spec's refused names hold size and style; the aliases, quality
    return frozenset(plain(name) for name in names)


def goes_within(spec: ModelSpec, given: str) -> str | None:
    """Where a key given as an argument of its own goes (``color_palette``: inside 4.0's ``structuredPrompt``), in
    this model or another of its tool; None for a name no argument of theirs holds."""
    specs = load_specs()
    places = [
        (model, path) for model, path in inside().get(plain(given), ()) if specs[model].model.tool == spec.model.tool
    ]
    path = next((path for model, path in places if model == spec.model.id), None)
    if path is not None:
        top = path.split(".")[0]
        instead = [name for group in spec.exactly_one if top in group for name in group if name != top]
        given_instead = f" (given in place of {either(instead)})" if instead else ""
        return f"not an argument of its own: it goes inside {top}{given_instead}, as {path}."
    if not places:
        return None
    model, path = places[0]
    other = specs[model].model
    return f"not accepted by {spec.model.name}; {other.name} takes it as {path} (model: {other.choice})."


TOOLS_OWN = {"region": ("edit_image",)}
"""Arguments a tool reads itself, not from its model's spec (edit_image draws its mask from a region), and the tools
that take each."""


def canonical(arguments: Mapping[str, Any], known: set[str]) -> tuple[dict[str, Any], list[Problem]]:
    """A tool's arguments by their own names, however an agent spelt them, and the problems: unknown names (with the
    closest known ones) and a name given twice with different values. JSON null means not given."""
    aliases = aliases_for(known)
    named: dict[str, Any] = {}
    sources: dict[str, str] = {}
    unknown_names: list[str] = []
    problems: list[Problem] = []
    for given, value in arguments.items():
        name = given if given in known else aliases.get(given) or aliases.get(given.lower())
        if name is None:  # told even as null, unless another tool takes it: nothing sent goes without a word
            unknown_names += [] if value is None and taken_somewhere(given) else [given]
            continue
        if value is None:
            continue
        if name in named and not same(named[name], value):
            problems.append(
                Problem(name, f"given twice, as {sources[name]} and as {label(given)}, with different values.")
            )
            continue
        named[name], sources[name] = value, label(given)
    return named, problems + unknown(unknown_names, known, aliases)


def same(one: Any, other: Any) -> bool:
    """Whether two spellings of one argument carry the same value: true is not 1 (== says it is); 2 is 2.0."""
    return isinstance(one, bool) == isinstance(other, bool) and one == other


def unknown(names: list[str], exposed: AbstractSet[str], aliases: Mapping[str, str]) -> list[Problem]:
    """One problem per unknown name (the first few), each with the closest known names; the known ones listed once."""
    if not names:
        return []
    pool = {name.lower(): name for name in exposed} | {alias.lower(): name for alias, name in aliases.items()}
    problems: list[Problem] = []
    for given in names[:LISTED]:
        # A known name of which the given one is a word first (cost: approvedCost), then those spelt alike.
        word = f"_{snake(given[:SHOWN]).strip('_')}_"
        within = [name for name in sorted(exposed) if word != "__" and word in f"_{snake(name)}_"]
        close = difflib.get_close_matches(given.lower()[:SHOWN], list(pool), n=5, cutoff=0.6)
        suggestions = list(dict.fromkeys([*within, *(pool[c] for c in close)]))[:3]
        hint = f" Did you mean {either(suggestions)}?" if suggestions else ""
        problems.append(Problem(label(given), f"unknown argument.{hint}"))
    if names:
        more = f" ({len(names)} unknown in all)" if len(names) > LISTED else ""
        last = problems[-1]
        takes = f"Known arguments: {', '.join(sorted(exposed))}." if exposed else "This tool takes no arguments."
        problems[-1] = Problem(last.argument, f"{last.message}{more} {takes}")
    return problems


def snake(name: str) -> str:
    """A camelCase name in snake_case (``highLevelDescription``: ``high_level_description``)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def either(options: list[str]) -> str:
    return " or ".join(options)
