"""The ``ideogram-mcp`` command: the stdio server (what MCP clients spawn), the emulator, the demo."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from pydantic import SecretStr, ValidationError

from ideogram_mcp import __version__
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings, redact


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run what it asks for."""
    parser = argparse.ArgumentParser(
        prog="ideogram-mcp",
        description="MCP server for Ideogram 3.0 image generation on Runware. With no command: serve MCP on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="generate with the built-in Runware emulator (no key, no network)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="save images here (default: IDEOGRAM_MCP_OUTPUT_DIR, else inside the client's first root, "
        "else ~/Pictures/ideogram-mcp)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    emulator = commands.add_parser("emulator", help="serve the Runware emulator over HTTP on loopback")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765)
    emulator.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
    emulator.add_argument(
        "--render-seconds", type=float, default=0.0, help="how long each task takes to render (default: 0)"
    )
    web = commands.add_parser("http", help="serve MCP over streamable HTTP at /mcp (stateless, with authentication)")
    web.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="port to serve on (default: 8000)")
    web.add_argument("--workers", type=int, default=1, help="server processes sharing the port (default: 1)")
    web.add_argument(
        "--offline", dest="http_offline", action="store_true", help="generate with the built-in Runware emulator"
    )
    show = commands.add_parser("demo", help="run an MCP client session against this server and save the images")
    show.add_argument(
        "--output-dir",
        dest="demo_output_dir",
        type=Path,
        default=Path("ideogram-output"),
        help="where the server saves the demo's images (default: ./ideogram-output)",
    )
    show.add_argument(
        "--offline",
        dest="demo_offline",
        action="store_true",
        help="use the emulator even when RUNWARE_API_KEY is set",
    )
    args = parser.parse_args(argv)

    overrides: dict[str, Any] = {}
    if args.command is None and args.offline:
        overrides["offline"] = True
    if args.command is None and args.output_dir is not None:
        overrides["output_dir"] = args.output_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        sys.exit(f"ideogram-mcp: bad configuration: {exc}")
    _configure_logging(settings)

    if args.command == "emulator":
        anyio.run(_serve_emulator, args.host, args.port, args.api_key, args.render_seconds)
    elif args.command == "http":
        _serve_http(settings, args.host, args.port, args.workers, offline=args.offline or args.http_offline)
    elif args.command == "demo":
        from ideogram_mcp import demo  # only the demo pays for importing its client and Pillow

        offline = args.offline or args.demo_offline or settings.runware_api_key is None
        sys.exit(anyio.run(demo.run, args.demo_output_dir.expanduser().resolve(), offline))
    else:
        anyio.run(_serve_stdio, settings)


EMULATOR_KEY = "offline-emulator-key"


@contextlib.asynccontextmanager
async def _runware(settings: Settings) -> AsyncGenerator[Settings]:
    """The settings to serve with: offline, they point at an emulator running in this process."""
    if not settings.offline:
        yield settings
        return
    from ideogram_mcp.emulator import Emulator, serving  # only offline serving pays for the emulator

    async with serving(Emulator(api_key=EMULATOR_KEY)) as url:
        logging.getLogger(__name__).info("offline: generating with the built-in Runware emulator at %s", url)
        yield settings.model_copy(update={"runware_base_url": url, "runware_api_key": SecretStr(EMULATOR_KEY)})


async def _serve_stdio(settings: Settings) -> None:
    async with _runware(settings) as settings:
        server = build_server(settings)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def _serve_http(settings: Settings, host: str, port: int, workers: int, *, offline: bool) -> None:
    """Serve MCP over HTTP; the emulator, when offline, runs beside the workers and they share it."""
    import uvicorn
    from anyio.from_thread import start_blocking_portal

    from ideogram_mcp import http
    from ideogram_mcp.emulator import Emulator, serving

    with contextlib.ExitStack() as stack:
        changes: dict[str, str] = {"IDEOGRAM_MCP_HTTP_HOST": host}
        if offline or settings.offline:
            portal = stack.enter_context(start_blocking_portal())
            url = stack.enter_context(portal.wrap_async_context_manager(serving(Emulator(api_key=EMULATOR_KEY))))
            changes |= {"RUNWARE_BASE_URL": url, "RUNWARE_API_KEY": EMULATOR_KEY, "IDEOGRAM_MCP_OFFLINE": "true"}
        os.environ.update(changes)  # the workers read their settings from the environment, as this process does
        try:
            app = http.create_app(Settings())
        except http.ConfigurationError as exc:
            sys.exit(f"ideogram-mcp: {exc}")
        print(f"ideogram-mcp: MCP over HTTP at http://{host}:{port}{http.PATH} (Ctrl-C stops)", file=sys.stderr)
        if workers > 1:
            uvicorn.run("ideogram_mcp.http:app", factory=True, host=host, port=port, workers=workers, log_config=None)
        else:
            uvicorn.run(app, host=host, port=port, log_config=None)


async def _serve_emulator(host: str, port: int, api_key: str | None, render_seconds: float) -> None:
    from ideogram_mcp.emulator import Emulator, serving

    async with serving(Emulator(api_key=api_key, render_seconds=render_seconds), host, port) as url:
        print(f"Runware emulator: POST tasks to {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
        await anyio.sleep_forever()


class _Redacting(logging.Formatter):
    """Keeps the API key out of every log line, tracebacks included, whatever a library puts in them."""

    def __init__(self, secret: SecretStr | None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secret)


def _configure_logging(settings: Settings) -> None:
    # stderr only: on stdio, stdout carries the protocol.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting(settings.runware_api_key))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    for noisy in ("httpx2", "httpcore", "mcp", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
