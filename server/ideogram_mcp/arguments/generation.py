"""An image tool's arguments checked against its model's spec and turned into a Runware task; and any tool's own
arguments checked against theirs (``specs/tools.toml``): one parser for every argument of every tool.

Everything is checked before anything is sent. Each problem names the argument, says what is allowed and, where
there is one, the nearest valid choice. Nothing sent is silently dropped.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ideogram_mcp import files, sizes
from ideogram_mcp.arguments import structured
from ideogram_mcp.arguments.models import taker
from ideogram_mcp.arguments.names import (
    APPROVED_COST,
    ASPECT_RATIO,
    DRY_RUN,
    FILE_NAME,
    OUTPUT_DIR,
    PREVIEW,
    TOOLS_OWN,
    aliases_for,
    canonical,
    goes_within,
    meaning,
    plain,
    same,
    taken_somewhere,
    unknown,
)
from ideogram_mcp.arguments.problems import InvalidArgumentsError, Problem, show
from ideogram_mcp.arguments.values import coerce, unsendable
from ideogram_mcp.specs import ModelSpec, ToolSpec, load_specs, load_tool_specs, models_of
from ideogram_mcp.specs.tools import OPTIONS
from ideogram_mcp.text import joined

_SIZES = {"width", "height", "size", ASPECT_RATIO, "aspect_ratio", "ratio"}
_DIMENSIONS = re.compile(r"\s*(\d+)\s*[x\u00d7*]\s*(\d+)\s*", re.IGNORECASE)


def options() -> ToolSpec:
    """The arguments every image tool takes that the server acts on itself (never sent to Runware)."""
    return load_tool_specs()[OPTIONS]


@dataclass(frozen=True, slots=True)
class LocalInput:
    """An image argument item that names a local file, for ``files`` to check, read and upload."""

    parameter: str
    index: int | None
    """The item's place in a list of images; None for a parameter that takes one image."""
    text: str

    @property
    def argument(self) -> str:
        return self.parameter if self.index is None else f"{self.parameter}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Generation:
    """Checked arguments of one generation: spec values by parameter name, and the server's own options."""

    values: Mapping[str, Any]
    file_name: str | None = None
    preview: bool | None = None
    dry_run: bool = False
    local_inputs: tuple[LocalInput, ...] = ()
    shaped: bool = True
    """Whether the caller chose the size; false when the model's default size was taken."""
    output_dir: str | None = None
    """The folder the agent asked the files to go to, as it wrote it (checked against the allowed folders later)."""
    approved_cost: float | None = None
    """The dollars the agent says the user agreed to spend on this call, when it says."""

    @property
    def count(self) -> int:
        return int(self.values.get("numberResults", 1))

    def with_values(self, **changes: Any) -> Generation:
        """These arguments with some values changed (a tool filling in what it computed)."""
        left = tuple(item for item in self.local_inputs if item.parameter not in changes)
        return dataclasses.replace(self, values={**self.values, **changes}, local_inputs=left)

    def with_images(self, replacements: Mapping[LocalInput, str]) -> Generation:
        """These arguments with local files replaced by the image UUIDs they were uploaded as."""
        values = dict(self.values)
        for item, image_uuid in replacements.items():
            if item.index is None:
                values[item.parameter] = image_uuid
            else:
                values[item.parameter] = [*values[item.parameter]]
                values[item.parameter][item.index] = image_uuid
        left = tuple(item for item in self.local_inputs if item not in replacements)
        return dataclasses.replace(self, values=values, local_inputs=left)

    def to_task(self, spec: ModelSpec, task_uuid: str, server: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The Runware task under ``task_uuid``: each value at its wire path, plus the parameters the server owns.

        ``server`` holds the values the server's settings give (``webhookURL``, ``uploadEndpoint``).
        """
        always = {p.name: p.server_value for p in spec.parameters.values() if p.owned and p.server_value is not None}
        owned: dict[str, Any] = {
            "taskType": spec.model.task_type,
            "taskUUID": task_uuid,
            "model": spec.model.id,
            **{k: v for k, v in always.items() if k != "mode"},
            **{k: v for k, v in (server or {}).items() if v is not None},
        }
        if self.values.get("checkContent") and "mode" in always:
            owned["mode"] = always["mode"]  # the mode that checks, only when the check is asked for
        task: dict[str, Any] = {}
        for name, value in (owned | dict(self.values)).items():
            spec.parameters[name].place(task, value)
        return task


def parse(
    spec: ModelSpec,
    arguments: Mapping[str, Any] | None,
    *,
    supplied: frozenset[str] = frozenset(),
    own: frozenset[str] = frozenset(),
    also: frozenset[str] = frozenset(),
) -> Generation:
    """Check an agent's arguments for a model; raise ``InvalidArgumentsError`` listing every problem.

    ``supplied`` names required parameters the tool fills in itself (a mask drawn from a region);
    ``own`` names arguments the tool reads itself, left out here (they are neither values nor unknown);
    ``also`` names the tool's own arguments, known too where an unknown name is matched (``regon``: region).
    """
    problems: list[Problem] = []
    named = _canonical_names(spec, {k: v for k, v in (arguments or {}).items() if k not in own}, problems, also)
    unsent = {name: why for name, raw in named.items() if (why := unsendable(raw)) is not None}
    problems += [Problem(name, why) for name, why in unsent.items()]
    named = {name: raw for name, raw in named.items() if name not in unsent}  # said once, and read no further
    values: dict[str, Any] = {}
    local: list[LocalInput] = []
    own_options = options()
    chosen: dict[str, Any] = {}
    for name, raw in named.items():
        if name == ASPECT_RATIO:
            continue
        if name in own_options.parameters:
            value, problem = coerce(own_options.parameters[name], raw)
            if problem:
                problems.append(Problem(name, problem))
            else:
                chosen[name] = value
            continue
        p = spec.parameters[name]
        if p.type == "object":  # a structured prompt: its problems each at their path inside it
            value, found = structured.read(p, raw)
            problems += found
            if value is not None:
                values[name] = value
            continue
        scene = (
            next((q for q in spec.parameters.values() if q.type == "object"), None)
            if name == "positivePrompt"
            else None
        )
        if scene is not None and (why := structured.misplaced(scene, raw)):
            problems.append(Problem(name, f"{why}, and leave {name} out."))
            continue
        value, problem = coerce(p, raw)
        if problem:
            problems.append(Problem(name, problem))
        elif value is not None:
            values[name] = value
            if p.format == "image" and isinstance(value, str):
                local += [LocalInput(name, None, value)] if files.looks_local(value) else []
            elif p.format == "image":
                local += [LocalInput(name, i, item) for i, item in enumerate(value) if files.looks_local(item)]
    _left_out_as_defaults(spec, values)
    if spec.takes_size:
        _resolve_size(spec, named, values, problems)
    for violation in spec.cross_violations(values, given={*named, *supplied, *unsent}):
        if violation.parameters == ("width", "height") and violation.kind == "invalid":
            continue  # an unlisted size: reported with suggestions by _resolve_size
        problems.append(Problem("/".join(violation.parameters), violation.message + "."))
    missing = [p for p in spec.exposed if p.required and p.name not in {*named, *supplied, *unsent}]
    for p in reversed(missing):
        if p.name not in ("width", "height"):  # a missing size is said by _resolve_size, with aspectRatio
            problems.insert(0, Problem(p.name, f"required: {_first_sentence(p.description)}"))
    if problems:
        raise InvalidArgumentsError(problems)
    shaped = not spec.takes_size or bool({"width", "height", ASPECT_RATIO} & set(named))
    return Generation(
        values,
        file_name=chosen.get(FILE_NAME),
        preview=chosen.get(PREVIEW),
        dry_run=bool(chosen.get(DRY_RUN)),
        local_inputs=tuple(local),
        shaped=shaped,
        output_dir=chosen.get(OUTPUT_DIR),
        approved_cost=chosen.get(APPROVED_COST),
    )


def _first_sentence(text: str) -> str:
    """The first sentence of a description: to its first full stop that ends one (not that of "e.g." or "i.e.")."""
    end = _SENTENCE_END.search(text)
    return text if end is None else text[: end.start() + 1]


_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z0-9\"'(])")


def _canonical_names(
    spec: ModelSpec, arguments: Mapping[str, Any], problems: list[Problem], also: frozenset[str]
) -> dict[str, Any]:
    exposed, aliases = _names_of(spec.model.id) if load_specs().get(spec.model.id) is spec else _names(spec)
    named: dict[str, Any] = {}
    sources: dict[str, str] = {}
    unknown_names: list[str] = []
    for given, value in arguments.items():
        # JSON null means "not given", as agents use it; a name nothing takes is told all the same
        if value is None:
            if given not in exposed and not aliases.get(given) and not aliases.get(given.lower()):
                unknown_names += [] if taken_somewhere(given) else [given]
            continue
        if given in exposed:
            name = given
        elif given.lower() == "quality" and "renderingSpeed" in exposed and _in_words(value):
            # "QUALITY" or "high" is not a file's compression (outputQuality, which "quality": 90 means)
            problems.append(Problem(given, f"not accepted: {_QUALITY_MEANS}."))
            continue
        elif not spec.takes_size and given in _SIZES:
            problems.append(Problem(given, "not accepted: this model keeps the source image's size."))
            continue
        elif given == "size" and isinstance(value, str) and (match := _DIMENSIONS.fullmatch(value)):
            for name, number in zip(("width", "height"), match.groups(), strict=True):
                if name in named and not same(named[name], int(number)):
                    said = f"given twice, as {sources[name]} and as size, with different values."
                    problems.append(Problem(name, said))
                named[name], sources[name] = int(number), sources.get(name, given)
            continue
        elif (other := taker(spec, given)) is not None:
            if _is_default(other, given, value):
                continue  # the default the tool's schema shows, as clients fill it in: what leaving it out means
            said = f"not accepted by {spec.model.name}; {other.model.name} takes it (model: {other.model.choice})."
            problems.append(Problem(given, said))
            continue
        elif (why := _refusal(spec, given)) is not None:
            problems.append(Problem(given, f"not accepted: {why}."))
            continue
        elif (owned := _owned(spec, given, aliases)) is not None:
            problems.append(Problem(given, f"set by the server, not by callers. {owned}"))
            continue
        elif (name := aliases.get(given) or aliases.get(given.lower())) is None:
            other = meaning(given)
            known = other in _family_parameters() or other in TOOLS_OWN  # the cache below keeps known names only
            if (why := _refusal(spec, other)) is not None:  # quality, refused as outputQuality is here
                problems.append(Problem(given, f"not accepted: {why}."))
            elif known and (takers := _tools_taking(other, spec.model.tool)):  # another tool's argument: named
                problems.append(Problem(given, f"not accepted: {spec.model.tool} takes no {other}; {takers}."))
            elif other in _family_parameters():
                problems.append(Problem(given, f"not accepted: this model takes no {other}."))
            elif (within := goes_within(spec, given)) is not None:
                problems.append(Problem(given, within))
            else:
                unknown_names.append(given)
            continue
        if name in named and not same(named[name], value):
            problems.append(Problem(name, f"given twice, as {sources[name]} and as {given}, with different values."))
            continue
        named[name], sources[name] = value, given
    problems += unknown(unknown_names, exposed | also, {**aliases, **aliases_for(also)} if also else aliases)
    return named


def _left_out_as_defaults(spec: ModelSpec, values: dict[str, Any]) -> None:
    """Leave out a value that is its parameter's default where it is given beside one it cannot go with (``styleType``
    AUTO beside a ``styleCode``, 4.0's ``magicPrompt`` AUTO beside a ``structuredPrompt``): the tools' schemas show
    the defaults, clients fill them in, and the default means what leaving the argument out means."""
    for p in spec.parameters.values():
        for other in p.excludes:
            if p.name in values and other in values:
                dropped = next((n for n in (p.name, other) if values[n] == spec.parameters[n].default), None)
                values.pop(dropped or "", None)


def _is_default(spec: ModelSpec, given: str, value: Any) -> bool:
    """Whether ``value`` is, in ``spec``, the default of the parameter ``given`` names."""
    aliases = _names_of(spec.model.id)[1]
    p = spec.parameters.get(given if given in spec.parameters else aliases.get(given) or aliases.get(given.lower(), ""))
    if p is None or p.default is None:
        return False
    read, problem = coerce(p, value)
    return problem is None and read == p.default


@functools.cache
def _names_of(model: str) -> tuple[frozenset[str], Mapping[str, str]]:
    """``_names`` of a model the server serves, worked out once (every call asks)."""
    return _names(load_specs()[model])


def _names(spec: ModelSpec) -> tuple[frozenset[str], Mapping[str, str]]:
    """The names a model's callers set (its exposed parameters, aspectRatio where it takes a size, the tools' own
    options), and every spelling of those and of the server-owned ones."""
    exposed = {p.name for p in spec.exposed} | ({ASPECT_RATIO} if spec.takes_size else set[str]())
    exposed |= set(options().parameters)
    owned = {p.name for p in spec.parameters.values() if not p.exposed}
    return frozenset(exposed), aliases_for(exposed | owned)


@functools.cache
def _family_parameters() -> frozenset[str]:
    """What any model of the family takes, so that one it does not take is named as such, not as unknown."""
    return frozenset(name for spec in load_specs().values() for name in spec.parameters)


_QUALITY_MEANS = (
    "it could mean renderingSpeed (TURBO, DEFAULT or QUALITY: how carefully the image is rendered, which sets its "
    "price) or outputQuality (20 to 99: how little the file is compressed); use one of those"
)


def _in_words(value: object) -> bool:
    """Whether a value is words rather than a number (``"QUALITY"``, ``"high"``; not ``90`` or ``"90"``)."""
    return isinstance(value, str) and not value.strip().lstrip("+-").replace(".", "", 1).isdigit()


def _refusal(spec: ModelSpec, given: str) -> str | None:
    """Why the model refuses a name it says it refuses, however it is spelt (``image_weight``, ``IMAGEWEIGHT``)."""
    return next((why for name, why in spec.refused.items() if plain(name) == plain(given)), None)


@functools.cache
def _tools_taking(name: str, tool: str) -> str:
    """The other tools an agent may give ``name`` to, in a clause (``remix_image and edit_image take it``), where
    ``tool`` takes it with none of its models; empty where it is no other tool's either."""
    specs = load_specs().values()
    if any(name in spec.parameters for spec in specs if spec.model.tool == tool):
        return ""
    takers = [spec.model.tool for spec in specs if (p := spec.parameters.get(name)) is not None and p.exposed]
    takers = list(dict.fromkeys([*takers, *TOOLS_OWN.get(name, ())]))
    if not takers:
        return ""
    listed = joined(takers)
    return f"{listed} {'takes' if len(takers) == 1 else 'take'} it"


