"""The layout rules: the layers in layers.toml hold for every import in src/daqflow, lazy ones
included; core's modules import each other without cycles; no module is over 600 lines."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "daqflow"
TOP = "(top)"


def layer_ranks(rules: dict) -> dict[str, tuple[int, str]]:
    """Package -> (rank from the bottom, layer name)."""
    return {package: (rank, layer["name"])
            for rank, layer in enumerate(rules["layer"]) for package in layer["packages"]}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of each daqflow module ``path`` imports."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    package = parts[:-1]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [(node.lineno, n) for n in names if n == "daqflow" or n.startswith("daqflow.")]
    return found


def package_of(module: str, root: Path) -> str:
    """The daqflow package a module belongs to; modules directly in daqflow are the face."""
    parts = module.split(".")
    if len(parts) < 2 or not (root / parts[1]).is_dir():
        return TOP
    return parts[1]


def layer_violations(root: Path, rules: dict) -> list[str]:
    ranks = layer_ranks(rules)
    problems = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        own = package_of(module, root)
        if own not in ranks:
            problems.append(f"{path.relative_to(root.parent)}: package {own!r} is on no layer")
            continue
        for line, target in imports_of(path, root):
            other = package_of(target, root)
            if other == own or other not in ranks:
                continue
            if ranks[other][0] >= ranks[own][0]:
                problems.append(
                    f"{path.relative_to(root.parent)}:{line} imports {target} (layer "
                    f"{ranks[other][1]!r}): {own!r} is on layer {ranks[own][1]!r}, and imports "
                    "only layers below it")
    return problems


def private_reaches(root: Path, rules: dict) -> list[str]:
    """Imports of core's private modules from packages that must use its faces."""
    faces = {f"daqflow.{m}" for m in rules["core_faces"]["modules"]}
    problems = []
    for package in rules["core_faces"]["packages"]:
        for path in sorted((root / package).rglob("*.py")):
            for line, target in imports_of(path, root):
                module = ".".join(target.split(".")[:3])
                if target.startswith("daqflow.core.") and module not in faces and target not in faces:
                    problems.append(f"{path.relative_to(root.parent)}:{line} imports {target}: "
                                    f"{package!r} reaches core through {sorted(faces)}")
    return problems


def module_cycles(package: Path) -> list[list[str]]:
    """Import cycles between the modules of one package (strongly connected components)."""
    root = package.parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        name = f"{package.name}.{path.stem}"
        targets = {t.split(".")[2] for _, t in imports_of(path, root)
                   if t.startswith(f"daqflow.{package.name}.") and t.count(".") >= 2}
        graph[name] = {f"{package.name}.{t}" for t in targets if (package / f"{t}.py").is_file()}
        graph[name].discard(name)
    graph.pop(f"{package.name}.__init__", None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_every_import_respects_the_layers():
    rules = tomllib.loads((ROOT / "layers.toml").read_text())
    assert layer_violations(SOURCE, rules) == []


def test_the_library_reaches_core_only_through_its_faces():
    rules = tomllib.loads((ROOT / "layers.toml").read_text())
    assert private_reaches(SOURCE, rules) == []


def test_core_modules_import_each_other_without_cycles():
    assert module_cycles(SOURCE / "core") == []


def test_the_checks_catch_a_lazy_import_upwards_and_a_cycle(tmp_path):
    """On a small tree made to break the rules: both checks see it (so they can fail)."""
    root = tmp_path / "daqflow"
    for package in ("core", "net"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("from . import net\n")
    (root / "core" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..net import x  # annotations only: allowed\n"
        "def f():\n    from daqflow.net.partition import P  # lazy, upwards\n    from .b import g\n")
    (root / "core" / "b.py").write_text("from .a import f\n")
    (root / "net" / "partition.py").write_text("from ..core.a import f\n")
    rules = tomllib.loads('[[layer]]\nname = "core"\npackages = ["core"]\n'
                          '[[layer]]\nname = "apps"\npackages = ["net"]\n'
                          '[[layer]]\nname = "face"\npackages = ["(top)"]\n')
    problems = layer_violations(root, rules)
    assert len(problems) == 1 and "core/a.py:5 imports daqflow.net.partition" in problems[0]
    assert module_cycles(root / "core") == [["core.a", "core.b"]]
    (root / "dsp").mkdir()
    (root / "dsp" / "fir.py").write_text("from ..core import a\nfrom ..core.authoring import x\n"
                                         "from ..core.b import g\n")
    rules["core_faces"] = {"modules": ["core", "core.authoring"], "packages": ["dsp"]}
    reaches = private_reaches(root, rules)
    assert len(reaches) == 1 and "dsp/fir.py:3 imports daqflow.core.b" in reaches[0]


MAX_LINES = 600  # a module over this does several jobs: split it along its seams


def test_no_module_is_over_600_lines():
    long = {str(path.relative_to(SOURCE.parent)): n for path in SOURCE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
