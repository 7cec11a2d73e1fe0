"""The package's import graph flows one way: no cycle (function-local imports included: a local import
is for start-up time, not for hiding a cycle); `analysis/` reads results and checkpoints but never the
run lifecycle (`runner`) or the suite, and nothing below it imports it; only the command line imports
`cocobench.cli`."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cocobench"

# Edges still waiting for their shared piece to move down, as (importer, imported), each with what removes it:
# suite.py runs a suite's `generate:` entries through `cocobench gen`'s commands, until the generator
# settings are declared in tasks/ (issue 25, generator settings) and the suite reads them from there.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_by_name(node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The modules an `importlib.import_module(...)` or `__import__(...)` call may load: its name, or for
    a name built at run time (a registry's f"cocobench.tasks.{name}"), every module its fixed start fits."""
    if not isinstance(node, ast.Call) or not node.args:
        return []
    function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    if function not in ("import_module", "__import__"):
        return []
    argument = node.args[0]
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return [argument.value]
    if isinstance(argument, ast.JoinedStr) and argument.values and isinstance(argument.values[0], ast.Constant):
        return [module for module in modules if module.startswith(argument.values[0].value)]
    return []


def import_graph() -> dict[str, set[str]]:
    """Each cocobench module -> the cocobench modules it imports anywhere in its body (a `from pkg
    import name` that names a submodule is an edge to that submodule; a registry loading its modules
    by name is an edge to each)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                targets = imported_by_name(node, modules)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importing module's package
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # `import cocobench.a.b` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def without_own_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Without the arrows from a module to the packages it lies in (`cocobench.cli.run` reading `app` from
    `cocobench.cli`): Python runs a package's __init__ before any of its modules, whatever they import,
    so a package that loads its modules to register them (the command line's commands) is no cycle."""
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_the_graph_is_read():
    graph = import_graph()
    assert "cocobench.runner" in graph["cocobench.cli.run"]
    assert "cocobench.engine" in graph["cocobench.train"]
    assert "cocobench.tasks" in graph["cocobench.evaluate"]  # a function-local import counts
    assert "cocobench.tasks.prontoqa" in graph["cocobench.tasks"]  # the registry loads its tasks by name


def test_no_import_cycle():
    found = cycles(without_own_packages(import_graph()))
    assert not found, "import cycles (move the shared piece down to a module both may import): " + "; ".join(" <-> ".join(c) for c in found)


def test_analysis_reads_neither_runner_nor_suite():
    graph = import_graph()
    wrong = sorted((name, target) for name, targets in graph.items() if name.startswith("cocobench.analysis")
                   for target in targets if target in ("cocobench.runner", "cocobench.suite"))
    assert not wrong, f"analysis/ imports the run lifecycle or the suite: {wrong}"


def test_the_analyses_are_read_from_above_only():
    """analysis/ reads results and checkpoints: the modules below it (evaluation, training, the runner,
    the suite) never import it; only the command line does."""
    graph = import_graph()
    wrong = sorted((name, target) for name, targets in graph.items() if not name.startswith(("cocobench.analysis", "cocobench.cli"))
                   for target in targets if target.startswith("cocobench.analysis"))
    assert not wrong, f"modules below the analyses import them: {wrong}"


def test_only_the_command_line_imports_it():
    graph = import_graph()
    wrong = sorted((name, target) for name, targets in graph.items() if not name.startswith("cocobench.cli") and name != "cocobench.__main__"
                   for target in targets if target.startswith("cocobench.cli") and (name, target) not in KNOWN_UPWARD)
    assert not wrong, f"modules below the command line import it: {wrong}"


def test_the_known_upward_edges_still_exist():
    """An entry of KNOWN_UPWARD whose edge is gone is removed, so that it cannot come back unnoticed."""
    graph = import_graph()
    gone = sorted(edge for edge in KNOWN_UPWARD if edge[1] not in graph.get(edge[0], ()))
    assert not gone, f"remove these from KNOWN_UPWARD: {gone}"
