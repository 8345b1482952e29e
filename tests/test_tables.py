"""The README's tables from the specs: ``python -m ideogram_mcp.tables`` prints them, ``--write`` puts them in place."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ideogram_mcp.tables import in_place, tables


def _marked(name: str, table: str) -> str:
    return f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->"


def _tables_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ideogram_mcp.tables", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command_prints_every_table_between_its_markers() -> None:
    done = _tables_command()
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "".join(_marked(name, table) + "\n\n" for name, table in tables().items())


def test_write_replaces_each_table_in_place_and_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    names = list(tables())
    stale = "".join(f"Prose about {name}.\n{_marked(name, '| an | old | table |')}\nMore prose.\n" for name in names)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n" + stale + "The end.\n", encoding="utf-8")
    done = _tables_command("--write", str(readme))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    fresh = "".join(f"Prose about {name}.\n{_marked(name, table)}\nMore prose.\n" for name, table in tables().items())
    assert readme.read_text(encoding="utf-8") == "# Title\n" + fresh + "The end.\n"


def test_a_readme_without_a_tables_markers_is_refused_by_name() -> None:
    first = next(iter(tables()))
    said = f"the README has no <!-- {first}:start --> ... <!-- {first}:end --> markers"
    for readme in ("# A README with no tables\n", f"<!-- {first}:start -->\n| a table that never ends |\n"):
        with pytest.raises(ValueError, match=f"^{re.escape(said)}$"):
            in_place(readme)
