"""An object argument (Ideogram 4.0's ``structuredPrompt``) read as its spec says: forgiving where the meaning is plain
(the object sent as JSON text, ``highLevelDescription`` for ``high_level_description``, ``"object"`` for ``obj``,
``"#e8a13b"`` for ``#E8A13B``, ``100.0`` for 100), every problem named at its exact path with the fix, and the value
rebuilt in the spec's order of keys (the order it is sent in)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any, cast

from ideogram_mcp.arguments.names import either, snake
from ideogram_mcp.arguments.problems import Problem, label, show
from ideogram_mcp.arguments.values import coerce, unsendable, whole
from ideogram_mcp.specs import Parameter
from ideogram_mcp.specs.shapes import between, unknown


def read(p: Parameter, raw: Any) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The object an agent sent for ``p``, checked and in the spec's order of keys; or every problem found."""
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, [Problem(p.name, f"must be a JSON object; this text is not one ({exc.msg}).")]
        except (ValueError, RecursionError):  # nested too deep, or a number of 5,000 digits
            return None, [
                Problem(p.name, "must be a JSON object; this text nests too deep or holds a number too long to be one.")
            ]
        if (why := unsendable(raw)) is not None:  # a \ud800 escape in the text: checked once it is read
            return None, [Problem(p.name, why)]
    value, problems = _object(p, raw, p.name)
    return (value, []) if not problems else (None, problems)


def misplaced(p: Parameter, raw: Any) -> str | None:
    """Why a text prompt's value is a scene for ``p`` (a structured prompt) rather than text, else None: an object,
    or JSON text of one, with a key of the scene's. Sent as text, its JSON would be drawn as the image's words."""
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return None
    if not isinstance(raw, Mapping):
        return None
    keys = sorted({snake(str(key)) for key in cast(Mapping[Any, Any], raw)} & set(p.properties or {}))
    return f"holds a scene ({', '.join(keys)}), not text: give it as {p.name} instead" if keys else None


def _object(p: Parameter, raw: Any, path: str) -> tuple[dict[str, Any], list[Problem]]:
    members = p.properties or {}
    if not isinstance(raw, Mapping):
        return {}, [Problem(path, f"must be {p.rule()}; got {show(raw)}.")]
    problems: list[Problem] = []
    named: dict[str, Any] = {}
    for key, given in cast(Mapping[str, Any], raw).items():
        if given is None:
            continue  # JSON null means "not given", as agents use it
        name = key if key in members else next((m for m in members if m in (snake(key), key.lower())), None)
        if name is None:
            close = difflib.get_close_matches(snake(key)[:60], list(members), n=2, cutoff=0.6)
            hint = f" Did you mean {either(close)}?" if close else ""
            if inside := next((m for m, member in members.items() if snake(key) in (member.properties or {})), None):
                hint = f" It goes one level down, as {inside}.{snake(key)}."  # "elements" beside the description
            problems.append(Problem(f"{path}.{label(key)}", f"{unknown(p)}.{hint}"))
        elif name in named:
            problems.append(Problem(f"{path}.{name}", f"given twice, as {name} and as {label(key)}."))
        else:
            named[name] = given
    value: dict[str, Any] = {}
    for name, member in members.items():  # the spec's order is the order it is sent in
        if name in named and not _blank(member, named[name]):
            read, found = _member(member, named[name], f"{path}.{name}")
            if read != {} or found or member.required:
                value[name] = read
            problems += found
    problems += [Problem(where, f"{why.removesuffix('.')}.") for where, why in between(p, value, path)]
    return value, problems


def _blank(p: Parameter, raw: Any) -> bool:
    """Whether ``raw`` is a blank text, or an empty list, where it may be left out: not given, as Runware's own
    builder of this object leaves such fields out (an agent filling a template sends ``"lighting": ""``, a scene
    with no elements ``"elements": []``). An object left empty by that is not given either; a part always required
    is refused blank, and one required here (an obj's desc) is said to be missing."""
    if p.required:
        return False
    return (p.type == "string" and isinstance(raw, str) and not raw.strip()) or (p.type.endswith("[]") and raw == [])


def _member(p: Parameter, raw: Any, path: str) -> tuple[Any, list[Problem]]:
    if p.type == "object":
        return _object(p, raw, path)
    if p.type == "object[]":
        items: list[Any] = cast(list[Any], raw) if isinstance(raw, list) else [raw] if isinstance(raw, Mapping) else []
        if not items or (p.max_items is not None and len(items) > p.max_items):
            return items, [Problem(path, f"must be {p.rule()}; got {show(raw)}.")]
        read = [_object(p, item, f"{path}[{n}]") for n, item in enumerate(items)]
        return [value for value, _ in read], [problem for _, found in read for problem in found]
    if p.type == "box" and isinstance(raw, list):
        raw = [whole(side) for side in cast(list[Any], raw)]
    elif p.type == "string[]" and p.pattern is not None and isinstance(raw, str | list):
        raw = [_matching(p.pattern, item) for item in ([raw] if isinstance(raw, str) else cast(list[Any], raw))]
    value, problem = coerce(p, raw)
    return (raw, [Problem(path, problem)]) if problem else (value, [])


def _matching(pattern: str, item: Any) -> Any:
    """An item as the pattern wants it, when only its case differs (``#e8a13b`` for ``#E8A13B``)."""
    if isinstance(item, str) and not re.fullmatch(pattern, item):
        for form in (item.strip().upper(), item.strip().lower()):
            if re.fullmatch(pattern, form):
                return form
    return item
