"""The package as a book: its layers, short functions, the standard library only, nothing heavy at import."""

import ast
import os
import subprocess
import sys

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


# what runs during one training step of the default engine, file by file: what a reader must follow
ONE_STEP = {
    "train.py": ["get_lr", "train_step", "loop"],
    "model.py": ["GPTConfig.predictions", "GPT.forward", "GPT.loss"],
    "speed/loops.py": ["dot", "matmul", "transpose", "linear_forward", "linear_backward", "rmsnorm_forward",
                       "rmsnorm_backward", "softmax", "weighted_sum", "attention_forward", "attention_backward",
                       "nll_forward", "nll_backward"],
    "speed/engine.py": ["Tensor", "Weight", "add_into", "FastOps", "loss_and_grad"],
    "optim.py": ["Adam.step"],
}


def definitions(tree):
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
            for sub in getattr(node, "body", []):
                if isinstance(node, ast.ClassDef) and isinstance(sub, ast.FunctionDef):
                    found[node.name + "." + sub.name] = sub
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node
    return found


def test_one_training_step_reads_in_under_300_lines_of_code():
    total = 0
    for name, wanted in ONE_STEP.items():
        with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
            lines = f.read().splitlines()
        tree = ast.parse("\n".join(lines))
        docstrings = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                    isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
        found = definitions(tree)
        for what in wanted:
            node = found[what]  # a KeyError here: the step's path moved, update ONE_STEP with it
            total += sum(1 for i in range(node.lineno, node.end_lineno + 1)
                         if i not in docstrings and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#"))
    assert 150 < total < 300, total
