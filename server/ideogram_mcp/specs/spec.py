"""The model specs of the Ideogram 3.0 family on Runware, one data file each, loaded once and checked.

Everything that knows a size, a preset, a bound, a default or a price reads it from here: the
tools' input schemas, argument validation, the list tools, the emulator and the README's tables.
The strict checks here are Runware's own rules; friendlier handling of what agents send
(aliases, case, nearest choices) is layered on top in ``arguments``.

A spec file may name a ``base`` spec: it then holds only what differs (its model, the parameters
it adds or changes, and the ones it ``drop``s), so the 69 sizes and 62 presets are written once.
Each model names the tool that runs it; a tool may run several (generate_image: Ideogram 3.0, and 4.0
when its ``model`` argument says so), the first spec file naming a tool being its default model.
Every fact carries its ``source``: ``[doc]`` Runware's documentation, ``[sdk]`` Runware's SDK
source, ``[guess]`` an inference, so that a guess is easy to find and fix once it is confirmed.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Collection, Iterator, Mapping
from importlib import resources
from typing import Any, Literal, Self, cast

from pydantic import Field, model_validator

from ideogram_mcp.money import TOLERANCE, money
from ideogram_mcp.sizes import Size
from ideogram_mcp.specs.parameter import Frozen, Parameter, Violation
from ideogram_mcp.specs.shapes import summary

Speed = Literal["TURBO", "DEFAULT", "QUALITY"]


class ModelInfo(Frozen):
    """Identity and price of a model."""

    id: str
    tool: str
    """The tool that runs this model; several models may share one (the tool's ``model`` argument chooses)."""
    name: str
    creator: str
    task_type: str
    provider: str
    price_per_image: float
    """What one image costs at the default rendering speed, in USD."""
    prices: dict[Speed, float] | None = None
    """What one image costs at each rendering speed, when that differs."""
    price_source: str
    price_tier: str
    default_size: dict[str, int] | None = None
    """The size used when a call gives none; None when the model needs one or takes none."""
    stored_side: int = 2048
    """Runware keeps an input image at most this many pixels a side: a mask drawn for one is scaled alike."""
    stored_side_source: str = "[guess]"
    source: str
    """Where the model's facts come from, unless a parameter says otherwise."""

    @property
    def choice(self) -> str:
        """The name a tool's ``model`` argument gives it: its name in lower case, hyphenated (``ideogram-4.0``)."""
        return "-".join(self.name.lower().split())

    @property
    def version(self) -> str:
        """Its name without its creator's (``4.0``, ``3.0 Remix``): what "4.0 only" says."""
        return self.name.removeprefix(self.creator).strip()


_LABELS = ("[doc]", "[sdk]", "[guess]")


class ModelSpec(Frozen):
    """The whole spec of one model: the model, its sizes and its parameters."""

    model: ModelInfo
    sizes: tuple[Size, ...]
    parameters: dict[str, Parameter]
    refused: dict[str, str] = Field(default_factory=lambda: {})
    """Names agents send that the model does not take, each with why and what to send instead."""
    exactly_one: tuple[tuple[str, ...], ...] = ()
    """Groups of parameters of which a task gives exactly one (4.0: positivePrompt or structuredPrompt)."""

    @model_validator(mode="before")
    @classmethod
    def _name_parameters(cls, data: object) -> object:
        # In the file each parameter is keyed by its name; the model also carries it inside.
        if isinstance(data, dict):
            raw = cast(dict[str, Any], data)
            params = cast(dict[str, dict[str, Any]], raw.get("parameters") or {})
            return {**raw, "parameters": {name: {"name": name, **body} for name, body in params.items()}}
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems: list[str] = []
        pairs = [(s.width, s.height) for s in self.sizes]
        if len(set(pairs)) != len(pairs):
            problems.append("a size is listed twice")
        default = self.model.default_size
        if default is not None and self.size(default["width"], default["height"]) is None:
            problems.append("the default size is not a listed size")
        if ("width" in self.parameters) != bool(self.sizes):
            problems.append("a model takes width and height exactly when it lists sizes")
        wires = [p.wire for p in self.parameters.values()]
        if len(set(wires)) != len(wires):
            problems.append("two parameters share a wire path")
        for p in self.parameters.values():
            if p.default is not None and (why := p.violation(p.default)):
                problems.append(f"{p.name}: default {why}")
            for other in (p.paired_with, p.same_length_as, *(p.requires or {}), *p.excludes):
                if other is not None and other not in self.parameters:
                    problems.append(f"{p.name}: refers to unknown parameter {other}")
            unlabelled = [q for q in _nested(p) if not (q.source or p.source or self.model.source).startswith(_LABELS)]
            if unlabelled:
                problems.append(f"{unlabelled[0].name}: its source is not labelled {', '.join(_LABELS)}")
        for group in self.exactly_one:
            problems += [f"exactly_one: unknown parameter {name}" for name in group if name not in self.parameters]
        if not self.model.price_source.startswith(_LABELS):
            problems.append(f"the price source is not labelled {', '.join(_LABELS)}")
        if self.model.id not in (self.parameters["model"].values or {}):
            problems.append("the model id is not the model parameter's value")
        if problems:
            raise ValueError(f"the spec of {self.model.id} is inconsistent: " + "; ".join(problems))
        return self

    def price(self, values: Mapping[str, object]) -> float:
        """What one image costs with these values (the rendering speed may change it), in USD."""
        speed = self.effective(values, "renderingSpeed") if "renderingSpeed" in self.parameters else None
        if self.model.prices and isinstance(speed, str) and speed in self.model.prices:
            return self.model.prices[speed]
        return self.model.price_per_image

    def count(self, values: Mapping[str, object]) -> int:
        """How many images a call with these values makes."""
        count = values.get(
            "numberResults", self.parameters["numberResults"].default if "numberResults" in self.parameters else 1
        )
        return int(cast(int, count or 1))

    def quote(self, values: Mapping[str, object]) -> float:
        """What a call with these values costs before it runs, in USD."""
        return round(self.price(values) * self.count(values), 6)

    def cheaper(self, values: Mapping[str, object], within: float | None = None) -> str | None:
        """How a call with these values could cost less (``within``: at most that many dollars), as the words after
        "ask for": fewer images, a cheaper rendering speed, or both; None when no argument of it can."""
        count, price = self.count(values), self.price(values)
        speeds = self.model.prices if "renderingSpeed" in self.parameters and self.model.prices else {}
        usual = self.parameters["renderingSpeed"].default if speeds else None
        speed, least = min(speeds.items(), key=lambda item: (item[1], item[0] != usual), default=(None, price))

        def most(unit: float) -> int:  # images of this price the amount takes, fewer than asked for
            return count - 1 if within is None or unit <= 0 else min(count - 1, int((within + TOLERANCE) // unit))

        def images(n: int) -> str:
            return "fewer images" if within is None else f"at most {n} image{'s' if n != 1 else ''}"

        ways: list[str] = []
        if most(price) >= 1:
            ways.append(images(most(price)))
        if speed is not None and least < price - TOLERANCE:
            if within is None or least * count <= within + TOLERANCE:
                ways.append(f"renderingSpeed {speed} ({money(least)} an image)")
            elif not ways and most(least) >= 1:
                ways.append(f"{images(most(least))} at renderingSpeed {speed} ({money(least)} each)")
        return " or ".join(ways) or None

    @property
    def takes_size(self) -> bool:
        return bool(self.sizes)

    @functools.cached_property
    def _by_dimensions(self) -> dict[tuple[int, int], Size]:
        return {(s.width, s.height): s for s in self.sizes}

    def size(self, width: int, height: int) -> Size | None:
        """The listed size of these dimensions, or None."""
        return self._by_dimensions.get((width, height))

    @property
    def default_size(self) -> Size | None:
        """The size used when a call gives none, if the model has one."""
        default = self.model.default_size
        return self.size(default["width"], default["height"]) if default is not None else None

    @property
    def exposed(self) -> list[Parameter]:
        """The parameters agents set, in the spec's order."""
        return [p for p in self.parameters.values() if p.exposed]

    def effective(self, values: Mapping[str, object], name: str) -> object | None:
        """The value a parameter has in ``values``, falling back to its default."""
        return values[name] if name in values else self.parameters[name].default

    def cross_violations(self, values: Mapping[str, object], given: Collection[str] | None = None) -> list[Violation]:
        """Rules between parameters, for values keyed by parameter name; ``given`` names the parameters a call gave
        (some perhaps unreadable, so absent from ``values``), when it differs."""
        found: list[Violation] = []
        for group in self.exactly_one:
            there = [name for name in group if name in (values if given is None else given)]
            if len(there) > 1:
                found.append(Violation(tuple(there), f"give one of {' and '.join(there)}, not both"))
            elif not there:
                found.append(Violation(group, f"required: {' or '.join(group)}", "missing"))
        for p in self.parameters.values():
            present = p.name in values
            if p.paired_with and present and p.paired_with not in values and p.paired_with not in (given or ()):
                found.append(
                    Violation(
                        (p.name, p.paired_with),
                        f"{p.name} needs {p.paired_with}: they go together",
                        "missing",
                    )
                )
            if p.same_length_as and present:
                found.extend(self._same_length(p, values))
            for other, wanted in (p.requires or {}).items():
                if present and self.effective(values, other) != wanted:
                    found.append(Violation((p.name, other), f"{p.name} only applies when {other} is {wanted}"))
            for other in p.excludes:
                if present and other in values:
                    found.append(
                        Violation(
                            (p.name, other), f"{p.name} cannot be used together with {other}; leave one of them out"
                        )
                    )
        width, height = values.get("width"), values.get("height")
        if isinstance(width, int) and isinstance(height, int) and self.size(width, height) is None:
            found.append(Violation(("width", "height"), f"{width}x{height} is not a supported size"))
        return found

    def _same_length(self, p: Parameter, values: Mapping[str, object]) -> list[Violation]:
        assert p.same_length_as is not None
        mine, theirs = values[p.name], values.get(p.same_length_as)
        if theirs is None:
            return [Violation((p.name, p.same_length_as), f"{p.name} needs {p.same_length_as}", "missing")]
        if isinstance(mine, list) and isinstance(theirs, list) and len(mine) != len(theirs):  # pyright: ignore[reportUnknownArgumentType]
            return [
                Violation(
                    (p.name, p.same_length_as),
                    f"{p.name} has {len(mine)} items but {p.same_length_as} has {len(theirs)}"  # pyright: ignore[reportUnknownArgumentType]
                    "; give one per reference image, in the same order",
                )
            ]
        return []


def _nested(p: Parameter) -> Iterator[Parameter]:
    """A parameter and, for an object, every member inside it."""
    yield p
    for member in (p.properties or {}).values():
        yield from _nested(member)


SPEC_FILES = (
    "ideogram-3.0",
    "ideogram-3.0-remix",
    "ideogram-3.0-edit",
    "ideogram-3.0-reframe",
    "ideogram-3.0-replace-background",
    "ideogram-4.0",
    "ideogram-remove-background",
)
"""The spec files shipped with the package, one per model; the first naming a tool is that tool's default model."""
BASE_MODEL = "ideogram:4@1"


@functools.cache
def load_specs() -> dict[str, ModelSpec]:
    """Every model's spec by model id, parsed and checked once per process."""
    specs = [ModelSpec.model_validate(_raw(name)) for name in SPEC_FILES]
    choices = [(spec.model.tool, spec.model.choice) for spec in specs]
    if len(set(choices)) != len(choices):
        raise ValueError("two models of one tool have the same name: its model argument could not tell them apart")
    return {spec.model.id: spec for spec in specs}


def load_spec(model_id: str = BASE_MODEL) -> ModelSpec:
    """One model's spec (Ideogram 3.0 text to image unless another is named)."""
    return load_specs()[model_id]


def prompt_of(task: Mapping[str, Any]) -> str:
    """What a wire task asked for, in words: its text prompt, else its structured prompt's summary (Ideogram 4.0's
    high_level_description); "" when it has neither (a reframe)."""
    text = task.get("positivePrompt")
    if isinstance(text, str):
        return text
    spec = load_specs().get(str(task.get("model")))
    scene = spec.parameters.get("structuredPrompt") if spec is not None else None
    return (summary(scene, scene.lookup(task)) or "") if scene is not None else ""


def models_of(tool: str) -> tuple[ModelSpec, ...]:
    """The models a tool runs, its default first."""
    return tuple(spec for spec in load_specs().values() if spec.model.tool == tool)


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    """A spec file as TOML gives it, parsed once however many specs name it as their base."""
    return tomllib.loads(resources.files("ideogram_mcp").joinpath("specs", f"{name}.toml").read_text(encoding="utf-8"))


def _raw(name: str) -> dict[str, Any]:
    """A spec file's data, laid over its base spec's when it names one (the parsed files are left as they are)."""
    data = dict(_parsed(name))
    base_name = data.pop("base", None)
    if base_name is None:
        return data
    base = _raw(str(base_name))
    # ``drop`` names base parameters this model does not take, and ``model.<field>`` base model facts it lacks.
    dropped = set(cast(list[str], data.pop("drop", [])))
    inherited = {k: v for k, v in cast(dict[str, dict[str, Any]], base["parameters"]).items() if k not in dropped}
    changed = cast(dict[str, dict[str, Any]], data.pop("parameters", {}))
    # The model's own parameters (its image inputs) come first, as agents read a schema from the top.
    parameters = {k: v for k, v in changed.items() if k not in inherited}
    parameters |= {k: {**v, **changed.get(k, {})} for k, v in inherited.items()}
    model = {k: v for k, v in cast(dict[str, Any], base["model"]).items() if f"model.{k}" not in dropped}
    model |= cast(dict[str, Any], data.pop("model", {}))
    refused = cast(dict[str, str], base.get("refused", {})) | cast(dict[str, str], data.pop("refused", {}))
    return {"sizes": base.get("sizes", []), **data, "model": model, "parameters": parameters, "refused": refused}
