"""The ``ideogram-mcp`` command: the stdio server (what MCP clients spawn), the emulator, the demo."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import shutil
import signal
import socket
import sys
import textwrap
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from pydantic import SecretStr, ValidationError

from ideogram_mcp import __version__, files, logs, stdio
from ideogram_mcp.errors import ConfigurationError
from ideogram_mcp.exits import STOPPED_STATUS, say_stopped
from ideogram_mcp.logs import configure_logging
from ideogram_mcp.server import build_server, tune_collector
from ideogram_mcp.settings import ENV, Settings, variable_name
from ideogram_mcp.variables import variables


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run what it asks for; Ctrl-C stops anything with one line and status 130."""
    try:
        _run(argv)
    except KeyboardInterrupt:
        _stopped()
    except BrokenPipeError:
        _unread()
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            _stopped()
        if group.subgroup(BrokenPipeError) is None:
            raise
        _unread()


def _unread() -> None:
    """Whoever read the output stopped reading (``ideogram-mcp demo | head``): end quietly, as other commands do."""
    with contextlib.suppress(OSError):  # what is left unwritten goes nowhere, not into a second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)


def _stopped() -> None:
    say_stopped()
    sys.exit(STOPPED_STATUS)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default (none for flags) and keeps the environment list's own line breaks."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _environment_help(only: frozenset[str] | None = None) -> str:
    width = max(40, min(shutil.get_terminal_size().columns, 100) - 2)  # a terminal 2 columns wide reads it too
    said = "(it reads no other)" if only is not None else "(MCP clients set them in the server's config)"
    lines = [f"environment variables {said}:"]
    for variable in variables():
        if only is not None and variable.name not in only:
            continue
        default = "" if variable.default in ("(none)", "(see meaning)") else f" (default: {variable.default})"
        lines.append(f"  {variable.name}")
        lines += textwrap.wrap(variable.meaning + default, width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its help ends with the environment variables, read from the settings' docstrings
    only when help is asked for (reading them costs several milliseconds of every start otherwise); ``only`` when a
    command reads some of them alone."""

    only: frozenset[str] | None = None

    def format_help(self) -> str:
        self.epilog = self.epilog or _environment_help(self.only)
        return super().format_help()


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(
        prog="ideogram-mcp",
        description="MCP server for Ideogram 3.0 and 4.0 image generation and editing on Runware. With no command: "
        "serve MCP on stdio (what an MCP client starts).",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="generate with the built-in Runware emulator (no key, no network, no cost)",
    )
    parser.add_argument(
        "--output-dir",
        type=_folder,
        metavar="DIR",
        help=f"save images here (else {ENV.output_dir}, else inside the client's first root, else inside the "
        "folder it was started in when that is a project, else ~/Pictures/ideogram-mcp)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    emulator = commands.add_parser(
        "emulator",
        help="serve the Runware emulator over HTTP on loopback",
        description="Serve the Runware emulator: POST task arrays to it as to Runware (placeholder pictures).",
        formatter_class=_Help,
    )
    emulator.only = frozenset(variable_name(field) for field in EMULATOR_READS)
    emulator.add_argument("--host", default="127.0.0.1", help="address to serve on")
    emulator.add_argument("--port", type=_port, default=8765, help="port to serve on")
    emulator.add_argument("--api-key", type=_key, help="the only key to accept (default: any non-empty key)")
    emulator.add_argument("--render-seconds", type=_seconds, default=0.0, help="how long each task takes to render")
    web = commands.add_parser(
        "http",
        help="serve MCP over streamable HTTP at /mcp (stateless, with authentication)",
        description=f"Serve MCP over streamable HTTP at /mcp. Off loopback it needs {ENV.tokens}, "
        f"{ENV.tokens_file} or {ENV.oauth_issuer} (see ideogram-mcp --help).",
        formatter_class=_Help,
    )
    web.add_argument("--host", default="127.0.0.1", help="address to serve on")
    web.add_argument("--port", type=_port, default=8000, help="port to serve on")
    web.add_argument("--workers", type=_workers, default=1, help="server processes sharing the port")
    web.add_argument(
        "--offline", dest="http_offline", action="store_true", help="generate with the built-in Runware emulator"
    )
    show = commands.add_parser(
        "demo",
        help="run an MCP client session against this server and save the images",
        description="Run a real MCP client session over stdio against this server: list sizes and presets, "
        f"generate three images and save them. Offline unless {ENV.runware_api_key} is set; with a key it says what it "
        "will spend first.",
        formatter_class=_Help,
    )
    show.add_argument(
        "--output-dir",
        dest="demo_output_dir",
        type=_folder,
        metavar="DIR",
        help="where the server saves the demo's images (default: ./ideogram-output)",
    )
    show.add_argument(
        "--offline",
        dest="demo_offline",
        action="store_true",
        help=f"use the emulator even when {ENV.runware_api_key} is set",
    )
    return parser, {"emulator": emulator, "http": web, "demo": show}


def _run(argv: list[str] | None) -> None:
    parser, subcommands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command they were given to, with its usage
        (subcommands.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(unknown)}")

    if args.command == "http" and args.port == 0:
        subcommands["http"].error("--port 0 would serve on a port no client is told; give one, e.g. --port 8000")
    if args.command == "emulator" and (args.offline or args.output_dir is not None):
        subcommands["emulator"].error("--offline and --output-dir are the MCP server's; the emulator takes neither")
    overrides: dict[str, Any] = {}
    if args.offline or getattr(args, "http_offline", False) or getattr(args, "demo_offline", False):
        overrides["offline"] = True  # each command's --offline: a team's database is then not asked of the install
    if args.command in (None, "http") and args.output_dir is not None:
        overrides["output_dir"] = args.output_dir
    strays = _strays()
    settings = _settings(EMULATOR_READS if args.command == "emulator" else (), **overrides)
    # The folder images go to: the demo's own option, then the server's; the demo's server is given it.
    given: Path | None = getattr(args, "demo_output_dir", None) or args.output_dir or settings.output_dir
    if args.command != "emulator" and (homeless := files.homeless(given, settings.data_dir)):
        sys.exit(print(f"ideogram-mcp: {homeless}", file=sys.stderr) or 2)
    if args.command in ("emulator", "http"):
        _check_port(args.host, args.port)
    configure_logging(settings)

    if args.command == "emulator":
        anyio.run(_serve_emulator, args.host, args.port, args.api_key, args.render_seconds)
    elif args.command == "http":
        _serve_http(settings, args.host, args.port, args.workers, offline=args.offline or args.http_offline)
    elif args.command == "demo":
        from ideogram_mcp import demo  # only the demo pays for importing its client and Pillow

        offline = args.offline or args.demo_offline or settings.offline or settings.runware_api_key is None
        folder = given or Path("ideogram-output")
        # The variables told of above are left out of its server's environment: told once, not twice.
        sys.exit(anyio.run(demo.run, folder, offline, settings.save, strays))
    else:
        if sys.stdin.isatty():
            print(
                "ideogram-mcp: serving MCP on stdio and waiting for an MCP client; this command is meant to be "
                "started by one (see the README). To try it by hand: ideogram-mcp demo. Ctrl-C stops.",
                file=sys.stderr,
                flush=True,
            )
        anyio.run(_serve_stdio, settings)


def _strays() -> list[str]:
    """The variables of ours that are no setting of the server, each told in a line on stderr (a misspelt budget
    would leave the default one, unsaid)."""
    known = {variable_name(field) for field in Settings.model_fields}
    ours = (name for name in sorted(os.environ) if name.upper().startswith("IDEOGRAM_MCP_"))
    strays = [name for name in ours if name.upper() not in known | NOT_SETTINGS]
    for name in strays:
        import difflib  # only for a name to tell of: not at every start

        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
        meant = f" (did you mean {close[0]}?)" if close else ""
        print(f"ideogram-mcp: {name[:60]} is no setting of this server and is ignored{meant}", file=sys.stderr)
    return strays


def _settings(only: tuple[str, ...] = (), **overrides: Any) -> Settings:
    """The settings from the environment (``only`` those, for a command that reads no other), or one line per
    problem naming the variable, and exit status 2."""
    try:
        return Settings.reading(*only) if only else Settings(**overrides)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else "settings"  # an option given names it, not a variable
            name = f"--{field.replace('_', '-')}" if field in overrides else variable_name(field)
            problems.append(f"ideogram-mcp: bad configuration: {name}: {error['msg'].removeprefix('Value error, ')}")
        print("\n".join(problems), file=sys.stderr)
        sys.exit(2)


def _check_port(host: str, port: int) -> None:
    """Refuse at once, in one line, a port that cannot be served (in use, not allowed, a host not of this machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            if os.name != "nt":
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        sys.exit(f"ideogram-mcp: cannot serve on {host}:{port}: {reason.lower()}; choose another with --port or --host")


def _bounded(convert: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], Any]:
    """An argparse type: ``convert`` of the text when it is from ``low`` to ``high`` (NaN never is), else one line
    saying it is not ``what``."""

    def read(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not {what}")
        return value

    return read


_port = _bounded(int, 0, 65535, "a port; ports run from 0 to 65535")
"""A TCP port: 0 (any free one) to 65535."""
_workers = _bounded(int, 1, sys.maxsize, "a number of processes; give 1 or more")
_seconds = _bounded(float, 0, sys.float_info.max, "a number of seconds; give 0 or more, e.g. 2.5")


def _folder(text: str) -> Path:
    """An argparse type: a folder's path, never blank (``Path("")`` is the working folder, which no one meant)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is blank; give a folder, or leave the option out")
    return Path(text)


def _key(text: str) -> str:
    """An argparse type: the emulator's one key, never blank (a blank one would refuse every request)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is blank; give a key, or leave the option out to accept any non-empty key")
    return text.strip()


NOT_SETTINGS = frozenset({"IDEOGRAM_MCP_LIVE"})
"""Variables of ours that are no setting: the live tests' switch."""
EMULATOR_READS = ("log_level",)
"""The one setting the emulator command reads: the MCP server's others are no concern of it."""
EMULATOR_KEY = "offline-emulator-key"


@contextlib.asynccontextmanager
async def _runware(settings: Settings) -> AsyncGenerator[Settings]:
    """The settings to serve with: offline, they point at an emulator running in this process."""
    if not settings.offline:
        yield settings
        return
    from ideogram_mcp.emulator import Emulator  # only offline serving pays for the emulator
    from ideogram_mcp.emulator.app import KEPT

    async with Emulator(api_key=EMULATOR_KEY, kept=KEPT).served() as url:
        logs.logger(__name__).info("offline: generating with the built-in Runware emulator at %s", url)
        yield settings.model_copy(update={"runware_base_url": url, "runware_api_key": SecretStr(EMULATOR_KEY)})


async def _serve_stdio(settings: Settings) -> None:
    async with _runware(settings) as settings:
        # A client starts its server in the project it works on (Claude Code does): images go there by default.
        server = build_server(settings, project=files.project_folder())
        tune_collector()
        with stdio.ends() as (stdin, stdout):
            try:
                async with anyio.create_task_group() as serving:  # around the transport too: its reader is ended
                    if stdout is not None:  # a client that stops reading ends the session, as one that stops writing
                        serving.start_soon(_ended_when, stdout.gone, serving.cancel_scope)
                    async with stdio_server(stdin=stdin, stdout=stdout) as (read, write):
                        await server.run(read, write, server.create_initialization_options())
                    serving.cancel_scope.cancel()
            except* (anyio.BrokenResourceError, anyio.ClosedResourceError):  # the session's next message, unread
                if _interrupted():  # Ctrl-C closed the session while the client still wrote: stopped, not failed
                    raise KeyboardInterrupt from None
                if stdout is None or not stdout.gone.is_set():
                    raise


def _interrupted() -> bool:
    """Whether this task is being cancelled from outside: in a command, only by Ctrl-C (asyncio's runner)."""
    import asyncio

    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _ended_when(gone: anyio.Event, serving: anyio.CancelScope) -> None:
    await gone.wait()
    serving.cancel()


def _serve_http(settings: Settings, host: str, port: int, workers: int, *, offline: bool) -> None:
    """Serve MCP over HTTP; the emulator, when offline, runs beside the workers and they share it."""
    import uvicorn
    from anyio.from_thread import start_blocking_portal

    from ideogram_mcp import door, http
    from ideogram_mcp.embedded import without_nagle
    from ideogram_mcp.stopping import Stopping, Supervisor

    with contextlib.ExitStack() as stack:
        changes: dict[str, str] = {ENV.http_host: host}
        if settings.output_dir is not None:  # --output-dir: the workers read it from the environment too
            changes[ENV.output_dir] = str(settings.output_dir)
        if not settings.state_keys:  # the workers share one key, so a question asked by one is answered to any
            changes[ENV.state_keys] = secrets.token_hex(32)
            changes[ENV.state_keys_made] = "true"
            if settings.database_url is not None or settings.storage_url is not None:
                logs.logger(__name__).warning(
                    "%s is not set: a spend question asked by this machine can be answered only through it; give "
                    'every machine serving this address the same key (python3 -c "import secrets; '
                    'print(secrets.token_hex(32))")',
                    ENV.state_keys,
                )
        if offline or settings.offline:
            from ideogram_mcp.emulator import Emulator  # only offline: a server of Runware's API needs none of it
            from ideogram_mcp.emulator.app import KEPT

            portal = stack.enter_context(start_blocking_portal())
            url = stack.enter_context(
                portal.wrap_async_context_manager(Emulator(api_key=EMULATOR_KEY, kept=KEPT).served())
            )
            changes |= {ENV.runware_base_url: url, ENV.runware_api_key: EMULATOR_KEY, ENV.offline: "true"}
        os.environ.update(changes)  # the workers read their settings from the environment, as this process does
        try:
            app = http.create_app(Settings())
        except ConfigurationError as exc:
            refusal = f"ideogram-mcp: {exc}"
            stack.close()  # the offline emulator first: an exit from inside its portal would come out as a traceback
            sys.exit(refusal)
        if settings.database_url is not None and not (offline or settings.offline):
            from ideogram_mcp.journal.postgres import unusable  # only a team's server loads psycopg at its start

            if problem := anyio.run(unusable, settings.database_url):
                sys.exit(f"ideogram-mcp: {problem}")
        if settings.storage_url is not None:
            from ideogram_mcp.images.s3 import BucketStore  # only a team's server loads obstore at its start

            store = BucketStore.of_settings(settings)
            if problem := store.unwritable(store.root) or store.proven():
                sys.exit(
                    f"ideogram-mcp: images cannot be kept in {settings.storage_url}: {problem}. Check "
                    "AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or unset "
                    f"{ENV.storage_url} to save images in the output folder."
                )
        door.make_room()  # file descriptors for the connections allowed; the workers inherit the limit
        if workers > 1:
            config = uvicorn.Config(
                "ideogram_mcp.http:worker_app",
                host=host,
                port=port,
                workers=workers,
                factory=True,
                log_config=None,
                http=door.GuardedH11,
            )
        else:
            config = uvicorn.Config(app, host=host, port=port, log_config=None, http=door.GuardedH11)
        listening = without_nagle(config.bind_socket())
        listening.listen(config.backlog)  # listening before the line says so: a client may connect from then on
        # One write: a Ctrl-C that comes as soon as the line shows must not cut it before its end.
        sys.stderr.write(
            f"ideogram-mcp: MCP over HTTP at http://{http.bracketed(host)}:{port}{http.PATH} (Ctrl-C stops)\n"
        )
        sys.stderr.flush()
        if workers > 1:
            supervisor = Supervisor(config, sockets=[listening])
            supervisor.run()
            if supervisor.terminated:  # a service manager's stop, ended as one worker's ends: not "Ctrl-C", not 130
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.raise_signal(signal.SIGTERM)
            stopped = supervisor.should_exit.is_set()
        else:
            server = Stopping(config)
            tune_collector()  # served by this process (each of more workers sets its own)
            server.run(sockets=[listening])  # after a graceful stop on Ctrl-C it raises KeyboardInterrupt
            stopped = server.should_exit
        if stopped:
            raise KeyboardInterrupt


async def _serve_emulator(host: str, port: int, api_key: str | None, render_seconds: float) -> None:
    from ideogram_mcp.emulator import Emulator
    from ideogram_mcp.emulator.app import KEPT

    async with Emulator(api_key=api_key, render_seconds=render_seconds, kept=KEPT).served(host, port) as url:
        print(f"Runware emulator: POST tasks to {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
        await anyio.sleep_forever()
