"""The emulator's own reading of Runware's rules for the Ideogram 3.0 family and Ideogram 4.0.

Written from Runware's model page and the notes (``../shared/seed``, ``../shared/notes``), not from
the server's specs: the server builds tasks from its specs, and the emulator checks them against
this, so a misreading on either side shows up as a refusal. Where the two readings must agree,
``tests/emulator/test_rules.py`` says so, fact by fact. Labels as in the notes: [doc] the model
page or the API reference, [sdk] Runware's SDK types, [guess] an inference.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from ideogram_mcp.emulator import scenes

# [doc] The model page's table of 1K sizes, in its order.
_SIZES_ON_THE_PAGE = """
    1536x512 1536x576 1472x576 1408x576 1536x640 1472x640 1408x640 1344x640 1472x704 1408x704 1344x704 1280x704
    1312x736 1344x768 1216x704 1280x768 1152x704 1280x800 1216x768 1248x832 1216x832 1088x768 1152x832 1152x864
    1088x832 1152x896 1120x896 1024x832 1088x896 960x832 1024x896 1088x960 960x896 1024x960 1024x1024 960x1024
    896x960 960x1088 896x1024 832x960 896x1088 832x1024 896x1120 896x1152 832x1088 864x1152 832x1152 768x1088
    832x1216 832x1248 768x1216 800x1280 704x1152 768x1280 704x1216 768x1344 736x1312 704x1280 704x1344 704x1408
    704x1472 640x1344 640x1408 640x1472 640x1536 576x1408 576x1472 576x1536 512x1536
"""
SIZES: tuple[tuple[int, int], ...] = tuple(
    (int(w), int(h)) for w, h in (pair.split("x") for pair in _SIZES_ON_THE_PAGE.split())
)

# [doc] The model page's allowed values of providerSettings.ideogram.stylePreset.
_PRESETS_ON_THE_PAGE = """
    80S_ILLUSTRATION 90S_NOSTALGIA ABSTRACT_ORGANIC ANALOG_NOSTALGIA ART_BRUT ART_DECO ART_POSTER AURA AVANT_GARDE
    BAUHAUS BLUEPRINT BLURRY_MOTION BRIGHT_ART C4D_CARTOON CHILDRENS_BOOK COLLAGE COLORING_BOOK_I COLORING_BOOK_II
    CUBISM DARK_AURA DOODLE DOUBLE_EXPOSURE DRAMATIC_CINEMA EDITORIAL EMOTIONAL_MINIMAL ETHEREAL_PARTY EXPIRED_FILM
    FLAT_ART FLAT_VECTOR FOREST_REVERIE GEO_MINIMALIST GLASS_PRISM GOLDEN_HOUR GRAFFITI_I GRAFFITI_II
    HALFTONE_PRINT HIGH_CONTRAST HIPPIE_ERA ICONIC JAPANDI_FUSION JAZZY LONG_EXPOSURE MAGAZINE_EDITORIAL
    MINIMAL_ILLUSTRATION MIXED_MEDIA MONOCHROME NIGHTLIFE OIL_PAINTING OLD_CARTOONS PAINT_GESTURE POP_ART
    RETRO_ETCHING RIVIERA_POP SPOTLIGHT_80S STYLIZED_RED SURREAL_COLLAGE TRAVEL_POSTER VINTAGE_GEO VINTAGE_POSTER
    WATERCOLOR WEIRD WOODBLOCK_PRINT
"""
STYLE_PRESETS = frozenset(_PRESETS_ON_THE_PAGE.split())

# [doc] The Ideogram 4.0 page's table of 2K sizes, its three columns read down.
_SIZES_4_ON_THE_PAGE = """
    2048x2048 1440x2880 2880x1440 1664x2496 2496x1664 1792x2240 2240x1792
    1600x2560 2560x1600 1728x2304 2304x1728 1296x3168 3168x1296 1440x2560
    1152x2944 2944x1152 1248x3328 3328x1248 1280x3072 3072x1280 2560x1440
