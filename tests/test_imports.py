"""No import cycles inside digitlab: each module can be read, and changed, on its own.

The graph counts every `import` of a digitlab module, at the top of a file or inside a function:
a cycle hidden in a function (data.py -> folders.py -> data.py) still ties two modules together.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "digitlab"


def module_names(package: Path) -> dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the digitlab modules it imports (`from digitlab.x import y` counts y when y is a module)."""
    modules = module_names(package)
    top = package.name
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == top:
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == top}
        graph[name] = {m for m in found if m in modules and m not in (name, top)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as a path that returns to its start: [a, b, a]."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        for after in sorted(graph.get(node, ())):
            visit(after, path + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found


def test_the_detector_finds_a_planted_cycle(tmp_path):
    package = tmp_path / "digitlab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from digitlab import b\n")
    (package / "b.py").write_text("def later():\n    from digitlab.c import thing\n")  # inside a function
    (package / "c.py").write_text("import digitlab.a\nthing = 1\n")
    assert cycles(import_graph(package)) == [["digitlab.a", "digitlab.b", "digitlab.c", "digitlab.a"]]
    (package / "c.py").write_text("thing = 1\n")
    assert cycles(import_graph(package)) == []


def test_digitlab_has_no_import_cycles():
    graph = import_graph(PACKAGE)
    assert {"digitlab.data.datasets", "digitlab.data.folders", "digitlab.classifiers"} <= graph.keys()  # it read the package
    assert cycles(graph) == []


def test_the_command_line_imports_no_torch_until_a_command_runs():
    """docs/architecture.md's rule: `digitlab --help` must not pay for importing torch."""
    import subprocess
    import sys

    code = ("import sys, digitlab.cli; digitlab.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
