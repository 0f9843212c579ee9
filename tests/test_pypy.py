"""The package under PyPy (Debian's pypy3), if it is installed: the same printed numbers as CPython's.

On PyPy the fast engine takes another code path (plain loops instead of generated dot products), so this
is the check that both paths do the same arithmetic. loops.matmul, which computes two rows by two at a time
for PyPy's sake, is held to a one-entry-at-a-time loop written here, bit for bit, under both interpreters.
"""

import inspect
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


def plain_matmul(a, b, n):
    # a @ b^T one entry at a time, each summed left to right from its first product
    out = []
    for r in range(0, len(a), n):
        for s in range(0, len(b), n):
            acc = a[r] * b[s]
            for j in range(1, n):
                acc += a[r + j] * b[s + j]
            out.append(acc)
    return out


def check_matmul():
    """loops.matmul against plain_matmul, to the bit (float.hex tells -0.0 from 0.0), with odd and even
    numbers of rows on both sides and numbers of many magnitudes (where another order of the sums would
    round otherwise)."""
    import random

    from microgpt.speed import loops
    rng = random.Random(0)
    checked = 0
    for n in (1, 2, 3, 7, 16, 33):
        for R in range(1, 10):
            for S in (1, 2, 5):
                a = [rng.gauss(0, 1) * 10 ** rng.randint(-8, 8) for _ in range(R * n)]
                b = [rng.gauss(0, 1) * 10 ** rng.randint(-8, 8) for _ in range(S * n)]
                a[:n] = [-0.0] * n  # a row of negative zeros: its entries' signs are those of the first products
                got, expected = loops.matmul(a, b, n), plain_matmul(a, b, n)
                assert [x.hex() for x in got] == [x.hex() for x in expected], (n, R, S)
                checked += 1
    return checked


def test_the_blocked_matmul_is_the_plain_loop_to_the_bit_under_cpython():
    assert check_matmul() == 6 * 9 * 3


@pytest.mark.skipif(shutil.which("pypy3") is None, reason="pypy3 is not installed (apt-get install pypy3)")
def test_the_blocked_matmul_is_the_plain_loop_to_the_bit_under_pypy():
    script = inspect.getsource(plain_matmul) + "\n" + inspect.getsource(check_matmul) + "\nprint(check_matmul())\n"
    proc = subprocess.run(["pypy3", "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(6 * 9 * 3)]
