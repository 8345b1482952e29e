"""What an agent sends to ``generate_image``, checked and turned into a Runware task.

Everything is checked before anything is sent. Each problem names the argument, says what is
allowed and, where there is one, the nearest valid choice. Forgiving where the meaning is
plain (``"watercolor"`` for ``WATERCOLOR``, ``prompt`` for ``positivePrompt``, ``"1024"`` for
1024); an error where it is not. Nothing sent is silently dropped, and no error repeats a long
input back.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from ideogram_mcp import files, sizes
from ideogram_mcp.errors import IdeogramError
from ideogram_mcp.specs import ModelSpec, Parameter, load_specs

ASPECT_RATIO = "aspectRatio"
FILE_NAME = "fileName"
OUTPUT_DIR = "outputDir"
PREVIEW = "preview"
DRY_RUN = "dryRun"
APPROVED_COST = "approvedCost"


@dataclass(frozen=True, slots=True)
class Option:
    """An argument the server acts on itself; it is never sent to Runware."""

    name: str
    schema: Mapping[str, Any]


OPTIONS: tuple[Option, ...] = (
    Option(
        FILE_NAME,
        {
            "type": "string",
            "maxLength": files.MAX_NAME,
            "description": "Base name for the saved files, e.g. 'sale-poster' (no folders); -1, -2 ... are added "
            "for several images.",
        },
    ),
    Option(
        OUTPUT_DIR,
        {
            "type": "string",
            "description": "Folder for the files, inside the allowed ones; a relative name goes inside the usual one.",
        },
    ),
    Option(
        PREVIEW,
        {
            "type": "boolean",
            "description": "Whether the result shows small previews (one contact sheet for 5 or more). Default: on.",
        },
    ),
    Option(
        DRY_RUN,
        {
            "type": "boolean",
            "description": "true: send and spend nothing; return the task that would be sent and its price.",
        },
    ),
    Option(
        APPROVED_COST,
        {
            "type": "number",
            "minimum": 0,
            "description": "Dollars the user agreed to in the chat, when a call was refused for want of their "
            "approval. Never set it without asking them.",
        },
    ),
)

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
    "approved": (APPROVED_COST,),
    "task_uuid": ("taskUUID",),
    "task_id": ("taskUUID",),
    "taskId": ("taskUUID",),
    "taskID": ("taskUUID",),
    "wait_seconds": ("wait",),
    "timeout": ("wait",),
    "status": ("state",),
}


def aliases_for(known: set[str]) -> dict[str, str]:
    """Every spelling that names one of ``known``: its snake_case and lower-case forms, and the table's aliases."""
    found = {_snake(name): name for name in known} | {name.lower(): name for name in known}
    for alias, meanings in ALIASES.items():
        meant = next((name for name in meanings if name in known), None)
        if meant is not None and alias not in known:
            found.setdefault(alias, meant)
            found.setdefault(alias.lower(), meant)
    return found


def canonical(arguments: Mapping[str, Any], known: set[str]) -> tuple[dict[str, Any], list[Problem]]:
    """A tool's arguments by their own names, however an agent spelt them, and the problems: unknown names (with the
    closest known ones) and a name given twice with different values. JSON null means not given."""
    aliases = aliases_for(known)
    named: dict[str, Any] = {}
    sources: dict[str, str] = {}
    unknown: list[str] = []
    problems: list[Problem] = []
    for given, value in arguments.items():
        if value is None:
            continue
        name = given if given in known else aliases.get(given) or aliases.get(given.lower())
        if name is None:
            unknown.append(given)
            continue
        if name in named and named[name] != value:
            problems.append(
                Problem(name, f"given twice, as {sources[name]} and as {label(given)}, with different values.")
            )
            continue
        named[name], sources[name] = value, label(given)
    return named, problems + _unknown(unknown, known, aliases)


# Names that sound like ours but have no single meaning, or that this model does not take.
_REFUSED = {
    "style": "it could mean styleType (broad approach: DESIGN, REALISTIC, ...) or stylePreset "
    "(a named aesthetic such as WATERCOLOR); use one of those",
    "seed": "this model takes no seed (only generate_image does); each result reports the seed it used",
    "size": "give width and height (e.g. width=1344, height=768) or aspectRatio (e.g. '16:9')",
    "steps": "Ideogram 3.0 takes no step count; use renderingSpeed (TURBO, DEFAULT, QUALITY)",
    "CFGScale": "Ideogram 3.0 takes no guidance scale",
    "guidance_scale": "Ideogram 3.0 takes no guidance scale",
}

