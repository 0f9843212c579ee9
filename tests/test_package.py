"""The package as a book: its layers, short functions, the standard library only, nothing heavy at import."""

import ast
import os
import platform
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGE = os.path.join(ROOT, "microgpt")
# every module, as its path under the package: "train.py", "speed/engine.py", "tool/cli.py"
MODULES = sorted(os.path.relpath(os.path.join(folder, f), PACKAGE).replace(os.sep, "/")
                 for folder, _, names in os.walk(PACKAGE) for f in names if f.endswith(".py"))
STDLIB = getattr(sys, "stdlib_module_names", None) or {  # Python 3.10+ knows its own; else the ones we use
    "argparse", "array", "collections", "contextlib", "dataclasses", "functools", "hashlib", "html", "http",
    "inspect", "io", "json", "linecache", "math", "multiprocessing", "operator", "os", "platform", "random", "re",
    "shlex", "signal", "socket", "ssl", "stat", "struct", "subprocess", "sys", "tempfile", "threading", "time",
    "urllib"}
OPTIONAL = {"speed/torch_engine.py": {"torch"}}  # the one module allowed an import from outside, lazily


def parsed(name):
    with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
        return ast.parse(f.read())


def code_lines(node):
    """Lines of a function, its docstring left out."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_no_function_is_longer_than_60_lines():
    long = ["%s:%d %s (%d lines)" % (name, node.lineno, node.name, code_lines(node))
            for name in MODULES for node in ast.walk(parsed(name))
            if isinstance(node, ast.FunctionDef) and code_lines(node) > 60]
    assert not long, long


def test_only_the_standard_library_is_imported():
    outside = []
    for name in MODULES:
        for node in ast.walk(parsed(name)):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            outside += ["%s: %s" % (name, r) for r in roots if r not in STDLIB | OPTIONAL.get(name, set())]
    assert not outside, outside


def module_name(path):
    """"speed/engine.py" -> "microgpt.speed.engine"; "speed/__init__.py" -> "microgpt.speed"."""
    parts = ["microgpt"] + path[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path):
    """The package's modules that the module at `path` imports, anywhere in it (lazy imports too)."""
    known = {module_name(m) for m in MODULES}
    package = module_name(path) if path.endswith("__init__.py") else module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
            base = base + "." + node.module if node.module else base
            for alias in node.names:  # `from . import x`: x is a module if there is one, else a name in base
                found.add(base + "." + alias.name if base + "." + alias.name in known else base)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found.update(n for n in names if n.split(".")[0] == "microgpt")
    return found - {module_name(path)}


def import_graph():
    return {module_name(m): imported(m) for m in MODULES}


def layer(module):
    """book (the top level), speed or tool."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or parts[1:] in (["speed"], ["tool"]) else "book"


def test_the_book_imports_no_layer_below_it_and_speed_never_imports_the_tool():
    # the entry point __main__ is the one top-level module that must reach the tool: it runs the CLI
    allowed = {"book": {"book"}, "speed": {"book", "speed"}, "tool": {"book", "speed", "tool"}}
    wrong = ["%s imports %s" % (m, other) for m, imports in import_graph().items() for other in sorted(imports)
             if m != "microgpt.__main__" and layer(other) not in allowed[layer(m)]]
    assert not wrong, wrong


def find_cycle(graph):
    """One import cycle of `graph` (module -> modules it imports) as a list of modules, or None."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state:
                cycle = visit(n, path + [n])
                if cycle:
                    return cycle
        state[m] = "done"
        return None
    for m in sorted(graph):
        if m not in state:
            cycle = visit(m, [m])
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_layer_checks_can_fail():
    # the two checks above, on graphs that break them: a cycle is found, a book module importing speed is named
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("microgpt.train") == "book" and layer("microgpt.speed") == "speed"
    assert layer("microgpt.tool.cli") == "tool" and layer("microgpt") == "book"
    graph = import_graph()
    assert "microgpt.speed.engine" in graph["microgpt.tool.training"]  # lazy and eager imports are both seen
    assert "microgpt.speed.torch_engine" in graph["microgpt.tool.training"]


def test_importing_the_package_and_its_cli_loads_nothing_heavy():
    code = ("import sys, microgpt.tool.cli; heavy = {'torch', 'numpy', 'microgpt.speed.torch_engine'} & "
            "set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60).stdout
    assert out.strip() == "[]"


# The files one step goes through on the plain loops (MICROGPT_KERNELS=0): what a reader must follow, in the
# book and speed/, and nothing of the tool.
READER_PATH = {"train.py", "data.py", "model.py", "speed/engine.py", "speed/loops.py", "optim.py"}
# each quotes, in the paragraph that names scripts/lines_per_step.py, what that script measures
QUOTING = ("README.md", "README.zh-CN.md", "docs/learning-path.md", "docs/learning-path.zh-CN.md")


def script():
    """scripts/lines_per_step.py as a module, imported only by the tests that use it: it imports the tool,
    and the layer checks above must run even when the tool does not import."""
    if os.path.join(ROOT, "scripts") not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import lines_per_step
    return lines_per_step


def quoted_figures(path):
    """The numbers, in order, of the paragraph of `path` that names scripts/lines_per_step.py (its code
    spans left out: `MICROGPT_KERNELS=0` is no figure)."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        paragraphs = f.read().split("\n\n")
    quoting = [p for p in paragraphs if "scripts/lines_per_step.py" in p]
    assert len(quoting) == 1, "%s: %d paragraphs name scripts/lines_per_step.py, not one" % (path, len(quoting))
    return [int(n) for n in re.findall(r"\d+", re.sub(r"`[^`]*`", "", quoting[0]))]


def test_the_line_counts_the_docs_quote_are_those_measured_now(names_path):
    if platform.python_implementation() != "CPython":
        pytest.skip("the figures are CPython's: elsewhere the fast engine runs no generated kernels")
    plain = script().count(names_path, plain=True)
    kernels = script().count(names_path)
    assert {name for name, _ in plain.files} == READER_PATH
    assert 150 < plain.lines < 300, plain  # a step a reader can follow in one sitting
    # the default path on CPython: the same files, plus kernels.py and code generated from it
    assert {name for name, _ in kernels.files} == READER_PATH | {"speed/kernels.py"}
    assert kernels.generated > 0 and kernels.calls >= kernels.kernels > 0
    # as the docs put it: N lines in F files on the plain loops; N lines in F files plus G generated ones
    measured = [plain.lines, len(plain.files), kernels.lines, len(kernels.files), kernels.generated]
    for path in QUOTING:
        assert sorted(quoted_figures(path)) == sorted(measured), \
            "%s quotes %s, but scripts/lines_per_step.py measures %s now: run it and update the figures" % (
                path, quoted_figures(path), measured)


def test_the_line_count_is_by_statement():
    # a statement counts with every line it spans, comments and blank lines left out; a compound one, its
    # header: whichever of its lines the interpreter reports, the count is the same
    source = "def f(x):\n    y = (x +\n\n         # why\n         1)\n    if (y >\n            2):\n        pass\n"
    owner = script().statement_lines(source)
    assert owner[2] == owner[5] == {2, 5}
    assert owner[6] == owner[7] == {6, 7}
    assert owner[8] == {8} and owner[1] == {1}
    assert 3 not in owner and 4 not in owner


def test_the_wheel_and_the_package_have_one_version():
    # pyproject.toml states it (a setuptools `attr:` would import the root microgpt.py, the one-file book, which
    # downloads and trains), and microgpt.__version__ is what --version prints
    import re

    import microgpt
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        stated = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert stated == microgpt.__version__
