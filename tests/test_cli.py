"""The command line as a person meets it: help, mistakes, configuration errors, Ctrl-C, the demo's spend."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ideogram_mcp import __version__, cli
from ideogram_mcp import demo as demo_module
from ideogram_mcp.cli import _parser, main  # pyright: ignore[reportPrivateUsage]
from ideogram_mcp.embedded import serving
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.settings import Settings
from ideogram_mcp.variables import variables

from .processes import COMMAND, Running, clean_env, free_port

STOPPED = "ideogram-mcp: stopped (Ctrl-C)"


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    out, err = capsys.readouterr()
    return stopped.value.code, out, err


# --- help -----------------------------------------------------------------------------------------------------


def test_help_names_every_environment_variable_and_each_one_really_configures_the_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, _ = _exit(["--help"], capsys)
    listed = re.findall(r"^  ([A-Z_]+)$", out.partition("environment variables")[2], re.MULTILINE)
    assert code == 0
    assert listed == [v.name for v in variables()]
    assert {"RUNWARE_API_KEY", "RUNWARE_BASE_URL", "IDEOGRAM_MCP_OUTPUT_DIR", "IDEOGRAM_MCP_TOKENS"} <= set(listed)
    # Each name printed is the one the server reads: setting it changes that setting and no other.
    fields = [f for f, info in Settings.model_fields.items() if not info.exclude]
    candidates = [
        "true",
        "false",
        "DEBUG",
        "7",
        "600",
        str(tmp_path),
        "https://example.test/x",
        "postgresql://db.test/x",
    ]
    candidates += ["s3://bucket/x"]
    for name, field in zip(listed, fields, strict=True):
        for other in listed:
            monkeypatch.delenv(other, raising=False)
        changed: list[str] = []
        for value in candidates:
            monkeypatch.setenv(name, value)
            try:
                if getattr(Settings(), field) != Settings.model_fields[field].default:
                    changed.append(value)
            except ValueError:
                pass  # not a value of this setting's type
        assert changed, name


def test_the_emulators_help_lists_the_one_variable_it_reads_and_a_bad_server_setting_does_not_stop_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Its help had listed all 30 of the MCP server's variables, and a bad one of them had refused its start.
    code, out, _ = _exit(["emulator", "--help"], capsys)
    assert code == 0
    assert re.findall(r"^  ([A-Z_]+)$", out.partition("environment variables")[2], re.MULTILINE) == [
        "IDEOGRAM_MCP_LOG_LEVEL"
    ]
    env = clean_env(RUNWARE_BASE_URL="api.runware.ai/v1", RUNWARE_TIMEOUT="-1", IDEOGRAM_MCP_LOG_LEVEL="DEBUG")
    running = Running(["emulator", "--port", "0"], env)
    running.wait_for(lambda: any("Runware emulator: POST tasks to" in line for line in running.lines()))
    code, _, err = running.interrupt()
    assert code == 130
    assert " DEBUG " in err, "the one variable it reads still holds"
    assert "bad configuration" not in err


def test_every_option_of_every_command_says_what_it_does_and_shows_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser, commands = _parser()
    for command in [parser, *commands.values()]:
        for action in command._actions:  # pyright: ignore[reportPrivateUsage]
            if action.option_strings:
                assert action.help, (command.prog, action.option_strings)
    code, out, _ = _exit(["http", "--help"], capsys)
    assert code == 0
    assert "--port PORT        port to serve on (default: 8000)" in out
    assert "--offline          generate with the built-in Runware emulator\n" in out  # a flag shows no "False"


def test_a_mistake_after_a_command_is_told_with_that_commands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _exit(["demo", "--bogus"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "usage: ideogram-mcp demo [-h] [--output-dir DIR] [--offline]\n"
        "ideogram-mcp demo: error: unrecognized arguments: --bogus\n"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [  # a blank folder had saved into the working folder's root; a blank key made the emulator refuse every request
        (["--output-dir", " "], "ideogram-mcp: error: argument --output-dir: is blank; give a folder, or leave the "
         "option out\n"),
        (["demo", "--output-dir", ""], "ideogram-mcp demo: error: argument --output-dir: is blank; give a folder, or "
         "leave the option out\n"),
        (["emulator", "--api-key", ""], "ideogram-mcp emulator: error: argument --api-key: is blank; give a key, or "
         "leave the option out to accept any non-empty key\n"),
    ],
)  # fmt: skip
def test_a_blank_option_value_is_told_not_taken(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _exit(argv, capsys)
    assert code == 2
    assert err.endswith(said)


def test_help_gives_no_default_for_a_variable_whose_meaning_tells_it(capsys: pytest.CaptureFixture[str]) -> None:
    # The output and data folders' defaults are said in their meaning: no "(default: (see meaning))" after it.
    code, out, _ = _exit(["--help"], capsys)
    assert code == 0
    assert "(see meaning)" not in " ".join(out.split())


@pytest.mark.parametrize("option", [["--output-dir", "elsewhere"], ["--offline"]])
def test_the_servers_options_given_to_the_emulator_are_refused_not_ignored(
    option: list[str], taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # On a port in use: an emulator that took them would stop at its port, not serve on.
    code, out, err = _exit([*option, "emulator", "--port", str(taken)], capsys)
    assert (code, out) == (2, "")
    assert err.endswith(
        "ideogram-mcp emulator: error: --offline and --output-dir are the MCP server's; the emulator takes neither\n"
    )


def test_the_emulators_key_is_taken_without_the_spaces_around_it() -> None:
    # A key pasted with a space after it must still accept the key itself, as a blank one is refused outright.
    running = Running(["emulator", "--port", "0", "--api-key", " k3y "], clean_env())
    said = "Runware emulator: POST tasks to "
    running.wait_for(lambda: any(said in line for line in running.lines()))
    url = next(line for line in running.lines() if said in line).split(said, 1)[1].split()[0]
    try:
        accepted = httpx2.post(url, json=[], headers={"Authorization": "Bearer k3y"})
        refused = httpx2.post(url, json=[], headers={"Authorization": "Bearer other"})
    finally:
        running.interrupt()
    assert refused.status_code == 401
    assert accepted.status_code == 200, accepted.text


def test_help_in_a_terminal_too_narrow_for_it_is_still_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "2")  # it had ended in "ValueError: invalid width 0"
    code, out, _ = _exit(["--help"], capsys)
    assert code == 0
    assert "RUNWARE_API_KEY" in out


def test_the_demo_whose_reader_stops_reading_ends_quietly(tmp_path: Path) -> None:
    # ideogram-mcp demo | head -1 had ended in a BrokenPipeError traceback.
    env = clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path))
    shown = subprocess.run(
        f"{COMMAND} demo --offline --output-dir {tmp_path / 'out'} | head -1",
        shell=True, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.stdout.startswith("ideogram-mcp demo (offline")
    assert "Traceback" not in shown.stderr
    assert "BrokenPipeError" not in shown.stderr


# --- configuration errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (
            "IDEOGRAM_MCP_LOG_LEVEL",
            "chatty",
            "IDEOGRAM_MCP_LOG_LEVEL: 'chatty' is not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            "RUNWARE_BASE_URL",
            "api.runware.ai/v1",
            "RUNWARE_BASE_URL: 'api.runware.ai/v1' is not an http:// or https:// URL; "
            "write it in full, with the scheme",
        ),
        ("RUNWARE_TIMEOUT", "-1", "RUNWARE_TIMEOUT: Input should be greater than 0"),
        ("RUNWARE_TIMEOUT", "nan", "RUNWARE_TIMEOUT: Input should be a finite number"),
        (
            "RUNWARE_BASE_URL",
            "http://[",
            "RUNWARE_BASE_URL: 'http://[' is not an http:// or https:// URL; write it in full, with the scheme",
        ),
        # A token or a password in a URL refused is not repeated (the refusal goes to logs clients keep).
        (  # a webhook's token may be anywhere in it (Slack's is in the path): nothing of it is repeated
            "IDEOGRAM_MCP_WEBHOOK_URL",
            "hooks.slack.com/services/T0/B0/XsecretTOKENx",
            "IDEOGRAM_MCP_WEBHOOK_URL: is not an http:// or https:// URL; write it in full, with the scheme",
        ),
        (
            "IDEOGRAM_MCP_UPLOAD_ENDPOINT",
            "https//user:s3cret@bucket.example/put",
            "IDEOGRAM_MCP_UPLOAD_ENDPOINT: is not an http:// or https:// URL; write it in full, with the scheme",
        ),
        (
            "RUNWARE_BASE_URL",
            "ftp://user:hunter2@runware.example/v1#x",
            "RUNWARE_BASE_URL: 'ftp://...@runware.example/v1#...' is not an http:// or https:// URL; write it in "
            "full, with the scheme",
        ),
        # A key with a character no header carries (a line break, a zero-width space pasted with it): its place only.
        (
            "RUNWARE_API_KEY",
            "sk-part1\npart2-xyz",
            "RUNWARE_API_KEY: holds a character an API key cannot have (character 9 of 18: a space, a line break or "
            "a character that is not plain ASCII); copy the key again from Runware's dashboard",
        ),
        (
            "RUNWARE_API_KEY",
            " sk-abcdefghijkl\u200b ",
            "RUNWARE_API_KEY: holds a character an API key cannot have (character 16 of 16: a space, a line break or "
            "a character that is not plain ASCII); copy the key again from Runware's dashboard",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    variable: str, value: str, said: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert _exit([], capsys) == (2, "", f"ideogram-mcp: bad configuration: {said}\n")


@pytest.mark.parametrize(
    ("variable", "value", "missing", "said"),
    [
        ("IDEOGRAM_MCP_DATABASE_URL", "postgresql://u:pw@db:5432/x", "psycopg_pool", "PostgreSQL's client (psycopg)"),
        ("IDEOGRAM_MCP_STORAGE_URL", "s3://team-images", "obstore", "the bucket's client (obstore)"),
    ],
)
def test_team_mode_without_the_team_extra_stops_the_start_with_what_to_install(
    variable: str,
    value: str,
    missing: str,
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its clients are an extra: without them the server had started, and every call and listing had answered "an
    # internal error" (found by audit).
    monkeypatch.setitem(sys.modules, missing, None)  # as where the extra is not installed
    monkeypatch.setenv(variable, value)
    assert _exit([], capsys) == (
        2,
        "",
        f"ideogram-mcp: bad configuration: {variable}: needs {said}, which this install lacks; install the team extra "
        "(uv sync --extra team, or pip install 'ideogram-mcp[team]'), or leave it unset\n",
    )
    if variable == "IDEOGRAM_MCP_DATABASE_URL":  # offline, the journal is SQLite whatever is set: each command starts
        started: list[str] = []
        monkeypatch.setattr(cli, "_serve_http", lambda settings, *_, **__: started.append(f"http {settings.offline}"))

        async def demo(*_: object) -> int:
            started.append("demo")
            return 0

        monkeypatch.setattr(demo_module, "run", demo)
        for argv in (["http", "--offline", "--port", "8999"], ["--offline", "http", "--port", "8999"]):
            main(argv)
        assert _exit(["demo", "--offline"], capsys)[0] == 0
        assert started == ["http True", "http True", "demo"], "refused for a database they would not use (review)"


def test_the_version_the_server_reports_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    # Written in pyproject.toml and in the package, a release that raised one had left --version, serverInfo and
    # /healthz saying the other (found by audit): the package's is the one, and the build reads it.
    assert importlib.metadata.version("ideogram-mcp") == __version__
    assert _exit(["--version"], capsys) == (0, f"ideogram-mcp {__version__}\n", "")


def test_a_variable_of_ours_the_server_does_not_have_is_told_with_the_closest_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A misspelt budget had left the $10 default in force without a word.
    monkeypatch.setenv("IDEOGRAM_MCP_DAILY_BUDGT", "1")
    monkeypatch.setenv("IDEOGRAM_MCP_LIVE", "1")  # the live tests' switch: no setting, and not told
    monkeypatch.setenv("RUNWARE_TIMEOUT", "-1")  # so that the command ends at its settings
    code, _, err = _exit([], capsys)
    assert code == 2
    assert err.splitlines() == [
        "ideogram-mcp: IDEOGRAM_MCP_DAILY_BUDGT is no setting of this server and is ignored (did you mean "
        "IDEOGRAM_MCP_DAILY_BUDGET?)",
        "ideogram-mcp: bad configuration: RUNWARE_TIMEOUT: Input should be greater than 0",
    ]


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("command", ["http", "emulator"])
def test_a_port_in_use_is_one_line_saying_how_to_choose_another(
    command: str, taken: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = _exit([command, "--port", str(taken)], capsys)
    assert code == (
        f"ideogram-mcp: cannot serve on 127.0.0.1:{taken}: address already in use; choose another with --port or --host"
    )


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused_by_the_command_line(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _exit(["emulator", "--port", port], capsys)
    assert code == 2
    assert (
        err.splitlines()[-1]
        == f"ideogram-mcp emulator: error: argument --port: '{port}' is not a port; ports run from 0 to 65535"
    )


def test_serving_http_on_a_public_host_without_authentication_is_one_line_saying_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("IDEOGRAM_MCP_TOKENS", "IDEOGRAM_MCP_TOKENS_FILE", "IDEOGRAM_MCP_OAUTH_ISSUER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IDEOGRAM_MCP_HTTP_HOST", "127.0.0.1")  # the command sets it for its workers: put it back after
    monkeypatch.setattr(cli, "configure_logging", lambda settings: None)  # leave this process's logging as it is
    code, out, err = _exit(["http", "--host", "0.0.0.0", "--port", "8123"], capsys)
    assert (code, out, err) == (
        "ideogram-mcp: refusing to serve on 0.0.0.0 with no authentication: set IDEOGRAM_MCP_TOKENS (or "
        "IDEOGRAM_MCP_TOKENS_FILE, or IDEOGRAM_MCP_OAUTH_ISSUER with IDEOGRAM_MCP_PUBLIC_URL), or use a loopback host "
        "such as 127.0.0.1",
        "",
        "",
    )


def test_an_offline_http_server_that_may_not_start_says_so_in_one_line_too() -> None:
    env = {k: v for k, v in clean_env().items() if not k.startswith("IDEOGRAM_MCP_TOKENS")}
    done = subprocess.run(
        [COMMAND, "http", "--offline", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "ideogram-mcp: refusing to serve on 0.0.0.0 with no authentication: set IDEOGRAM_MCP_TOKENS (or "
        "IDEOGRAM_MCP_TOKENS_FILE, or IDEOGRAM_MCP_OAUTH_ISSUER with IDEOGRAM_MCP_PUBLIC_URL), or use a loopback host "
        "such as 127.0.0.1"
    ]


# --- Ctrl-C ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "ready"),
    [
        ([], "RUNWARE_API_KEY is not set"),
        (["--offline"], "offline: generating with the built-in Runware emulator"),
        (["emulator", "--port", "0"], "Runware emulator: POST tasks to"),
    ],
)
def test_ctrl_c_stops_the_server_and_the_emulator_with_one_line_and_status_130(args: list[str], ready: str) -> None:
    running = Running(args, clean_env())
    running.wait_for(lambda: any(ready in line for line in running.lines()))
    code, out, err = running.interrupt()
    assert (code, out) == (130, "")
    assert err.splitlines()[-1] == STOPPED
    assert len(err.splitlines()) == 2  # what it said when it started, and the line Ctrl-C prints


def test_ctrl_c_while_the_client_still_writes_stops_the_server_with_one_line_and_status_130() -> None:
    # The session's reader met its closed stream as Ctrl-C ended the session: a traceback and status 1, 4 runs in 10.
    running = Running(["--offline"], clean_env())
    running.wait_for(lambda: any("offline: generating with the built-in" in line for line in running.lines()))
    stdin = running.process.stdin
    assert stdin is not None
    opening = [
        '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},'
        '"clientInfo":{"name":"t","version":"1"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    ]
    calls = [
        f'{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"list_sizes","arguments":{{}}}}}}'
        for n in range(1, 20_000)
    ]
    flood = ("\n".join([*opening, *calls]) + "\n").encode()

    def write() -> None:
        with contextlib.suppress(OSError):
            stdin.write(flood)
            stdin.flush()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    running.wait_for(lambda: len(running.out) > 50)  # answering, the client still writing
    code, _, err = running.interrupt()
    writer.join(timeout=30)
    assert "Traceback" not in err
    assert (code, err.splitlines()[-1]) == (130, STOPPED)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_twice_stops_the_http_server_with_one_line_too(workers: int) -> None:
    # One worker logged the lifespan cancelled by the second Ctrl-C as an ERROR with its traceback (found by an audit).
    running = Running(["http", "--offline", "--port", str(free_port()), "--workers", str(workers)], clean_env())
    url = running.listening()
    running.wait_for(lambda: "\n".join(running.lines()).count("without authentication") == 1 + (workers > 1) * workers)
    assert httpx2.get(url.rsplit("/", 1)[0] + "/healthz", timeout=30).status_code == 200
    code, _, err = running.interrupt(times=2)
    assert "Traceback" not in err
    assert "ERROR" not in err
    assert (code, err.splitlines()[-1], err.count(STOPPED)) == (130, STOPPED, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_the_http_server_and_its_workers_with_one_line(workers: int) -> None:
    port = free_port()
    running = Running(["http", "--offline", "--port", str(port), "--workers", str(workers)], clean_env())
    url = running.listening()
    started = "without authentication"  # each worker says so once its Ctrl-C handling is set
    running.wait_for(lambda: "\n".join(running.lines()).count(started) == 1 + (workers if workers > 1 else 0))
    # One worker is the process itself, which says so before its event loop starts: an answer shows it runs (a
    # Ctrl-C while the loop was being made left a half-made loop, whose clean-up printed a traceback).
    assert httpx2.get(url.rsplit("/", 1)[0] + "/healthz", timeout=30).status_code == 200
    code, _, err = running.interrupt()
    assert code == 130
    assert "Traceback" not in err
    assert err.splitlines()[-1] == STOPPED
    assert err.count(STOPPED) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_http_server_as_a_service_manager_expects_whatever_the_workers(workers: int) -> None:
    # With two workers, a `kill` (systemctl stop) had been said as "stopped (Ctrl-C)" and exit status 130, which
    # systemd counts as a failure; one worker ended as SIGTERM ends a process.
    running = Running(["http", "--offline", "--port", str(free_port()), "--workers", str(workers)], clean_env())
    url = running.listening()
    started = "without authentication"
    running.wait_for(lambda: "\n".join(running.lines()).count(started) == 1 + (workers if workers > 1 else 0))
    assert httpx2.get(url.rsplit("/", 1)[0] + "/healthz", timeout=30).status_code == 200
    code, _, err = running.terminate()
    assert code == -signal.SIGTERM
    assert STOPPED not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stop_lets_a_call_in_flight_answer_before_the_http_server_ends(workers: int, tmp_path: Path) -> None:
    # sse-starlette closed every stream at the first SIGTERM: a call sent and paid for ended with no answer, its
    # client never told its taskUUID, and uvicorn logged "ASGI callable returned without completing response" (an
    # audit). The process now ends once the call has answered, as SIGTERM ends one.
    emulator = Running(["emulator", "--port", "0", "--render-seconds", "3"], clean_env())
    emulator.wait_for(lambda: any("POST tasks to" in line for line in emulator.lines()))
    base = next(line for line in emulator.lines() if "POST tasks to" in line).split("POST tasks to ")[1].split()[0]
    env = clean_env(
        RUNWARE_API_KEY="k",
        RUNWARE_BASE_URL=base,
        IDEOGRAM_MCP_WAIT_SECONDS="20",
        IDEOGRAM_MCP_DATA_DIR=str(tmp_path / "data"),
        IDEOGRAM_MCP_OUTPUT_DIR=str(tmp_path / "out"),
    )
    server = Running(["http", "--port", str(free_port()), "--workers", str(workers)], env)
    try:
        url = server.listening()
        server.wait_for(
            lambda: "\n".join(server.lines()).count("without authentication") == 1 + (workers > 1) * workers
        )
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        call["params"] = {
            "name": "generate_image",
            "arguments": {"positivePrompt": "a fox"},
            "_meta": {"progressToken": 1},
        }
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
        said: list[str] = []
        progressed = threading.Event()

        def ask() -> None:
            with httpx2.stream("POST", url, json=call, headers=headers, timeout=60) as answer:
                for line in answer.iter_lines():
                    said.append(line)
                    if "notifications/progress" in line:
                        progressed.set()

        envelope = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        listen = {"jsonrpc": "2.0", "id": 2, "method": "subscriptions/listen"}
        listen["params"] = {"notifications": {"resourcesListChanged": True}, "_meta": envelope}
        heard: list[str] = []
        acknowledged = threading.Event()

        def hear() -> None:  # a listen stream never ends by itself: it had held the stop for as long as it stayed
            modern = headers | {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}
            with httpx2.stream("POST", url, json=listen, headers=modern, timeout=60) as answer:
                for line in answer.iter_lines():
                    heard.append(line)
                    if "subscriptions/acknowledged" in line:
                        acknowledged.set()
            heard.append("ended")

        threads = [threading.Thread(target=ask, daemon=True), threading.Thread(target=hear, daemon=True)]
        for thread in threads:
            thread.start()
        assert progressed.wait(timeout=30), said
        assert acknowledged.wait(timeout=30), heard
        code, _, err = server.terminate()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for running in (server, emulator):
            if running.process.poll() is None:
                running.process.kill()
            running.ended()  # its pipes closed
    (result,) = [json.loads(line[6:]) for line in said if line.startswith("data: ") and '"result"' in line]
    assert result["result"]["structuredContent"]["status"] == "done"
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 1
    assert heard[-1] == "ended", "the listen stream closed whole"
    assert code == -signal.SIGTERM
    assert "Traceback" not in err
    assert "ERROR" not in err


def test_ctrl_c_stops_the_demo_with_one_line(tmp_path: Path) -> None:
    running = Running(["demo", "--output-dir", str(tmp_path)], clean_env())
    running.wait_for(lambda: any(line.startswith("tools:") for line in running.lines("out")))
    code, _, err = running.interrupt()
    assert (code, err) == (130, STOPPED + "\n")


def test_ctrl_c_at_the_live_demos_question_stops_it_at_once_spending_nothing(tmp_path: Path) -> None:
    port = free_port()
    runware = Running(["emulator", "--port", str(port), "--api-key", "sk-demo-test"], clean_env())
    runware.wait_for(lambda: any("Runware emulator: POST tasks to" in line for line in runware.lines()))
    terminal, attached = pty.openpty()
    try:
        env = clean_env(RUNWARE_API_KEY="sk-demo-test", RUNWARE_BASE_URL=f"http://127.0.0.1:{port}/v1")
        env["IDEOGRAM_MCP_DATA_DIR"] = str(tmp_path)
        running = Running(["demo", "--output-dir", str(tmp_path / "out")], env, stdin=attached)
        running.wait_for(lambda: "Press Enter to go on, Ctrl-C to stop: " in "".join(running.out))  # at the question
        code, _, err = running.interrupt()
    finally:
        os.close(terminal)
        os.close(attached)
        runware.interrupt()
    assert (code, err) == (130, STOPPED + "\n")
    assert not (tmp_path / "out").exists()


def _demo(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The demo command run to its end, as a person runs it, its output kept."""
    return subprocess.run(
        [COMMAND, "demo", *arguments], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_with_saving_off_the_demo_gives_the_urls_and_ends_well(tmp_path: Path) -> None:
    # A blank log level (as unset) leaves the demo's own quiet one: the server's INFO lines had come.
    # A misspelt variable is told once: the server the demo starts had told it a second time.
    env = clean_env(IDEOGRAM_MCP_SAVE="false", IDEOGRAM_MCP_DATA_DIR=str(tmp_path), IDEOGRAM_MCP_LOG_LEVEL="")
    env["IDEOGRAM_MCP_SAVE_IMAGES"] = "false"
    done = _demo(["--offline", "--output-dir", str(tmp_path / "out")], env)
    assert done.returncode == 0, done.stderr
    assert " INFO " not in done.stderr
    assert done.stderr.count("IDEOGRAM_MCP_SAVE_IMAGES is no setting of this server") == 1
    assert re.search(r"^generate_image poster #1: .* -> not saved: http://127\.0\.0\.1:\d+/", done.stdout, re.M)
    assert "resources/list -> 0 saved image(s)\n" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "done: 3 images, not saved (IDEOGRAM_MCP_SAVE is false: their URLs are above), "
        "total cost $0.18 (emulated: nothing was charged)"
    )


