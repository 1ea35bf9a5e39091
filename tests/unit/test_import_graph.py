"""The SDK's modules import one way: the wire contract at the bottom, the clients at the top.

Read from the source: every ``import`` of a ``vilnius_client`` module, wherever it
stands (also inside a function, so that a cycle hidden by a late import is found
too), but for those under ``if TYPE_CHECKING:``, which exist for annotations only.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vilnius_client"

#: Modules that import nothing of the SDK but these (the bottom layer).
BOTTOM = {
    "vilnius_client._timestamps": set(),
    "vilnius_client.errors": set(),
    "vilnius_client.events": {"vilnius_client._timestamps"},
}

#: The top: nothing of the SDK may import these (but the package itself and its add-ons).
TOP = {"vilnius_client.agent", "vilnius_client.customer"}
ADD_ONS = (
    "vilnius_client.sim",
    "vilnius_client.testing",
    "vilnius_client._scripts",
    "vilnius_client.run",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _outside_type_checking(tree: ast.Module) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    nodes: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            ):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return nodes


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _outside_type_checking(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("vilnius_client"):
                continue
            if node.module is None:  # ``from . import _rpc``: modules, not the package
                found.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("vilnius_client"))
    return {target for target in found if target != name}


GRAPH = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_there_is_no_import_cycle() -> None:
    try:
        order = list(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as exc:  # pragma: no cover - the failure message
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
    assert order


@pytest.mark.parametrize("module", sorted(BOTTOM))
def test_the_wire_contract_is_at_the_bottom(module: str) -> None:
    assert GRAPH[module] <= BOTTOM[module]


def test_nothing_below_imports_the_clients() -> None:
    for module, targets in GRAPH.items():
        if module == "vilnius_client" or module.startswith(ADD_ONS) or module in TOP:
            continue
        assert not targets & TOP, f"{module} imports {targets & TOP}"
