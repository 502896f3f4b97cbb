"""The layers of docs/architecture.md hold: imports only go down, no cycles, no TensorFlow in
validation, modules stay small; and its module map names every module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vl3d_focal"

LAYERS: list[set[str]] = [
    {"cli", "cli_listing", "__main__"},
    {"runner"},
    {"steps"},
    {"config"},
    {"training", "inference"},
    {"reports"},
    {"models", "losses"},
    {"data", "io"},
    {"registry", "plugins", "lazy", "errors", "progress", "schema_annotations", "wording", "__init__"},
]
"""Top to bottom; a module may import its own layer and the layers below."""


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else "__init__"
    for index, members in enumerate(LAYERS):
        if part in members:
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Every vl3d_focal module ``path`` imports, at any depth (type-checking imports too)."""
    modules = _modules()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module}: relative import"
            for alias in node.names:  # "from package import submodule" imports the submodule
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in modules else node.module)
    return {name for name in names if name in modules and name not in ("vl3d_focal", module)}


def test_every_module_is_in_a_layer():
    for module in _modules():
        if module != "vl3d_focal":
            _layer(module)


def test_imports_only_go_down_the_layers():
    upward = []
    for module, path in _modules().items():
        if module == "vl3d_focal":
            continue
        for imported in _imports(path, module):
            if _layer(imported) < _layer(module):
                upward.append(f"{module} imports {imported}")
    assert upward == []


REFERENCE = re.compile(r"vl3d_focal(?:\.\w+)+(?::[\w.]+)?")
"""A string naming a module of the package (``"vl3d_focal.x.y"``, ``"vl3d_focal.x.y:attr"``)."""
REGISTRATION = {"builtins", "entry_point_group"}
"""The keywords of a registry (``registry.py``) that name the modules and the entry-point groups
that register into it: the one place where a lower layer names the higher ones."""


def _references(path: Path) -> set[str]:
    """Every string of ``path`` that names a vl3d_focal module (a lazy reference, imported when
    used), docstrings and a registry's :data:`REGISTRATION` aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for keyword in ast.walk(tree):
        if isinstance(keyword, ast.keyword) and keyword.arg in REGISTRATION:
            skipped.update(id(node) for node in ast.walk(keyword.value))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
        if REFERENCE.fullmatch(node.value)
    }


def test_strings_name_no_module_of_a_higher_layer():
    """A ``"module:attr"`` reference (a registry entry's builder, loader, trainer...) is an import
    made later: it goes down the layers too."""
    modules = _modules()
    upward = []
    for module, path in modules.items():
        for reference in _references(path):
            top = ".".join(reference.partition(":")[0].split(".")[:2])  # its layer's package or module
            if module != "vl3d_focal" and top in modules and _layer(top) < _layer(module):
                upward.append(f"{module} names {reference!r}")
    assert upward == []


def test_no_import_cycles():
    graph = {module: _imports(path, module) for module, path in _modules().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_module_map_names_every_module():
    """docs/architecture.md's module map names every module file by its path in the package
    (a package's ``__init__.py`` is its section's heading)."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    files = {path.relative_to(PACKAGE).as_posix() for path in _modules().values()}
    packages = {Path(name).parent.as_posix() for name in files if Path(name).parent.as_posix() != "."}
    missing = sorted(name for name in files if Path(name).name != "__init__.py" and f"`{name}`" not in text)
    assert missing == [], f"add them to the module map of docs/architecture.md: {missing}"
    assert sorted(p for p in packages if f"### `{p}/`" not in text) == []
    named = set(re.findall(r"^\| `([\w/]+\.py)` \|", text, re.M))
    assert sorted(named - files) == [], "the module map names files that are gone"


def test_modules_stay_under_400_lines():
    long = {
        module: n
        for module, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "--no-check-files", "examples/ign_train.json"],
        ["list", "losses"],
        ["list", "steps"],
        ["schema"],
        ["init"],
    ],
)
def test_commands_other_than_run_import_no_tensorflow(command, repo_root):
    code = (
        "import sys\nfrom vl3d_focal.cli import main\nstatus = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'matplotlib'))\n"
        "print('HEAVY', heavy)\nsys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *command], cwd=repo_root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
