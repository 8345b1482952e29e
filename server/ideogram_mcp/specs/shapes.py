"""The rules of a parameter that is an object (Ideogram 4.0's structured prompt): each member a ``Parameter`` checked
by its own rule, unknown keys refused, and the rules between the members of one object (required ones, one needed
when another has a value, one only allowed with another's value, two that exclude each other). Every problem is
found, each at its path inside the value (``structuredPrompt.compositional_deconstruction.elements[1].bbox``).

These are the strict rules, as Runware's are read; ``arguments`` reads what an agent sends leniently first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ideogram_mcp.text import quoted

if TYPE_CHECKING:  # the parameter's own module calls these: a type only, not an import
    from ideogram_mcp.specs.parameter import Parameter

Found = list[tuple[str, str]]
"""Problems as (path inside the value, what is wrong and the fix)."""


def member_problems(p: Parameter, value: object, path: str) -> Found:
    """Every problem of ``value`` as the value of ``p`` found at ``path``."""
    if p.type == "object":
        return object_problems(p, value, path)
    if p.type == "object[]":
        if not isinstance(value, list):
            return [(path, f"must be {p.rule()}")]
        items = cast(list[object], value)
        if p.max_items is not None and len(items) > p.max_items:
            return [(path, f"must be {p.rule()}; it has {len(items)}")]
        found: Found = []
        for n, item in enumerate(items):
            found += object_problems(p, item, f"{path}[{n}]")
        return found
    why = p.violation(value)
    return [(path, why)] if why else []


def object_problems(p: Parameter, value: object, path: str) -> Found:
    """Every problem of one object: unknown keys, each member's value, and the rules between members."""
    if not isinstance(value, Mapping):
        return [(path, f"must be an object with the keys {', '.join(p.properties or {})}")]
    fields = cast(Mapping[str, Any], value)
    members = p.properties or {}
    found: Found = [(f"{path}.{key}", unknown(p)) for key in fields if key not in members]
    for name, member in members.items():
        if name in fields:
            found += member_problems(member, fields[name], f"{path}.{name}")
    return found + between(p, fields, path)


def unknown(p: Parameter) -> str:
    """What is said of a key an object does not take: its keys are a fixed set."""
    return f"unknown key; the keys here are {', '.join(p.properties or {})}"


def between(p: Parameter, fields: Mapping[str, Any], path: str) -> Found:
    """The rules between the members of one object, for the members given in ``fields``."""
    found: Found = []
    for name, member in (p.properties or {}).items():
        here = f"{path}.{name}"
        if name not in fields:
            said = f": {member.description[:1].lower()}{member.description[1:]}" if member.description else ""
            if member.required:
                found.append((here, f"required{said}"))
            elif member.required_when and all(fields.get(k) == v for k, v in member.required_when.items()):
                when = " and ".join(f"{k} is {quoted(v)}" for k, v in member.required_when.items())
                found.append((here, f"required when {when}{said}"))
            elif member.required_unless and not any(other in fields for other in member.required_unless):
                found.append((path, f"give {' or '.join((*member.required_unless, name))}"))
            continue
        for other, wanted in (member.requires or {}).items():
            if fields.get(other) != wanted:
                found.append((here, f"only for {other} {quoted(wanted)}; here {other} is {quoted(fields.get(other))}"))
        for other in member.excludes:
            if other in fields:
                found.append((here, f"not together with {other}: give one of them"))
    return found


def summary(p: Parameter, value: object) -> str | None:
    """What an object value says in words: its first required text member (a structured prompt's
    high_level_description), when it has one."""
    if not isinstance(value, Mapping):
        return None
    fields = cast(Mapping[str, Any], value)
    for name, member in (p.properties or {}).items():
        if member.required and member.type == "string" and isinstance(fields.get(name), str):
            return cast(str, fields[name])
    return None
