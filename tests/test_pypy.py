"""The package under PyPy (Debian's pypy3), if it is installed: the same printed numbers as CPython's.

On PyPy the fast engine takes another code path (plain loops instead of generated dot products), so this
is the check that both paths do the same arithmetic.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(python, names_path, out_dir):
    cmd = [python, "-m", "microgpt", "--data", names_path, "--steps", "20", "--num-samples", "5",
           "--eval-every", "10", "--eval-docs", "50", "--quiet", "--out", out_dir]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # the numbers: losses, held-out losses and samples (config and paths differ by run dir)
    return [line for line in proc.stdout.splitlines() if line.startswith(("step", "eval", "sample"))]


@pytest.mark.skipif(shutil.which("pypy3") is None, reason="pypy3 is not installed (apt-get install pypy3)")
def test_pypy_prints_the_same_numbers_as_cpython(names_path, tmp_path):
    pypy = run("pypy3", names_path, str(tmp_path / "pypy"))
    cpython = run(sys.executable, names_path, str(tmp_path / "cpython"))
    assert len([line for line in cpython if line.startswith("step")]) == 20
    assert pypy == cpython