"""
SIZES_4: tuple[tuple[int, int], ...] = tuple(
    (int(w), int(h)) for w, h in (pair.split("x") for pair in _SIZES_4_ON_THE_PAGE.split())
)

Kind = Literal["text", "integer", "boolean", "choice", "image", "images", "url", "uuid", "style code", "scene"]


@dataclass(frozen=True)
class Rule:
    """What Runware takes at one place of a task."""

    kind: Kind
    low: int | None = None
    """Smallest value, length or count."""
    high: int | None = None
    """Largest value, length or count."""
    choices: frozenset[str] = field(default_factory=frozenset[str])
    any_case: bool = False
    required: bool = False

    def broken(self, value: object) -> str | None:
        """Why ``value`` breaks this rule, in the emulator's words, or None."""
        size = -1  # a number, a length or a count, when the kind has one
        match self.kind:
            case "boolean":
                return None if isinstance(value, bool) else "must be true or false"
            case "integer":
                if not isinstance(value, int) or isinstance(value, bool):
                    return "must be an integer"
                size = value
            case "text":
                if not isinstance(value, str):
                    return "must be a string"
                size = len(value)
            case "choice":
                if not isinstance(value, str):
                    return "must be a string"
                known = value.upper() in {c.upper() for c in self.choices} if self.any_case else value in self.choices
                return None if known else f"must be one of {', '.join(sorted(self.choices))}"
            case "url":
                return None if isinstance(value, str) and _web(value) else "must be an http(s) URL"
            case "uuid":
                return None if isinstance(value, str) and _uuid(value) else "must be a UUID"
            case "style code":
                hexadecimal = isinstance(value, str) and re.fullmatch(r"[0-9A-Fa-f]{8}", value)
                return None if hexadecimal else "must be 8 hex digits"
            case "scene":
                found = scenes.broken(value)
                return None if found is None else f"{found[0]} {found[1]}".strip()
            case "image":
                return None if _image(value) else "must be an image URL, data URI, base64 data or image UUID"
            case "images":
                if not isinstance(value, list) or not all(_image(v) for v in cast(list[object], value)):
                    return "must be a list of image URLs, data URIs, base64 data or image UUIDs"
                size = len(cast(list[object], value))
        if self.low is not None and size < self.low:
            return f"must be at least {self.low}"
        if self.high is not None and size > self.high:
            return f"must be at most {self.high}"
        return None


def _choice(*values: str, any_case: bool = False) -> Rule:
    return Rule("choice", choices=frozenset(values), any_case=any_case)


_IDEOGRAM = "providerSettings.ideogram."
_SETTINGS = "settings."

# [doc] The model page's request parameters that every model takes (4.0's page names the same output options).
_TOP: dict[str, Rule] = {
    "taskType": Rule("choice", choices=frozenset({"imageInference"}), required=True),
    "taskUUID": Rule("uuid", required=True),
    "model": Rule("text", required=True),
    "numberResults": Rule("integer", 1, 20),
    "outputType": _choice("URL", "base64Data", "dataURI"),
    "outputFormat": _choice("JPG", "PNG", "WEBP", any_case=True),
    "outputQuality": Rule("integer", 20, 99),
    "safety.checkContent": Rule("boolean"),
    "safety.mode": _choice("none", "fast"),
    "includeCost": Rule("boolean"),
    "ttl": Rule("integer", 60),
    "webhookURL": Rule("url"),
    "uploadEndpoint": Rule("url"),
    "deliveryMethod": _choice("sync", "async"),
}
# [doc] The 3.0 model pages: the settings every model of the family takes, under providerSettings.ideogram.
_COMMON: dict[str, Rule] = _TOP | {
    _IDEOGRAM + "styleType": _choice("AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME", "FICTION"),
    _IDEOGRAM + "stylePreset": Rule("choice", choices=STYLE_PRESETS),
    _IDEOGRAM + "magicPrompt": _choice("AUTO", "ON", "OFF"),
    _IDEOGRAM + "renderingSpeed": _choice("TURBO", "DEFAULT", "QUALITY"),
    _IDEOGRAM + "styleReferenceImages": Rule("images", 1, 4),  # [doc] the family's model pages: one to four
}
_PROMPT = {"positivePrompt": Rule("text", 1, 2000, required=True)}
_NEGATIVE = {"negativePrompt": Rule("text", 1, 2000)}
_SIZE = {"width": Rule("integer", required=True), "height": Rule("integer", required=True)}
_CHARACTER = {
    _IDEOGRAM + "characterReferenceImages": Rule("images", 1, 1),  # [doc] the API reference: at most one
    _IDEOGRAM + "characterReferenceImagesMask": Rule("images"),
}
_STYLE_CODE = {_IDEOGRAM + "styleCode": Rule("style code")}  # [doc] the provider page
_SOURCE = {"inputs.seedImage": Rule("image", required=True)}  # [doc] Reframe; [guess] Edit, Replace Background
_MASK = {"inputs.maskImage": Rule("image", required=True)}  # [guess] beside seedImage, as Reframe's inputs
# [doc] the provider page: remixStrength 1 to 100; [guess] the source under inputs.referenceImages
_REMIX = {
    "inputs.referenceImages": Rule("images", 1, 1, required=True),
    _IDEOGRAM + "remixStrength": Rule("integer", 1, 100),
}

