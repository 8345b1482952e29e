"""The emulator's own reading of Ideogram 4.0's structured prompt (``settings.structuredPrompt``): what Runware would
refuse in one, and the one Magic Prompt would write from a text prompt (4.0 answers with the structured prompt it
ran).

Written from the notes (``../shared/notes/ideogram-4.md``), not from the server's spec: [doc] the guide says the keys
are a fixed set; [sdk] Runware's ComfyUI builder gives the fields (high_level_description required, an obj element
needs its desc, a text element its text or desc, bbox [y_min, x_min, y_max, x_max] from 0 to 1000, photo or
art_style); [guess] Ideogram's docs give the palettes' limits (16 colours, 5 per element).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from ideogram_mcp.emulator.artwork import quoted_text

_KEYS = ("high_level_description", "style_description", "compositional_deconstruction")
_STYLE = ("aesthetics", "lighting", "photo", "art_style", "medium", "color_palette")
_COMPOSITION = ("background", "elements")
_ELEMENT = ("type", "desc", "text", "bbox", "color_palette")
_HEX = re.compile(r"#[0-9A-Fa-f]{6}")  # [sdk] C: hex; the case is not said

Broken = tuple[str, str] | None
"""Where in the structured prompt (``.compositional_deconstruction.elements[0].bbox``) Runware would refuse, and why."""


def broken(scene: object) -> Broken:
    """The first place of a structured prompt Runware would refuse, and why; None when it takes it."""
    if not isinstance(scene, Mapping):
        return "", "must be an object"
    fields = cast(Mapping[str, Any], scene)
    summary = fields.get("high_level_description")
    if not isinstance(summary, str) or not summary.strip():
        return ".high_level_description", "is required, a non-empty string"
    return (
        _keys("", fields, _KEYS)
        or _style(fields.get("style_description"))
        or _composition(fields.get("compositional_deconstruction"))
    )


def _keys(path: str, fields: Mapping[str, Any], known: tuple[str, ...]) -> Broken:
    extra = next((key for key in fields if key not in known), None)
    return (f"{path}.{extra}", f"is not one of the keys {', '.join(known)}") if extra is not None else None


def _strings(path: str, fields: Mapping[str, Any], names: tuple[str, ...]) -> Broken:
    wrong = next((name for name in names if name in fields and not isinstance(fields[name], str)), None)
    return (f"{path}.{wrong}", "must be a string") if wrong is not None else None


def _palette(path: str, value: object, most: int) -> Broken:
    if not isinstance(value, list):
        return path, "must be a list of hex colours"
    colours = cast(list[object], value)
    if len(colours) > most:
        return path, f"must hold at most {most} colours"
    if not all(isinstance(c, str) and _HEX.fullmatch(c) for c in colours):
        return path, "must hold hex colours #RRGGBB"
    return None


def _style(style: object) -> Broken:
    path = ".style_description"
    if style is None:
        return None
    if not isinstance(style, Mapping):
        return path, "must be an object"
    fields = cast(Mapping[str, Any], style)
    if "photo" in fields and "art_style" in fields:
        return path, "takes photo or art_style, not both"
    return (
        _keys(path, fields, _STYLE)
        or _strings(path, fields, _STYLE[:-1])
        or (_palette(f"{path}.color_palette", fields["color_palette"], 16) if "color_palette" in fields else None)
    )


def _composition(composition: object) -> Broken:
    path = ".compositional_deconstruction"
    if composition is None:
        return None
    if not isinstance(composition, Mapping):
        return path, "must be an object"
    fields = cast(Mapping[str, Any], composition)
    if found := _keys(path, fields, _COMPOSITION) or _strings(path, fields, ("background",)):
        return found
    elements = fields.get("elements", [])
    if not isinstance(elements, list):
        return f"{path}.elements", "must be a list"
    for n, element in enumerate(cast(list[object], elements)):
        if found := _element(f"{path}.elements[{n}]", element):
            return found
    return None


def _element(path: str, element: object) -> Broken:
    if not isinstance(element, Mapping):
        return path, "must be an object"
    fields = cast(Mapping[str, Any], element)
    if found := _keys(path, fields, _ELEMENT) or _strings(path, fields, ("type", "desc", "text")):
        return found
    kind = fields.get("type")
    if kind not in ("obj", "text"):
        return f"{path}.type", "must be obj or text"
    if kind == "obj" and not fields.get("desc"):
        return f"{path}.desc", "is required for an obj element"
    if kind == "obj" and "text" in fields:
        return f"{path}.text", "is for text elements only"
    if kind == "text" and not (fields.get("text") or fields.get("desc")):
        return path, "a text element needs its text or its desc"
    if "bbox" in fields and (why := _box(fields["bbox"])):
        return f"{path}.bbox", why
    if "color_palette" in fields:
        return _palette(f"{path}.color_palette", fields["color_palette"], 5)
    return None


def _box(value: object) -> str | None:
    sides = cast(list[object], value) if isinstance(value, list) else []
    if len(sides) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000 for v in sides):
        return "must be four integers [y_min, x_min, y_max, x_max] from 0 to 1000"
    y_min, x_min, y_max, x_max = cast(list[int], sides)
    return None if y_min < y_max and x_min < x_max else "must have each min below its max"


def from_text(prompt: str) -> dict[str, Any]:
    """A structured prompt as Magic Prompt might write it from a text prompt: the prompt as its summary, each quoted
    phrase a text element, one under the other in the upper part, and the rest of the prompt one object below."""
    phrases = quoted_text(prompt)[:4]
    elements: list[dict[str, Any]] = []
    for n, phrase in enumerate(phrases):
        top = 80 + n * 140
        elements.append(
            {"type": "text", "text": phrase, "desc": "bold lettering, centred", "bbox": [top, 100, top + 120, 900]}
        )
    subject = " ".join(re.sub(r"\"[^\"]*\"|“[^”]*”", " ", prompt).split()) or "the subject"
    elements.append({"type": "obj", "desc": subject[:200], "bbox": [max(640, 80 + 140 * len(phrases)), 150, 960, 850]})
    return {
        "high_level_description": prompt,
        "compositional_deconstruction": {"background": "a soft gradient", "elements": elements},
    }