_SIZES = {"width", "height", "size", ASPECT_RATIO, "aspect_ratio", "ratio"}
_SHOWN = 60
_LISTED = 12  # problems listed in one error; an agent fixes these first
_UPLOADED = "00000000-0000-4000-8000-000000000000"  # stands for the UUID a local file will be uploaded as
_DIMENSIONS = re.compile(r"\s*(\d+)\s*[x\u00d7*]\s*(\d+)\s*", re.IGNORECASE)
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the arguments, written for the model that sent them."""

    argument: str
    message: str


class InvalidArgumentsError(IdeogramError):
    """The arguments cannot be sent; ``problems`` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.text())

    def text(self, *, generating: bool = True) -> str:
        """The problems as an agent reads them; a generating tool says first that nothing was made or charged."""
        lines = [f"- {p.argument}: {p.message}" for p in self.problems[:_LISTED]]
        if len(self.problems) > _LISTED:
            lines.append(f"- and {len(self.problems) - _LISTED} more problems of the same kinds.")
        opening = "Nothing was generated and nothing was charged. " if generating else ""
        return f"{opening}Fix these arguments:\n" + "\n".join(lines)


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
) -> Generation:
    """Check an agent's arguments for a model; raise ``InvalidArgumentsError`` listing every problem.

    ``supplied`` names required parameters the tool fills in itself (a mask drawn from a region);
    ``own`` names arguments the tool reads itself, left out here (they are neither values nor unknown).
    """
    problems: list[Problem] = []
    named = _canonical_names(spec, {k: v for k, v in (arguments or {}).items() if k not in own}, problems)
    values: dict[str, Any] = {}
    local: list[LocalInput] = []
    options: dict[str, Any] = {}
    for name, raw in named.items():
        if name == ASPECT_RATIO:
            continue
        if name in _OPTION_NAMES:
            value, problem = _option(name, raw)
            if problem:
                problems.append(Problem(name, problem))
            else:
                options[name] = value
            continue
        p = spec.parameters[name]
        value, problem = _coerce(p, raw)
        if problem:
            problems.append(Problem(name, problem))
        elif value is not None:
            values[name] = value
            if p.format == "image" and isinstance(value, str):
                local += [LocalInput(name, None, value)] if files.looks_local(value) else []
            elif p.format == "image":
                local += [LocalInput(name, i, item) for i, item in enumerate(value) if files.looks_local(item)]
    if spec.takes_size:
        _resolve_size(spec, named, values, problems)
    for violation in spec.cross_violations(values):
        if violation.parameters == ("width", "height") and violation.kind == "invalid":
            continue  # an unlisted size: reported with suggestions by _resolve_size
        problems.append(Problem("/".join(violation.parameters), violation.message + "."))
    missing = [p for p in spec.exposed if p.required and p.name not in named and p.name not in supplied]
    for p in reversed(missing):
        if p.name not in ("width", "height"):  # a missing size is said by _resolve_size, with aspectRatio
            problems.insert(0, Problem(p.name, f"required: {_first_sentence(p.description)}"))
    if problems:
        raise InvalidArgumentsError(problems)
    shaped = not spec.takes_size or bool({"width", "height", ASPECT_RATIO} & set(named))
    return Generation(
        values,
        file_name=options.get(FILE_NAME),
        preview=options.get(PREVIEW),
        dry_run=bool(options.get(DRY_RUN)),
        local_inputs=tuple(local),
        shaped=shaped,
        output_dir=options.get(OUTPUT_DIR),
        approved_cost=options.get(APPROVED_COST),
    )


_OPTION_NAMES = {o.name for o in OPTIONS}


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _option(name: str, raw: Any) -> tuple[Any, str | None]:
    if name == FILE_NAME:
        if not isinstance(raw, str):
            return None, f"must be a file name (text); got {show(raw)}."
        clean, problem = files.check_file_name(raw)
        return (clean, None) if problem is None else (None, f"{problem}; got {show(raw)}.")
    if name == OUTPUT_DIR:
        if not isinstance(raw, str) or not raw.strip():
            return None, f"must be a folder path (text); got {show(raw)}."
        return raw.strip(), None
    if name == APPROVED_COST:
        amount = dollars(raw)
        if amount is None:
            return None, f"must be the dollars the user agreed to, a number such as 0.6; got {show(raw)}."
        return amount, None
    value = _boolean(raw)
    return (value, None) if isinstance(value, bool) else (None, f"must be true or false; got {show(raw)}.")