# Ideogram 4.0: [doc] positivePrompt or settings.structuredPrompt, exactly one (``_between``), sizes optional but
# paired; [sdk] nothing under providerSettings, its settings under settings (Runware's ComfyUI nodes: renderingSpeed,
# magicPrompt); no seed, no negative prompt, no 3.0 style controls. [guess] no length cap on its prompt was read.
_FOUR = _TOP | {
    "positivePrompt": Rule("text", 1),
    _SETTINGS + "structuredPrompt": Rule("scene"),
    "width": Rule("integer"),
    "height": Rule("integer"),
    _SETTINGS + "magicPrompt": _choice("AUTO", "ON", "OFF"),
    _SETTINGS + "renderingSpeed": _choice("TURBO", "DEFAULT", "QUALITY"),
}

# Background removal: [doc] taskType removeBackground, the image under inputs.image, PNG out; [sdk] the output and
# delivery options, ttl among them, no numberResults (one image a request), no safety; outputQuality, which [sdk]
# declares too, is left out as the spec leaves it: a PNG has no quality setting.
CUTOUT = "removeBackground"
_CUTOUT = {
    k: v for k, v in _TOP.items() if k not in ("numberResults", "safety.checkContent", "safety.mode", "outputQuality")
} | {
    "taskType": Rule("choice", choices=frozenset({CUTOUT}), required=True),
    "inputs.image": Rule("image", required=True),
}

MODELS: dict[str, dict[str, Rule]] = {
    "ideogram:4@1": _COMMON | _PROMPT | _NEGATIVE | _SIZE | _CHARACTER | {"seed": Rule("integer", 1, 2147483647)},
    "ideogram:4@2": _COMMON | _PROMPT | _NEGATIVE | _SIZE | _CHARACTER | _STYLE_CODE | _REMIX,
    "ideogram:4@3": _COMMON | _PROMPT | _CHARACTER | _STYLE_CODE | _SOURCE | _MASK,
    "ideogram:4@4": _COMMON | _SIZE | _STYLE_CODE | _SOURCE,
    "ideogram:4@5": _COMMON | _PROMPT | _STYLE_CODE | _SOURCE,
    "ideogram:4@0": _FOUR,
    "ideogram:remove-background@0": _CUTOUT,
}
"""Every place of a task each model takes, by its dotted path on the wire."""

SIZES_OF = {"ideogram:4@0": SIZES_4}
"""The sizes of the models whose sizes are not the 3.0 table."""
UNSIZED = {"ideogram:4@0": (2048, 2048)}
"""[guess] The size a model that may be asked for none makes then (Ideogram's own API picks one; 1:1 here)."""
SCENES = {"ideogram:4@0": _SETTINGS + "structuredPrompt"}
"""[sdk] The models that answer with the structured prompt they ran (``structuredPrompt`` in each result), and where
a task sends one."""

REMIX_STRENGTH = _IDEOGRAM + "remixStrength"

_BY_SPEED = {"TURBO": 0.06, "DEFAULT": 0.06, "QUALITY": 0.09}
# [doc] 4@1: $0.06 per 1K image (its examples, all at the default speed, cost 0.06); 4@4: 0.09 in every QUALITY
# example. [guess] the rest, the family notes': Ideogram's per-speed prices, which both known points match; for
# TURBO the 0.06 the server quotes, the one price 4@1's page gives, rather than Ideogram's own 0.03 (quoted high
# rather than low, so that spend limits hold). [doc] 4@0: its page's three prices, the same for every size.
PRICES: dict[str, dict[str, float]] = {
    **{f"ideogram:4@{n}": _BY_SPEED for n in (1, 2, 3, 4, 5)},
    "ideogram:4@0": {"TURBO": 0.03, "DEFAULT": 0.06, "QUALITY": 0.10},
    "ideogram:remove-background@0": {"DEFAULT": 0.01},  # [doc] $0.01 a request; it has no speeds
}