def _owned(spec: ModelSpec, given: str, aliases: Mapping[str, str]) -> str | None:
    """Why the server sets this argument itself, when it (or its alias) names a server-owned parameter."""
    name = given if given in spec.parameters else aliases.get(given) or aliases.get(given.lower()) or given
    p = spec.parameters.get(name)
    return p.owned if p is not None and not p.exposed else None


def _resolve_size(spec: ModelSpec, named: Mapping[str, Any], values: dict[str, Any], problems: list[Problem]) -> None:
    ratio = named.get(ASPECT_RATIO)
    if isinstance(ratio, float) or (isinstance(ratio, int) and not isinstance(ratio, bool) and abs(ratio) < 10**18):
        ratio = str(ratio)  # 1.5 means "1.5"; a number too long to print is no ratio
    has_width, has_height = "width" in values, "height" in values
    if ratio is not None:
        if has_width or has_height:
            if not (has_width and has_height and _fits(spec, values, ratio)):
                problems.append(Problem(ASPECT_RATIO, "give either aspectRatio or width and height, not both."))
            return
        size = sizes.for_ratio(spec.sizes, ratio) if isinstance(ratio, str) else None
        if size is None:
            listed = ", ".join(sizes.ratios(spec.sizes))
            said = f"expected a ratio like '16:9' or '1.5'; got {show(ratio)}"
            if isinstance(ratio, str) and sizes.read_ratio(ratio) is not None:  # 200:1
                said = f"no listed size comes near the shape {show(ratio)}"
            problems.append(Problem(ASPECT_RATIO, f"{said}. Listed: {listed}."))
            return
        values["width"], values["height"] = size.width, size.height
        return
    if not has_width and not has_height:
        default = spec.default_size
        if "width" in named or "height" in named:
            return  # given, but unreadable: said already
        if default is not None:
            values["width"], values["height"] = default.width, default.height
        else:
            problems.append(
                Problem(
                    ASPECT_RATIO, "required: the new shape, as aspectRatio (e.g. '9:16') or a listed width and height."
                )
            )
        return
    if has_width and has_height and spec.size(values["width"], values["height"]) is None:
        width, height = values["width"], values["height"]
        close = sizes.nearest(spec.sizes, width, height)
        options = ", ".join(f"{s} ({s.label})" for s in close)
        chosen = "" if models_of(spec.model.tool)[0] is spec else f" with model {spec.model.choice}"
        problems.append(
            Problem(
                "width/height",
                f"{width}x{height} is not a size {spec.model.name} takes. Nearest supported: {options}. "
                f"Or pass aspectRatio (e.g. '16:9') instead; call list_sizes{chosen} for all {len(spec.sizes)}.",
            )
        )