def test_the_offline_setting_makes_the_demo_offline_though_a_key_is_set(tmp_path: Path) -> None:
    # It had said "LIVE Runware API" and "this will spend $0.18 of real Runware credit" (and in a terminal waited
    # for Enter), while the emulator made the images.
    env = clean_env(
        RUNWARE_API_KEY="sk-not-a-real-key", IDEOGRAM_MCP_OFFLINE="true", IDEOGRAM_MCP_DATA_DIR=str(tmp_path)
    )
    done = _demo(["--output-dir", str(tmp_path / "out")], env)
    assert done.returncode == 0, done.stderr
    assert "real Runware credit" not in done.stdout
    assert done.stdout.splitlines()[-1].endswith("total cost $0.18 (emulated: nothing was charged)")


def test_a_spend_limit_that_refuses_the_demo_stops_it_in_one_line_before_it_sends_anything(tmp_path: Path) -> None:
    # Its dry runs' refusal had ended the demo in a 60-line traceback (KeyError: 'requested').
    env = clean_env(IDEOGRAM_MCP_DAILY_BUDGET="0.1", IDEOGRAM_MCP_DATA_DIR=str(tmp_path))
    done = _demo(["--offline", "--output-dir", str(tmp_path / "out")], env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("stopped before anything was sent: ")
    assert "IDEOGRAM_MCP_DAILY_BUDGET" in last
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_written_stops_the_demo_before_it_pays(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "out"
    done = _demo(["--offline", "--output-dir", str(out)], clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path)))
    assert done.returncode == 1, done.stderr
    # Said by the dry runs, before any call: the demo had gone on to its first call (with a key, to its question
    # about the spend first), which the server then refused.
    assert done.stdout.splitlines()[-1] == (
        "stopped before anything was sent: This call would make 1 image with Ideogram 3.0 at 832x1248 for $0.06. "
        f"Images cannot be saved in {out}: a file (not a folder) stands in its path, so the call as it is would be "
        "refused: have the user set IDEOGRAM_MCP_OUTPUT_DIR (or the --output-dir the server is started with, which "
        "comes first) to a folder this server can write (or IDEOGRAM_MCP_SAVE=false to keep only the image URLs)."
    )
    assert "generate_image poster" not in done.stdout


