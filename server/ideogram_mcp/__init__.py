"""ideogram-mcp: an MCP server for Ideogram 3.0 image generation on Runware."""

__version__ = "0.1.0"