def _fits(spec: ModelSpec, values: Mapping[str, Any], ratio: Any) -> bool:
    size = spec.size(values["width"], values["height"])
    return size is not None and isinstance(ratio, str) and sizes.for_ratio(spec.sizes, ratio) == size


def parse_tool(
    tool: ToolSpec, given: Mapping[str, Any] | None, *, only: frozenset[str] | None = None
) -> dict[str, Any]:
    """A tool's own arguments read as its spec says, defaults filled in; raise ``InvalidArgumentsError`` listing
    every problem. ``only`` reads just these names (the rest are another parser's: edit's model arguments)."""
    wanted = {k: v for k, v in (given or {}).items() if only is None or k in only}
    named, problems = canonical(wanted, set(tool.parameters))
    values: dict[str, Any] = {}
    for name, raw in named.items():
        if (why := unsendable(raw)) is not None:
            problems.append(Problem(name, why))
            continue
        value, problem = coerce(tool.parameters[name], raw)
        if problem:
            problems.append(Problem(name, problem))
        else:
            values[name] = value
    for p in tool.parameters.values():
        if p.required and p.name not in named:
            said = _first_sentence(p.description)
            problems.insert(0, Problem(p.name, f"required: {said[:1].lower()}{said[1:]}"))
        elif p.default is not None and p.name not in values:
            values[p.name] = p.default
    if problems:
        raise InvalidArgumentsError(problems)
    return values