def price(model: str, values: Mapping[str, Any]) -> float:
    """What Runware charges for one image of this task."""
    speed = values.get(_IDEOGRAM + "renderingSpeed", values.get(_SETTINGS + "renderingSpeed", "DEFAULT"))
    return PRICES[model][str(speed)]


@dataclass(frozen=True)
class Refusal:
    """Why Runware would refuse a task: its error code, a message, and the parameter(s) at fault."""

    code: str
    message: str
    parameter: str | list[str]


def check(model: str, task: Mapping[str, Any]) -> tuple[dict[str, Any], Refusal | None]:
    """The task's values by dotted path, and the first refusal Runware would give (None when it takes it)."""
    rules = MODELS[model]
    values = _flatten(task, {path for path, rule in rules.items() if rule.kind == "scene"})
    for path in values:
        if path not in rules:
            return values, Refusal("unsupportedParameter", f"Unsupported parameter for this model: {path}.", path)
    for path, rule in rules.items():
        if path not in values:
            if rule.required:
                return values, Refusal("missingParameter", f"Missing required parameter: {path}.", path)
            continue
        if rule.kind == "scene" and (found := scenes.broken(values[path])):
            where = path + found[0]
            return values, Refusal("invalidParameter", f"Invalid value for {where}: {found[1]}.", where)
        if why := rule.broken(values[path]):
            code = "invalidPositivePrompt" if path == "positivePrompt" else "invalidParameter"
            return values, Refusal(code, f"Invalid value for {path}: {why}.", path)
    return values, _between(model, values)


def _between(model: str, values: Mapping[str, Any]) -> Refusal | None:
    """Rules that tie parameters together."""
    has = values.__contains__
    if has("width") != has("height"):
        return Refusal("invalidParameter", "width and height go together.", ["width", "height"])
    if "width" in values and (values["width"], values["height"]) not in SIZES_OF.get(model, SIZES):
        return Refusal("invalidParameter", "width and height must be one of the listed sizes.", ["width", "height"])
    if model in SCENES:  # [doc] 4.0: a text prompt or a structured prompt, exactly one
        forms = ["positivePrompt", SCENES[model]]
        if all(has(form) for form in forms):
            return Refusal("invalidParameter", "Send positivePrompt or settings.structuredPrompt, not both.", forms)
        if not any(has(form) for form in forms):
            return Refusal("missingParameter", "Missing required parameter: positivePrompt or structuredPrompt.", forms)
    mask, references = _IDEOGRAM + "characterReferenceImagesMask", _IDEOGRAM + "characterReferenceImages"
    if has(mask) and (not has(references) or len(values[mask]) != len(values[references])):
        message = "characterReferenceImagesMask needs one mask per character reference image."
        return Refusal("invalidParameter", message, [mask, references])
    if has("ttl") and values.get("outputType", "URL") != "URL":  # [doc] ttl is for URL output only
        return Refusal("invalidParameter", "ttl only applies to outputType URL.", ["ttl", "outputType"])
    code = _IDEOGRAM + "styleCode"
    for other in (_IDEOGRAM + "styleType", _IDEOGRAM + "styleReferenceImages"):
        if has(code) and has(other):
            return Refusal("invalidParameter", f"styleCode cannot be combined with {other}.", [code, other])
    return None


def _flatten(node: Mapping[str, Any], whole: set[str], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``: every leaf by its dotted path (lists are leaves, and so are the objects
    at the paths in ``whole``: a structured prompt)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping) and value and f"{prefix}{key}" not in whole:
            flat |= _flatten(cast(Mapping[str, Any], value), whole, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _image(value: object) -> bool:
    """An image reference as Runware takes it: an http(s) URL, a data URI, base64 data or an image UUID."""
    if not isinstance(value, str) or not value:
        return False
    if value.startswith("data:image/") or _uuid(value):
        return True
    if value.startswith(("http://", "https://")):
        return _web(value)
    return re.fullmatch(r"[A-Za-z0-9+/=\s]{16,}", value) is not None


def _web(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[" : not a URL at all
        return False
