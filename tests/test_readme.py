"""The README and the package stay true to the spec and to what CI runs."""

from __future__ import annotations

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
    assert demo.endswith("uv run --locked ideogram-mcp demo")
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
