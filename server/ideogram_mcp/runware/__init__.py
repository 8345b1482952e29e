"""Runware's REST protocol: tasks, results and errors. Knows HTTP and the wire format, nothing of MCP."""

DEFAULT_BASE_URL = "https://api.runware.ai/v1"
"""Where Runware takes task arrays."""
