"""The official MCP Inspector CLI (TypeScript SDK) drives the server over HTTP, as an outside client would.

It needs Node 22 and the Inspector from the npm registry, which `.ci/node-tools.sh` puts in `.ci/node`
(CI runs it first). Without them the test is skipped, except under CI, where it must run.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .processes import missing, offline_http

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".ci" / "node" / "node_modules"
INSPECTOR = TOOLS / ".bin" / "mcp-inspector"
NODE_BIN = next(iter(sorted(TOOLS.glob("node-linux-*/bin"))), None)
TOKEN = "inspector-token-31415926"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    if not INSPECTOR.exists() or NODE_BIN is None:
        missing(
            "the MCP Inspector is not installed", "run bash .ci/node-tools.sh", in_ci=".ci/node-tools.sh installs it"
        )
    with offline_http(tmp_path, TOKEN) as url:
        yield url


def inspect(url: str, *arguments: str) -> Any:
    env = os.environ | {"PATH": f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(INSPECTOR), "--cli", url, "--header", f"Authorization: Bearer {TOKEN}", "--format", "json", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["result"]


def test_the_inspector_lists_the_tools_and_generates_an_image_over_http(server: str, tmp_path: Path) -> None:
    listed = inspect(server, "--method", "tools/list")
    made = inspect(
        server,
        *("--method", "tools/call", "--tool-name", "generate_image"),
        *("--tool-arg", 'positivePrompt=A neon sign reading "INSPECTED"', "--tool-arg", "aspectRatio=16:9"),
    )
    assert [tool["name"] for tool in listed["tools"]][:2] == ["generate_image", "remix_image"]
    assert len(listed["tools"]) == 10
    assert made["isError"] is False
    (image,) = made["structuredContent"]["images"]
    assert (image["width"], image["height"]) == (1312, 736)
    token_folder = next((tmp_path / "out").iterdir())  # over HTTP a path is relative to the token's own folder
    assert (token_folder / image["path"]).is_file()
    assert [block["type"] for block in made["content"]] == ["text", "image", "resource_link"]
