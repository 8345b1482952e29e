"""The MCP tools, one module each: arguments in, a result out (text, previews, links, structure).

Tools know MCP content types and what an agent should read. They build no HTTP request and
write no file themselves: they ask ``runware`` and ``files``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from pydantic import SecretStr

from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.specs import ModelSpec


@dataclass(frozen=True, slots=True)
class AppState:
    """What the tools need for one connection: the spec and, when configured, a Runware client."""

    spec: ModelSpec
    client: RunwareClient | None
    api_key: SecretStr | None
    offline: bool


Context = ServerRequestContext[AppState]
Handler = Callable[[Context, Mapping[str, Any]], Awaitable[types.CallToolResult]]


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """One tool as published in ``tools/list``, and the function that runs it."""

    tool: types.Tool
    run: Handler