def _canonical_names(spec: ModelSpec, arguments: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    exposed = {p.name for p in spec.exposed} | ({ASPECT_RATIO} if spec.takes_size else set[str]()) | _OPTION_NAMES
    owned = {p.name for p in spec.parameters.values() if not p.exposed}
    known = exposed | owned
    aliases = aliases_for(known)
    named: dict[str, Any] = {}
    sources: dict[str, str] = {}
    unknown: list[str] = []
    for given, value in arguments.items():
        if value is None:
            continue  # JSON null means "not given", as agents use it
        if given in exposed:
            name = given
        elif given == "size" and isinstance(value, str) and (match := _DIMENSIONS.fullmatch(value)):
            for name, number in zip(("width", "height"), match.groups(), strict=True):
                named[name], sources[name] = int(number), given
            continue
        elif not spec.takes_size and given in _SIZES:
            problems.append(Problem(given, "not accepted: this model keeps the source image's size."))
            continue
        elif given in _REFUSED:
            problems.append(Problem(given, f"not accepted: {_REFUSED[given]}."))
            continue
        elif (owned := _owned(spec, given, aliases)) is not None:
            problems.append(Problem(given, f"set by the server, not by callers. {owned}"))
            continue
        elif (name := aliases.get(given) or aliases.get(given.lower())) is None:
            other = (ALIASES.get(given) or ALIASES.get(given.lower()) or (given,))[0]
            if other in _family_parameters():
                problems.append(Problem(given, f"not accepted: this model takes no {other}."))
            else:
                unknown.append(given)
            continue
        if name in named and named[name] != value:
            problems.append(Problem(name, f"given twice, as {sources[name]} and as {given}, with different values."))
            continue
        named[name], sources[name] = value, given
    problems += _unknown(unknown, exposed, aliases)
    return named


@functools.cache
def _family_parameters() -> frozenset[str]:
    """What any model of the family takes, so that one it does not take is named as such, not as unknown."""
    return frozenset(name for spec in load_specs().values() for name in spec.parameters)


def _owned(spec: ModelSpec, given: str, aliases: Mapping[str, str]) -> str | None:
    """Why the server sets this argument itself, when it (or its alias) names a server-owned parameter."""
    name = given if given in spec.parameters else aliases.get(given) or aliases.get(given.lower()) or given
    p = spec.parameters.get(name)
    return p.owned if p is not None and not p.exposed else None


def _unknown(names: list[str], exposed: set[str], aliases: Mapping[str, str]) -> list[Problem]:
    """One problem per unknown name (the first few), each with the closest known names; the known ones listed once."""
    pool = {name.lower(): name for name in exposed} | {alias.lower(): name for alias, name in aliases.items()}
    problems: list[Problem] = []
    for given in names[:_LISTED]:
        close = difflib.get_close_matches(given.lower()[:_SHOWN], list(pool), n=5, cutoff=0.6)
        suggestions = list(dict.fromkeys(pool[c] for c in close))[:3]
        hint = f" Did you mean {_either(suggestions)}?" if suggestions else ""
        problems.append(Problem(label(given), f"unknown argument.{hint}"))
    if names:
        more = f" ({len(names)} unknown in all)" if len(names) > _LISTED else ""
        last = problems[-1]
        takes = f"Known arguments: {', '.join(sorted(exposed))}." if exposed else "This tool takes no arguments."
        problems[-1] = Problem(last.argument, f"{last.message}{more} {takes}")
    return problems


def label(name: str) -> str:
    """An argument's name as an error shows it: printable, and short."""
    shown = "".join(c if c.isprintable() else "?" for c in name)
    return shown if len(shown) <= 40 else shown[:30] + "…"


def _coerce(p: Parameter, raw: Any) -> tuple[Any, str | None]:
    """The value in the spec's type, leniently read, or why it cannot be."""
    value: Any = raw
    if p.type == "integer":
        value = whole(raw)
    elif p.type == "boolean":
        value = _boolean(raw)
    elif p.type == "string[]" and isinstance(raw, str):
        value = [raw]  # one image where a list is expected
    elif p.type == "string" and isinstance(raw, str) and p.values is not None:
        value, problem = _choice(p, raw)
        if problem:
            return None, problem
    if p.type == "string" and isinstance(value, str) and p.values is None and p.name.endswith("Prompt"):
        value = value.strip()
    checked: object = value
    if p.format == "image" and isinstance(checked, str) and checked and files.looks_local(checked):
        checked = _UPLOADED
    elif p.format == "image" and isinstance(checked, list):
        # Checked as it will be sent: each local file is uploaded first and sent as its image UUID.
        items = cast(list[object], checked)
        checked = [_UPLOADED if isinstance(i, str) and i and files.looks_local(i) else i for i in items]
    why = p.violation(checked)
    if why is None:
        return value, None
    if "; it has " in why:  # a length or a count: the figure says enough, the text is not repeated
        return None, f"{why}."
    return None, f"{why}; got {show(raw)}."


def boolean(raw: Any) -> Any:
    """A boolean however it came (true, "true", "yes", "off" ...); anything else as it is, for the caller to refuse."""
    return _boolean(raw)


def number(raw: Any) -> Any:
    """A number however it came (10, 2.5, "10"); anything else as it is, for the caller to refuse."""
    if isinstance(raw, str) and re.fullmatch(r"\s*\d{1,9}(\.\d{1,9})?\s*", raw):
        return float(raw)
    return raw


def _boolean(raw: Any) -> Any:
    if isinstance(raw, str):
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else raw
    return raw


def dollars(raw: Any) -> float | None:
    """An amount of money however it came (0.6, "0.6", "$0.60"), or None when it is none (negative, not finite)."""
    if isinstance(raw, str):
        raw = raw.strip().removeprefix("$").strip()
        if not re.fullmatch(r"\d{1,9}(\.\d{0,9})?|\.\d{1,9}", raw):
            return None
        raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        amount = float(raw)
    except OverflowError:
        return None
    return amount if math.isfinite(amount) and amount >= 0 else None


def whole(raw: Any) -> Any:
    """A whole number however it came (3, 3.0, \"3\"); anything else as it is, for the caller to refuse."""
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", raw):  # longer is no count or size
        return int(raw)
    return raw


def _normal(text: str) -> str:
    return re.sub(r"[\s\-_]+", "_", text.strip()).upper()


def _choice(p: Parameter, raw: str) -> tuple[str | None, str | None]:
    assert p.values is not None
    allowed = list(p.values)
    if raw in p.values:
        return raw, None
    wanted = _normal(raw)
    synonym = {_normal(k): v for k, v in (p.synonyms or {}).items()}.get(wanted)
    if synonym is not None:
        return synonym, None
    exact = [v for v in allowed if _normal(v) == wanted]
    if len(exact) == 1:
        return exact[0], None
    starting = [v for v in allowed if _normal(v).startswith(wanted)] if len(wanted) >= 3 else []
    if len(starting) == 1:
        return starting[0], None
    close = starting or difflib.get_close_matches(wanted, allowed, n=3, cutoff=0.5)
    hint = f" Closest: {_either(close)}." if close else ""
    if len(allowed) <= 12:
        return None, f"{show(raw)} is not allowed.{hint} Allowed: {', '.join(allowed)}."
    return (
        None,
        f"{show(raw)} is not one of the {len(allowed)} allowed values.{hint} Call list_style_presets for all.",
    )


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
            problems.append(
                Problem(
                    ASPECT_RATIO,
                    f"expected a ratio like '16:9' or '1.5'; got {show(ratio)}. Listed: {listed}.",
                )
            )
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
        problems.append(
            Problem(
                "width/height",
                f"{width}x{height} is not a supported size. Nearest supported: {options}. "
                f"Or pass aspectRatio (e.g. '16:9') instead; call list_sizes for all {len(spec.sizes)}.",
            )
        )


def _fits(spec: ModelSpec, values: Mapping[str, Any], ratio: Any) -> bool:
    size = spec.size(values["width"], values["height"])
    return size is not None and isinstance(ratio, str) and sizes.for_ratio(spec.sizes, ratio) == size


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _either(options: list[str]) -> str:
    return " or ".join(options)


def show(value: Any) -> str:
    """A short excerpt of what was sent, never the whole of it."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN:
        return f"a {len(str(abs(value))) if abs(value) < 10**4000 else 'more than 4000'}-digit number"
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 15]}… ({len(text)} chars)"
