"""The layout a maintainer relies on: no import cycle among the project's own modules, and no
source file over 400 lines.

The import graph counts every import, at module level and inside functions alike: a function-level
import that defers a heavy framework is fine, but one that closes a cycle only hides it.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_PROJECT = {"results", "tests", "examples"}


def not_project(part):
    """A hidden folder is never the project's: .git, .whl, and the environments (.venv, and
    .venv-reference, where `make setup-reference` puts TensorFlow's Keras)."""
    return part in NOT_PROJECT or part.startswith(".")
MAX_LINES = 400


def source_files():
    return sorted(p for p in ROOT.rglob("*.py")
                  if not any(not_project(part) for part in p.relative_to(ROOT).parts[:-1]))


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path, modules):
    """The project modules `path` imports, anywhere in it (functions included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # from . import x, from .common import y
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target in modules and target != name:
                found.add(target)   # `import shim` in shim/gpu.py too: it reads shim's names
            # importing a.b.c runs a and a.b first: edges as well, except to the importer's own
            # packages, which are already running when it runs
            parts = target.split(".")
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    found.add(prefix)
    return found


def import_graph():
    files = source_files()
    modules = {module_name(p): p for p in files}
    return {name: imported_names(path, modules) for name, path in modules.items()}


def cycles(graph):
    """Every strongly connected component of more than one module (Tarjan), as sorted tuples."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "cell.harness" in graph["cell.__main__"]
    assert "keras_models.user_model" in graph["cell.harness"]      # inside run_cell
    assert "benchdata.mnist" in graph["benchdata"]                  # relative, inside load


def test_no_import_cycle_among_the_project_modules():
    found = set(cycles(import_graph()))
    assert not found, f"import cycles: {sorted(found)}"


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in source_files()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
