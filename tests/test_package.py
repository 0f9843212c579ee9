"""The package as a book: short functions, the standard library only, and nothing heavy at import."""

import ast
import os
import subprocess
import sys

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "microgpt")
MODULES = sorted(f for f in os.listdir(PACKAGE) if f.endswith(".py"))
STDLIB = getattr(sys, "stdlib_module_names", None) or {  # Python 3.10+ knows its own; else the ones we use
    "argparse", "array", "collections", "contextlib", "dataclasses", "functools", "hashlib", "html", "http",
    "inspect", "io", "json", "linecache", "math", "multiprocessing", "operator", "os", "platform", "random", "re",
    "shlex", "signal", "socket", "ssl", "stat", "struct", "subprocess", "sys", "tempfile", "threading", "time",
    "urllib"}
OPTIONAL = {"torch_engine.py": {"torch"}}  # the one module allowed an import from outside, lazily


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


def test_importing_the_package_and_its_cli_loads_nothing_heavy():
    code = ("import sys, microgpt.tool.cli; heavy = {'torch', 'numpy', 'microgpt.speed.torch_engine'} & "
            "set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60).stdout
    assert out.strip() == "[]"


# what runs during one training step of the default engine, file by file: what a reader must follow
ONE_STEP = {
    "train.py": ["get_lr", "train_step"],
    "model.py": ["GPTConfig.predictions", "GPT.forward", "GPT.loss"],
    "engine.py": ["dot", "matmul", "transpose", "linear_forward", "linear_backward", "rmsnorm_forward",
                  "rmsnorm_backward", "softmax", "weighted_sum", "attention_forward", "attention_backward",
                  "nll_forward", "nll_backward", "Tensor", "Weight", "add_into", "FastOps", "loss_and_grad"],
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