def test_the_demo_saves_where_the_output_folder_setting_says_and_stops_in_a_line_where_no_folder_can_be_followed(
    tmp_path: Path,
) -> None:
    # Found by an audit: the demo had saved in ./ideogram-output whatever IDEOGRAM_MCP_OUTPUT_DIR said (and, that
    # folder unwritable, told the user to set the variable they had set); "~nobody/x" had ended in a traceback.
    out = tmp_path / "set"
    done = _demo(["--offline"], clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path), IDEOGRAM_MCP_OUTPUT_DIR=str(out)))
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.png")) + list(out.glob("*.jpg"))) == 3
    done = _demo(["--offline", "--output-dir", "~no-such-user-x/out"], clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1].startswith(
        "stopped before anything was sent: the output folder ~no-such-user-x/out cannot be followed ("
    )


def test_a_user_with_no_home_folder_is_told_what_to_set_at_the_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Found by an audit: with HOME unset and no entry in the system's user list (a service's made-up uid), every
    # call had been "an internal error" on stdio, and ideogram-mcp http had ended in a traceback.
    def nowhere() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(nowhere))
    monkeypatch.delenv("IDEOGRAM_MCP_OUTPUT_DIR", raising=False)
    monkeypatch.setenv("IDEOGRAM_MCP_DATA_DIR", str(tmp_path))
    said = (
        "ideogram-mcp: this user has no home folder (HOME is unset, and the system names none), where images and "
        "the task journal go by default; set HOME, or IDEOGRAM_MCP_OUTPUT_DIR and IDEOGRAM_MCP_DATA_DIR\n"
    )
    assert _exit([], capsys) == (2, "", said)
    assert _exit(["http", "--offline"], capsys) == (2, "", said)
    # The folder the demo is given is the one its server saves in: no home needed then (found by a review).
    monkeypatch.setattr("ideogram_mcp.demo.run", lambda *_: _ran())
    assert _exit(["demo", "--offline", "--output-dir", str(tmp_path / "out")], capsys) == (0, "", "")


