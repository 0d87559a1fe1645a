"""The package's imports point one way: no cycles, no lower layer importing a higher one.

Every import counts, at the top of a module or inside a function (a function-local import only
hides a cycle). Layers, lowest first, are in LAYERS; a module may import its own layer or lower.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfbert"

# Module prefix -> layer (the longest matching prefix decides).
LAYERS = {
    "tfbert.errors": 0,
    "tfbert.contract": 0,
    "tfbert.config": 0,
    "tfbert._quiet": 0,
    "tfbert.weights": 0,
    "tfbert.files": 0,
    "tfbert.pretrained": 0,
    "tfbert.text": 1,
    "tfbert.modeling": 2,
    "tfbert.data": 3,
    "tfbert.export": 4,
    "tfbert.serving": 4,
    "tfbert.tasks": 5,
    "tfbert.evaluation": 6,
    "tfbert.training": 7,
    "tfbert.cli": 8,
    "tfbert": 9,  # the package's face re-exports from every layer
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The tfbert modules `path` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # `from package import submodule` imports the submodule itself.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t == "tfbert" or t.startswith("tfbert."))
    return {t for t in found if t in known and t != name}


def _layer(name: str) -> int:
    prefix = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[prefix]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, set(modules)) for name, path in modules.items()}


def test_the_graph_is_read(graph: dict[str, set[str]]) -> None:
    # A reader that found nothing would pass every check below.
    assert len(graph) > 40
    assert "tfbert.modeling.bert" in graph["tfbert.tasks.classifier"]
    assert "tfbert.config" in graph["tfbert.modeling.bert"]


def test_no_lower_layer_imports_a_higher_one(graph: dict[str, set[str]]) -> None:
    upward = sorted(
        f"{name} (layer {_layer(name)}) imports {target} (layer {_layer(target)})"
        for name, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(name)
    )
    assert not upward, "\n".join(upward)


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_checker_finds_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    fake = {"tfbert.text.a": {"tfbert.tasks.b"}, "tfbert.tasks.b": {"tfbert.text.a"}}
    assert _layer("tfbert.text.a") < _layer("tfbert.tasks.b")
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tfbert.tasks import b\n", encoding="utf-8")
    known = {"tfbert.tasks", "tfbert.tasks.b"}
    assert _imports(module, "tfbert.text.m", known) == {"tfbert.tasks.b"}
    assert fake["tfbert.text.a"] & fake["tfbert.tasks.b"] == set()
