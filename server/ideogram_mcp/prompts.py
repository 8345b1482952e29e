"""MCP prompt templates, one TOML file each under the project's ``prompts/`` folder.

A template names its arguments and writes them as ``$name``; optional ones carry a default.
The folder ships inside the wheel as ``ideogram_mcp/prompts``; a source checkout reads it from
the top of the repository.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Literal, Self

import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, model_validator

from ideogram_mcp.refusals import whole
from ideogram_mcp.text import has_visible, joined


# Their validators are built when the templates are first read (defer_build), not by every start.
class PromptArgumentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    description: str
    required: bool = False
    default: str | None = None
    suggest: Literal["ratios", "saved images"] | None = None
    """What ``completion/complete`` offers for this argument."""
    model: str | None = None
    """Whose ratios are suggested (a model id, e.g. ``ideogram:4@0``); Ideogram 3.0's when unset."""


class PromptTemplate(BaseModel):
    """One prompt: its name, what it is for, its arguments and its text."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    title: str
    description: str
    template: str
    arguments: tuple[PromptArgumentSpec, ...] = ()

    @model_validator(mode="after")
    def _placeholders_are_arguments(self) -> Self:
        declared = {a.name for a in self.arguments}
        if not Template(self.template).is_valid():  # each get_prompt would fail, and be told the client's fault
            raise ValueError(f"prompt {self.name}: a $ that begins no placeholder (write $$ for a dollar sign)")
        used = set(Template(self.template).get_identifiers())
        if used - declared:
            raise ValueError(f"prompt {self.name}: undeclared placeholders {sorted(used - declared)}")
        for a in self.arguments:
            if not a.required and a.default is None:
                raise ValueError(f"prompt {self.name}: optional argument {a.name} needs a default")
        return self

    def render(self, given: Mapping[str, str] | None) -> str:
        """The prompt text; raises ValueError naming missing or unknown arguments."""
        given = dict(given or {})
        unknown = sorted(set(given) - {a.name for a in self.arguments})
        missing = [a.name for a in self.arguments if a.required and not has_visible(given.get(a.name, ""))]
        if unknown or missing:
            from ideogram_mcp.arguments import label  # only a refused prompt loads the arguments' wording

            parts = (
                [f"it needs {joined(missing)}, which {'was' if len(missing) == 1 else 'were'} not given"]
                if missing
                else []
            )
            named = [label(name) for name in unknown[:5]] + ([f"{len(unknown) - 5} more"] if len(unknown) > 5 else [])
            parts += [f"it takes no {joined(named)}"] if unknown else []
            known = ", ".join(f"{a.name}{'' if a.required else ' (optional)'}" for a in self.arguments)
            raise ValueError(f"The prompt {self.name!r} cannot be made: {'; '.join(parts)}. Its arguments: {known}.")
        values = {a.name: _given(given.get(a.name, "")) or a.default or "" for a in self.arguments}
        return Template(self.template).substitute(values).strip()


def _given(text: str) -> str:
    """An argument's text, or "" when it holds nothing visible (then an optional one takes its default)."""
    return text.strip() if has_visible(text) else ""


def folder() -> Path:
    """Where the templates are read from."""
    return _folder()


def _folder() -> Path:
    # In the package once installed (the wheel holds them as ideogram_mcp/prompts), at the top of a source checkout.
    packaged = Path(__file__).resolve().parent / "prompts"
    return packaged if packaged.is_dir() else packaged.parents[2] / "prompts"


@functools.cache
def load_prompts() -> dict[str, PromptTemplate]:
    """All templates by name, read and checked once."""
    import tomllib  # loaded when the templates are first read: a start that finds the listing kept reads none

    templates: dict[str, PromptTemplate] = {}
    for entry in sorted(_folder().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            template = PromptTemplate.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))
            templates[template.name] = template
    if not templates:
        raise RuntimeError("no prompt templates found; the package is incomplete")
    return templates


async def list_prompts(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    """The ``prompts/list`` handler: every template with its arguments."""
    whole(params)
    return types.ListPromptsResult(
        prompts=[
            types.Prompt(
                name=p.name,
                title=p.title,
                description=p.description,
                arguments=[
                    types.PromptArgument(name=a.name, description=a.description, required=a.required)
                    for a in p.arguments
                ],
            )
            for p in load_prompts().values()
        ]
    )


async def get_prompt(ctx: object, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    """The ``prompts/get`` handler: a template filled in; an unknown name or argument is a protocol error."""
    templates = load_prompts()
    template = templates.get(params.name)
    if template is None:
        from ideogram_mcp.arguments import label  # only a refused prompt loads the arguments' wording

        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt {label(params.name)!r}. Prompts: {', '.join(templates)}.")
    try:
        text = template.render(params.arguments)
    except ValueError as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc)) from None
    return types.GetPromptResult(
        description=template.description,
        messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
    )
