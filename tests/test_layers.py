"""The package's layers, read from the source with ``ast``: no import circle, no
import upward between layers, no service package importing another, no
function-level import of the package's own modules, no underscore name taken
from another module (tests and benchmarks included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_leadpixel"
NAME = "django_leadpixel"

# Lowest first; a module may import from its own layer or any layer below.
LAYERS = {
    0: ("conf", "signals", "exceptions", "addresses", "caching"),
    1: ("sources", "tokens", "ranges", "useragents", "classify", "enrichment", "linkrewrite",
        "request", "lint", "visits"),
    2: ("models", "sql"),
    3: ("history",),
    4: ("ingest", "jobs", "reports", "documents", "mail"),
    5: ("views", "urls", "admin", "api", "templatetags", "management", "tasks", "beat",
        "checks", "apps", "middleware"),
}
SERVICES = LAYERS[4]
# What the pure layers must never import (DESIGN "Layout").
PURE_FORBIDDEN = ("django.db", "celery", f"{NAME}.models")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))
            if "migrations" not in path.parts}


MODULES = package_modules()


def top(module: str) -> str:
    """``django_leadpixel.ingest.record`` -> ``ingest``; the package root -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    name = top(module)
    if not name:
        return 0
    for number, names in LAYERS.items():
        if name in names:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path):
    """(imported module, names, line, at module level, in TYPE_CHECKING) for each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checking = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checking.update(id(child) for child in ast.walk(node))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno, id(node) in top_level, id(node) in checking
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, path, node)
            names = [alias.name for alias in node.names]
            yield target, names, node.lineno, id(node) in top_level, id(node) in checking


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for target, names, _line, _top, checking in imports(module, path):
            if checking or not target.startswith(NAME):
                continue
            # ``from . import x`` imports the submodule x when there is one.
            subs = [f"{target}.{name}" for name in names if f"{target}.{name}" in MODULES]
            for dependency in subs or [target]:
                if dependency in MODULES and dependency != module:
                    graph[module].add(dependency)
    return graph


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer(module)


def test_no_import_circle():
    graph = edges()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_imports_only_go_down():
    wrong = []
    for module, dependencies in edges().items():
        for dependency in dependencies:
            if dependency in (f"{NAME}", module.rsplit(".", 1)[0]) and dependency != NAME:
                continue  # a package's own __init__ re-exporting its modules
            if layer(dependency) > layer(module):
                wrong.append(f"{module} (layer {layer(module)}) imports {dependency} "
                             f"(layer {layer(dependency)})")
            elif (layer(module) == 4 and layer(dependency) == 4
                  and top(module) != top(dependency)):
                wrong.append(f"service {top(module)} imports service {top(dependency)}")
    assert not wrong, "\n".join(sorted(wrong))


def test_pure_layers_use_no_database_and_no_celery():
    wrong = []
    for module, path in MODULES.items():
        if layer(module) > 1:
            continue
        for target, names, line, _top, checking in imports(module, path):
            full = [target] + [f"{target}.{name}" for name in names]
            if not checking and any(name.startswith(PURE_FORBIDDEN) for name in full):
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_function_level_import_of_the_package():
    wrong = []
    for module, path in MODULES.items():
        if module == f"{NAME}.apps":
            continue  # AppConfig.ready() is where Django lets an app import its models' users
        for target, _names, line, at_top, checking in imports(module, path):
            if target.startswith(NAME) and not at_top and not checking:
                wrong.append(f"{module}:{line} imports {target} inside a function")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("tree", ["django_leadpixel", "tests", "benchmarks", "example_project"])
def test_no_underscore_name_is_taken_from_another_module(tree):
    wrong = []
    for path in sorted((ROOT / tree).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = module_name(path)
        for target, names, line, _top, _checking in imports(module, path):
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} takes {target}.{name}")
    assert not wrong, "\n".join(wrong)
