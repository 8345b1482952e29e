"""The bare SDK server ideogram-mcp is held against: an MCPServer with one tool that waits the render time.

    BARE_RENDER_SECONDS=2 python benchmarks/bare.py                       # over stdio
    BARE_RENDER_SECONDS=2 python -m uvicorn bare:http_app --factory --app-dir benchmarks --workers 2

Its ``generate_image`` does what an MCP server cannot do less of while a 2 s render runs elsewhere: it takes the
call, waits, and answers a short text. Over HTTP it is served as ideogram-mcp serves (the SDK's stateless
streamable HTTP, SSE answers), so that the difference between the two is ideogram-mcp's own work.
"""

from __future__ import annotations

import os

import anyio
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

RENDER_VARIABLE = "BARE_RENDER_SECONDS"


def bare_server() -> MCPServer:
    """The server, its wait read from BARE_RENDER_SECONDS (2 s when unset)."""
    render = float(os.environ.get(RENDER_VARIABLE, "2.0"))
    server = MCPServer("bare")

    @server.tool()
    async def generate_image(positivePrompt: str, preview: bool = False) -> str:  # noqa: N803 (the wire name)
        """Wait the render time and answer."""
        await anyio.sleep(render)
        return f"done: {positivePrompt[:40]}"

    return server


def http_app() -> Starlette:
    """The app for ``uvicorn --factory``: one per worker."""
    return bare_server().streamable_http_app(stateless_http=True, json_response=False)


if __name__ == "__main__":
    bare_server().run()