async def _ran() -> int:
    return 0


def test_an_output_folder_given_as_the_option_is_named_as_the_option_when_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IDEOGRAM_MCP_OUTPUT_DIR", raising=False)
    code, out, err = _exit(["--output-dir", "~no-such-user-x/out"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("ideogram-mcp: bad configuration: --output-dir: "), err  # had named the variable, unset


@pytest.mark.parametrize("loaded", ["ideogram_mcp.start", "mcp_types"])
def test_ctrl_c_while_the_program_is_still_loading_prints_the_same_one_line(loaded: str) -> None:
    # The command is ideogram_mcp.start:main, which sets the handler before it loads the SDK (about 0.5 s).
    # Python reports each import as it ends (PYTHONPROFILEIMPORTTIME): Ctrl-C comes once this one has loaded.
    running = Running(["--offline"], clean_env(PYTHONPROFILEIMPORTTIME="1"))
    running.wait_for(lambda: any(line.split("|")[-1].strip() == loaded for line in running.lines()))
    code, out, err = running.interrupt()
    assert (code, out) == (130, "")
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if not line.startswith("import time:")] == [STOPPED]


def test_output_dir_before_the_http_command_is_where_its_workers_save(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out"
    running = Running(
        ["--output-dir", str(out), "http", "--offline", "--port", str(port)],
        clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path / "data")),
    )
    running.listening()

    async def generate() -> None:
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as mcp,
        ):
            assert not (await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "here"})).is_error

    try:
        anyio.run(generate)
    finally:
        running.interrupt()
    assert sorted(p.name for p in out.iterdir()) == ["here.jpg", "here.json"]


