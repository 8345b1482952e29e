"""The house's rules, read from the source: modules of one job each, no import cycle, and each layer importing only
the layers below it (``../shared/ARCHITECTURE.md``)."""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "server"
PACKAGE = "ideogram_mcp"
LONGEST = 450
"""Lines a module may have; past about 400 it holds two jobs."""

BELOW_MCP = ("tasks", "runware", "journal", "images", "specs", "arguments", "files", "clock", "money", "text")
"""The layers under the tools: they run under any front end, so none imports the MCP SDK."""
ABOVE = {
    "runware": ("tasks", "tools", "server", "http", "cli", "journal", "images"),
    "journal": ("tasks", "tools", "server", "http", "cli", "runware"),
    "images": ("tasks", "tools", "server", "http", "cli", "journal"),
    "specs": ("tasks", "tools", "server", "http", "cli", "runware", "journal", "images", "arguments"),
    "arguments": ("tasks", "tools", "server", "http", "cli", "runware", "journal", "images"),
    "tasks": ("tools", "server", "http", "cli"),
    "tools": ("server", "http", "cli"),
    "clock": ("tasks", "tools", "runware", "journal", "images", "specs", "arguments", "server"),
}
"""For each layer, the layers above it, which it may not import."""


def _name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted((SOURCE / PACKAGE).rglob("*.py"))}


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _statements(body: list[ast.stmt], *, deep: bool) -> list[ast.stmt]:
    """The import statements run when the module runs (``deep``: those inside functions too), never those only a
    type checker reads."""
    found: list[ast.stmt] = []
    for node in body:
        if _type_checking(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if deep:
                found += _statements(node.body, deep=deep)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    found += _statements([child], deep=deep)
            for handler in getattr(node, "handlers", []):
                found += _statements(handler.body, deep=deep)
    return found


@functools.cache
def _imports(module: str, *, deep: bool) -> frozenset[str]:
    """The modules ``module`` imports: ours by their full names (a submodule named as ``from package import
    submodule`` counts as the submodule), others by their top-level name."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")).body, deep=deep):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
            continue
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, *([base] if base else [])])
        submodules = {f"{base}.{alias.name}" for alias in node.names} & _modules().keys()
        found |= submodules if len(submodules) == len(node.names) else {base, *submodules}
    return frozenset(name if name.startswith(PACKAGE) else name.split(".")[0] for name in found)


def _layer(module: str) -> str:
    return module.removeprefix(f"{PACKAGE}.").split(".")[0]


def test_modules_are_found() -> None:
    assert {"ideogram_mcp.tasks.life", "ideogram_mcp.runware.delivery", "ideogram_mcp.server"} <= _modules().keys()


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_holds_two_jobs(module: str) -> None:
    lines = len(_modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= LONGEST, f"{module} has {lines} lines: split it by job"


@pytest.mark.parametrize("deep", [False, True], ids=["at-import", "in-functions-too"])
def test_no_import_cycle(deep: bool) -> None:
    graph = {
        module: {other for other in _imports(module, deep=deep) if other in _modules() and other != module}
        for module in _modules()
    }
    for module in list(graph):  # a package's __init__ re-exports its modules; importing one loads it first
        if module.count(".") > 1 and (package := module.rpartition(".")[0]) in graph:
            graph[module].discard(package)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


@pytest.mark.parametrize("module", [m for m in sorted(_modules()) if _layer(m) in BELOW_MCP])
def test_the_layers_under_the_tools_know_no_mcp(module: str) -> None:
    assert not {"mcp", "mcp_types"} & _imports(module, deep=True)


@pytest.mark.parametrize("module", [m for m in sorted(_modules()) if _layer(m) in ABOVE])
def test_a_layer_imports_none_above_it(module: str) -> None:
    above = {f"{PACKAGE}.{layer}" for layer in ABOVE[_layer(module)]}
    wrong = {
        other for other in _imports(module, deep=True) if any(other == a or other.startswith(a + ".") for a in above)
    }
    assert not wrong, f"{module} imports {sorted(wrong)}, a layer above it"


def test_only_the_offline_mode_imports_the_emulator() -> None:
    users = {
        module
        for module in _modules()
        if _layer(module) != "emulator" and any(_layer(m) == "emulator" for m in _imports(module, deep=True))
    }
    assert users == {f"{PACKAGE}.cli"}


def test_a_forbidden_import_is_seen() -> None:
    """The checks above can fail: an import of MCP inside a function under ``tasks`` is found."""
    source = "def f():\n    from mcp import Client\n    import mcp_types\n"
    found = _statements(ast.parse(source).body, deep=True)
    assert [ast.unparse(node) for node in found] == ["from mcp import Client", "import mcp_types"]


def _own_loggers(module: str) -> list[str]:
    """Where ``module`` gets a logger of the standard library's itself (``logging.getLogger``, however imported)."""
    tree = ast.parse(_modules()[module].read_text())
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).rpartition(".")[2] == "getLogger"
    ]


@pytest.mark.parametrize("module", sorted(set(_modules()) - {f"{PACKAGE}.logs"}))
def test_every_module_logs_through_the_loggers_that_keep_the_key_out(module: str) -> None:
    """A host that embeds the server handles its logs with its own formatters: ``logs.logger`` blanks the key from
    each record as it is made, and a logger got otherwise would not."""
    assert not _own_loggers(module), f"{module}: use logs.logger(__name__)"


def test_a_logger_got_otherwise_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = tmp_path / "made.py"
    made.write_text(
        "import logging\nfrom logging import getLogger\na = logging.getLogger(__name__)\nb = getLogger('x')\n"
    )
    monkeypatch.setitem(_modules(), "made", made)
    assert _own_loggers("made") == ["logging.getLogger(__name__)", "getLogger('x')"]
