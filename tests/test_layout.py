"""The package's layout, read from the source with `ast` (no import is executed): no import cycles,
layers that point one way, a small root, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "agent_gym"

# (importer prefix, imported prefix): imports that must not exist, lazy ones included.
FORBIDDEN = [
    ("agent_gym.widgets", "agent_gym.envs"),
    ("agent_gym.widgets", "agent_gym.runner"),
    ("agent_gym.widgets", "agent_gym.train"),
    ("agent_gym.train", "agent_gym.widgets"),
    ("agent_gym.policies", "agent_gym.train"),  # token policies serve training, not the other way round
    ("agent_gym.runner", "agent_gym.train"),  # the one engine knows nothing of trainers
    ("agent_gym.types", "agent_gym"),
    ("agent_gym.errors", "agent_gym"),
]
LONG_MODULE_LINES = 350


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, modules: set[str], *, typing_only: bool) -> set[str]:
    """The agent_gym modules `path` imports: `from X import name` counts as X.name when that is a module.

    Imports inside functions count (a lazy import is still a dependency); those under
    `if TYPE_CHECKING:` count only with `typing_only`.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, executed: bool) -> None:
        for child in ast.iter_child_nodes(node):
            runs = executed and not (isinstance(child, ast.If) and _type_checking(child))
            if runs or typing_only:
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name.startswith("agent_gym"))
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = package.split(".")[: len(package.split(".")) - child.level + 1]
                        target = ".".join(base + ([child.module] if child.module else []))
                    else:
                        target = child.module or ""
                    if target.startswith("agent_gym"):
                        for alias in child.names:
                            sub = f"{target}.{alias.name}"
                            found.add(sub if sub in modules else target)
            visit(child, runs)

    visit(ast.parse(path.read_text()), True)
    found.discard(name)
    return found


def graph(*, typing_only: bool = False) -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports(path, set(modules), typing_only=typing_only) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_package_has_no_import_cycle():
    assert find_cycle(graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN)
def test_layers_point_one_way(importer, imported):
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in graph(typing_only=True).items() if within(source, importer)
        for target in targets if within(target, imported) and not (imported == "agent_gym" and within(target, importer))
    )
    assert wrong == []


def test_the_root_holds_at_most_12_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 12, root


def test_long_modules_say_why():
    long = []
    for name, path in all_modules().items():
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > LONG_MODULE_LINES and "one module because" not in doc:
            long.append(name)
    assert long == []


def test_the_public_face_is_small_and_grouped():
    import agent_gym

    names = [n for n in agent_gym.__all__ if n != "__version__"]
    assert len(names) <= 40
    assert all(hasattr(agent_gym, n) for n in names)
