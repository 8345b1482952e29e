"""The helpers that run the project's commands in processes of their own (``tests/processes.py``)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from . import processes


def test_free_ports_asked_for_in_a_row_are_never_one() -> None:
    ports = [processes.free_port() for _ in range(50)]
    assert len(set(ports)) == 50


def test_a_server_whose_port_was_taken_since_its_probe_is_started_on_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Another process bound the probed port first: the team's machines had failed to start ("address already in
    # use"), and their unclosed pipes failed a later test of the same worker.
    env = processes.clean_env(
        IDEOGRAM_MCP_TOKENS="t" * 32,
        IDEOGRAM_MCP_DATA_DIR=str(tmp_path / "data"),
        IDEOGRAM_MCP_OUTPUT_DIR=str(tmp_path / "out"),
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        given = iter([busy, processes.free_port()])
        monkeypatch.setattr(processes, "free_port", lambda: next(given))
        port, running = processes.serving(["--offline"], env)
        _, _, said = running.terminate()
    assert port != busy
    assert f"127.0.0.1:{port}/mcp" in said
    assert next(given, None) is None  # the taken port was tried first
