"""The package as a book: short functions, the standard library only, and nothing heavy at import."""

import ast
import os
import subprocess
import sys

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "microgpt")
MODULES = sorted(f for f in os.listdir(PACKAGE) if f.endswith(".py"))
STDLIB = {"argparse", "array", "collections", "contextlib", "dataclasses", "functools", "hashlib", "html",
          "http", "inspect", "io", "json", "linecache", "math", "multiprocessing", "operator", "os", "platform",
          "random", "re", "select", "signal", "socket", "stat", "struct", "sys", "tempfile", "textwrap",
          "threading", "time", "traceback", "urllib", "errno", "fcntl", "shutil", "pickle", "queue", "itertools",
          "shlex"}
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
    code = ("import sys, microgpt.cli; heavy = {'torch', 'numpy', 'microgpt.torch_engine'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60).stdout
    assert out.strip() == "[]"