def test_ctrl_c_while_loading_is_left_alone_when_the_command_was_told_to_ignore_it() -> None:
    # A shell's background job starts with SIGINT ignored (inherited): Ctrl-C in the terminal must not stop it.
    def ignoring() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    started = subprocess.Popen(
        [COMMAND, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=clean_env(PYTHONPROFILEIMPORTTIME="1"), start_new_session=True, preexec_fn=ignoring,
    )  # fmt: skip
    assert started.stderr is not None
    for line in iter(started.stderr.readline, b""):  # until start has loaded and is loading the rest
        if line.decode().rstrip().split("|")[-1].strip() == "ideogram_mcp.start":
            break
    os.killpg(started.pid, signal.SIGINT)
    out, err = started.communicate(timeout=60)
    assert (started.returncode, out.decode()) == (0, "ideogram-mcp 0.1.0\n")
    assert [line for line in err.decode().splitlines() if not line.startswith("import time:")] == []


def test_started_by_hand_in_a_terminal_the_stdio_server_says_it_waits_for_a_client() -> None:
    terminal, attached = pty.openpty()
    try:
        running = Running([], clean_env(), stdin=attached)
        running.wait_for(lambda: len(running.lines()) >= 2)
        code, _, err = running.interrupt()
    finally:
        os.close(terminal)
        os.close(attached)
    assert code == 130
    assert err.splitlines()[0] == (
        "ideogram-mcp: serving MCP on stdio and waiting for an MCP client; this command is meant to be started by one "
        "(see the README). To try it by hand: ideogram-mcp demo. Ctrl-C stops."
    )


# --- the demo's spend -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_with_a_key_the_demo_says_what_it_will_spend_before_it_spends(tmp_path: Path) -> None:
    emulator = Emulator(api_key="sk-demo-test")
    with anyio.fail_after(120):
        async with emulator.served() as url:
            env = clean_env(RUNWARE_API_KEY="sk-demo-test", RUNWARE_BASE_URL=url, IDEOGRAM_MCP_DATA_DIR=str(tmp_path))
            done = await anyio.run_process(
                [COMMAND, "demo", "--output-dir", str(tmp_path / "out")], env=env, check=False
            )
    lines = done.stdout.decode().splitlines()
    said = lines.index("cost: this will spend $0.18 of real Runware credit on 3 images")
    first_spend = next(n for n, line in enumerate(lines) if line.startswith("generate_image poster #1"))
    assert done.returncode == 0, done.stderr.decode()
    assert lines[0] == "ideogram-mcp demo (LIVE Runware API)"
    assert said < first_spend
    assert emulator.charged == pytest.approx(0.18)
    # The quotes were dry runs: the only tasks that reached Runware are the two generations.
    assert [(t["taskType"], t.get("numberResults", 1)) for t in emulator.submitted] == [
        ("imageInference", 1),
        ("imageInference", 2),
    ]


@pytest.mark.anyio
async def test_the_demo_fails_when_an_image_it_made_was_not_saved(tmp_path: Path) -> None:
    emulator = Emulator(api_key="sk-demo-test")
    runware = emulator.app()

    async def images_gone(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/image/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await runware(scope, receive, send)

    with anyio.fail_after(120):
        async with serving(images_gone) as root:
            env = clean_env(
                RUNWARE_API_KEY="sk-demo-test", RUNWARE_BASE_URL=f"{root}/v1", IDEOGRAM_MCP_DATA_DIR=str(tmp_path)
            )
            done = await anyio.run_process(
                [COMMAND, "demo", "--output-dir", str(tmp_path / "out")], env=env, check=False
            )
    last = done.stdout.decode().splitlines()[-1]
    assert done.returncode == 1, done.stderr.decode()
    assert last == (
        f"failed: 3 images were made, 0 saved in {(tmp_path / 'out').resolve()}/ (the lines above say why); cost $0.18"
    )


@pytest.mark.parametrize(
    "variable", ["IDEOGRAM_MCP_DAILY_BUDGET", "IDEOGRAM_MCP_MAX_COST_PER_CALL", "IDEOGRAM_MCP_CONFIRM_ABOVE"]
)
@pytest.mark.parametrize("value", ["inf", "Infinity"])
def test_an_infinite_spend_limit_stops_the_start_rather_than_lifting_the_limit(
    variable: str, value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert _exit([], capsys) == (
        2,
        "",
        f"ideogram-mcp: bad configuration: {variable}: Input should be a finite number\n",
    )


def test_a_state_key_one_character_short_stops_the_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_STATE_KEYS", f"{'a' * 32}, {'b' * 31}")
    assert _exit([], capsys) == (
        2,
        "",
        "ideogram-mcp: bad configuration: IDEOGRAM_MCP_STATE_KEYS: key 2 has fewer than 32 characters; make each with: "
        'python3 -c "import secrets; print(secrets.token_hex(32))"\n',
    )


@pytest.mark.parametrize("value", ["s3:///images", "s3://", "images/x"])
def test_a_bucket_url_naming_no_bucket_stops_the_start(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_STORAGE_URL", value)
    assert _exit([], capsys) == (
        2,
        "",
        f"ideogram-mcp: bad configuration: IDEOGRAM_MCP_STORAGE_URL: {value!r} is not a bucket URL; write it as "
        "s3://bucket or s3://bucket/prefix (or leave it unset to save images in the output folder)\n",
    )


def test_a_bucket_whose_name_or_endpoint_no_request_can_carry_stops_the_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by an audit: each had made obstore's Rust panic (a BaseException no handler took), a traceback at the
    # start of ideogram-mcp http and, on stdio, a server that died at its first generate_image.
    monkeypatch.setenv("IDEOGRAM_MCP_STORAGE_URL", "s3://Bad Bucket/p")
    assert _exit([], capsys) == (
        2,
        "",
        "ideogram-mcp: bad configuration: IDEOGRAM_MCP_STORAGE_URL: 'Bad Bucket' is no bucket's name: a bucket is "
        "named with letters, digits, '.', '-' and '_' only\n",
    )
    monkeypatch.setenv("IDEOGRAM_MCP_STORAGE_URL", "s3://images/p")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:9000")
    assert _exit([], capsys) == (
        2,
        "",
        "ideogram-mcp: bad configuration: AWS_ENDPOINT_URL: '127.0.0.1:9000' is not an http:// or https:// URL, which "
        "the bucket of IDEOGRAM_MCP_STORAGE_URL is reached at; write it in full, with the scheme, such as "
        "http://127.0.0.1:9000\n",
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    for name, value in [
        ("AWS_ENDPOINT", "127.0.0.1:9000"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/s3 gate"),
        ("AWS_ENDPOINT_URL_S3", "127.0.0.1:9000"),  # the name obstore reads first (a review)
    ]:
        monkeypatch.setenv(name, value)  # obstore's other names for it, and a space: each had panicked too (a review)
        code, _, err = _exit([], capsys)
        assert code == 2
        assert err.startswith(f"ideogram-mcp: bad configuration: {name}: "), err
        monkeypatch.delenv(name)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_TOKEN", "AWS_REGION"):
        monkeypatch.setenv(name, "sEcReT-vAlUe\n")  # from an env file or a secret, its line break kept (a review)
        assert _exit([], capsys) == (
            2,
            "",
            f"ideogram-mcp: bad configuration: {name}: holds a line break or another control character (copied from "
            "a file?): no request carries one; remove it\n",
        )
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:9000")
    monkeypatch.delenv("IDEOGRAM_MCP_STORAGE_URL")
    assert Settings().aws_endpoint_url == "127.0.0.1:9000", "without a bucket, another tool's setting is let be"
    assert "AWS_ENDPOINT_URL |" not in "\n".join(f"{v.name} |" for v in variables()), "not one of this server's"


@pytest.mark.parametrize("value", ["1e-400", "0.5e-330"])
def test_a_daily_budget_that_only_reads_as_zero_stops_the_start_rather_than_lifting_the_limit(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0 means no limit: a budget of almost nothing had read as 0 and lifted it (seen by a mutation audit).
    monkeypatch.setenv("IDEOGRAM_MCP_DAILY_BUDGET", value)
    code, out, err = _exit([], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "ideogram-mcp: bad configuration: IDEOGRAM_MCP_DAILY_BUDGET: it reads as 0, which means no limit; give the "
        "dollars a day may cost, such as 10\n"
    )


@pytest.mark.parametrize("value", ["0", "0.0", " 00 ", "-0"])
def test_a_daily_budget_written_as_zero_lifts_the_limit(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_DAILY_BUDGET", value)
    assert Settings().daily_limit is None
