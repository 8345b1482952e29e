"""What an agent sends to a tool, checked before anything is sent: one parser for every argument of every tool.

Forgiving where the meaning is plain (``"watercolor"`` for ``WATERCOLOR``, ``prompt`` for ``positivePrompt``,
``"1024"`` for 1024); an error where it is not, naming the argument, what is allowed and the nearest valid choice.
Nothing sent is silently dropped, and no error repeats a long input back.

    names       the spellings of argument names, and unknown names with the closest known ones
    values      values read in the types the specs say
    generation  an image tool's arguments into a Runware task; any tool's own arguments (parse_tool)
    problems    what is wrong, as an agent reads it
"""

from ideogram_mcp.arguments.generation import Generation, LocalInput, options, parse, parse_tool
from ideogram_mcp.arguments.names import (
    ALIASES,
    APPROVED_COST,
    ASPECT_RATIO,
    DRY_RUN,
    FILE_NAME,
    OUTPUT_DIR,
    PREVIEW,
    aliases_for,
    canonical,
)
from ideogram_mcp.arguments.problems import InvalidArgumentsError, Problem, label, show
from ideogram_mcp.arguments.values import boolean, coerce, dollars, number, whole

__all__ = [
    "ALIASES",
    "APPROVED_COST",
    "ASPECT_RATIO",
    "DRY_RUN",
    "FILE_NAME",
    "OUTPUT_DIR",
    "PREVIEW",
    "Generation",
    "InvalidArgumentsError",
    "LocalInput",
    "Problem",
    "aliases_for",
    "boolean",
    "canonical",
    "coerce",
    "dollars",
    "label",
    "number",
    "options",
    "parse",
    "parse_tool",
    "show",
    "whole",
]
