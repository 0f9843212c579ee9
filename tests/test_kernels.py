"""The generated kernels against engine.py's plain loops, bit for bit, and the code they are made of.

Each kernel must give exactly the numbers of the loop it replaces (== on floats: a sum in another order
would fail), in every path the sizes and the ReLU's zeros can take it; the source shown in each
generator's docstring must be what it emits; and the generated code must be readable where a learner
meets it (inspect.getsource, tracebacks, MICROGPT_SHOW_KERNELS, `microgpt kernels`).
"""

import inspect
import math
import os
import platform
import random
import re
import subprocess
import sys
import textwrap
import traceback

import pytest
from conftest import ROOT
from test_engine import SEEDS, assert_grads_close, random_case

from microgpt import scalar_engine
from microgpt.speed import engine, kernels, loops
from microgpt.tool.cli import main


def gauss(rng, n, mean=0.0, relu=False):
    xs = [rng.gauss(mean, 1) for _ in range(n)]
    return [max(0.0, x) for x in xs] if relu else xs


def textbook_matmul(a, b, n):
    # sums from 0, left to right: the scalar engine's Value.dot
    out = []
    for r in range(0, len(a), n):
        for s in range(0, len(b), n):
            acc = 0
            for j in range(n):
                acc += a[r + j] * b[s + j]
            out.append(acc)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 40])
def test_matmul_in_both_forms_is_the_plain_loop(n):
    rng = random.Random(n)
    for R, S in ((1, 1), (3, 5), (4, 1), (2, 600 // n)):  # the last b too large to unpack whole
        a, b = gauss(rng, R * n), gauss(rng, S * n)
        expected = loops.matmul(a, b, n)
        assert expected == textbook_matmul(a, b, n)
        for size in ((n,), (n, S)):
            assert kernels.kernel(kernels.matmul_source, *size)(a, b) == expected
        assert kernels.matmul(a, b, n) == expected


@pytest.mark.parametrize("S", [1, 2, 3, 16])
def test_sparse_matmul_skips_only_zeros(S):
    # a as after a ReLU, mostly exact zeros (one row all zeros); b is not transposed
    rng = random.Random(S)
    for R, n in ((1, 1), (3, 5), (4, 12)):
        a = gauss(rng, R * n, -0.5, relu=True)
        a[-n:] = [0.0] * n
        b = gauss(rng, n * S)
        assert kernels.sparse_matmul(a, b, n) == textbook_matmul(a, loops.transpose(b, S), n)


@pytest.mark.parametrize("n", [1, 3, 16])
def test_masked_matmul_is_matmul_where_the_mask_is_nonzero(n):
    rng = random.Random(n)
    for R, S in ((1, 1), (3, 5), (4, 12)):
        a, b = gauss(rng, R * n), gauss(rng, S * n)
        mask = gauss(rng, R * S, -0.5, relu=True)  # a ReLU's output
        expected = [x if keep else 0.0 for x, keep in zip(loops.matmul(a, b, n), mask)]
        assert kernels.masked_matmul(a, b, n, mask) == expected


@pytest.mark.parametrize("relu_in", [False, True])
def test_linear_kernels_are_the_plain_loops(relu_in):
    # mlp_fc2 sees a ReLU's output (mostly zeros, and a mask on its input gradient); the others do not
    rng = random.Random(int(relu_in))
    # (3, 4, 600): a large vocabulary; (600, 3, 2): a shard of more positions than a dot product unrolls
    for T, n_in, n_out in ((1, 4, 3), (5, 16, 64), (7, 64, 16), (3, 4, 600), (600, 3, 2)):
        x = gauss(rng, T * n_in, -0.5 if relu_in else 0.0, relu=relu_in)
        W, dout = gauss(rng, n_out * n_in), gauss(rng, T * n_out)
        assert kernels.linear_forward(x, W, n_in) == loops.linear_forward(x, W, n_in)
        needed = x if relu_in else None
        dx, dW = kernels.linear_backward(dout, x, W, n_in, n_out, needed)
        ref_dx, ref_dW = loops.linear_backward(dout, x, W, n_in, n_out, needed)
        assert dW == ref_dW
        assert dx == ref_dx if needed is None else [d if m else 0.0 for d, m in zip(ref_dx, needed)]


def test_linear_backward_skips_a_gradient_that_is_mostly_zeros():
    # mlp_fc1's output gradient is zero wherever the ReLU after it was
    rng = random.Random(5)
    x, W = gauss(rng, 6 * 16), gauss(rng, 64 * 16)
    dout = gauss(rng, 6 * 64, -0.5, relu=True)
    assert kernels.linear_backward(dout, x, W, 16, 64) == loops.linear_backward(dout, x, W, 16, 64)


@pytest.mark.parametrize("C, hs", [(4, 1), (8, 2), (12, 4), (16, 16)])
def test_attention_kernels_are_the_plain_loops(C, hs):
    # with a KV cache (past > 0, forward only) and without, and with a position zeroed in dout
    rng = random.Random(C * 100 + hs)
    for T, past in ((1, 0), (5, 0), (7, 0), (1, 6), (3, 2)):
        q = gauss(rng, T * C)
        k, v = gauss(rng, (past + T) * C), gauss(rng, (past + T) * C)
        out, atts = kernels.attention_forward(q, k, v, C, C // hs, past)  # atts[t][s] = (head 0, ...)
        ref_out, ref_atts = loops.attention_forward(q, k, v, C, C // hs, past)  # ref_atts[t][h][s]
        assert out == ref_out
        assert atts == [[tuple(per_head[s] for per_head in att_t) for s in range(past + t + 1)]
                        for t, att_t in enumerate(ref_atts)]
        if past == 0:
            dout = gauss(rng, T * C)
            dout[:C] = [0.0] * C
            assert kernels.attention_backward(dout, q, k, v, atts, C, C // hs) == \
                loops.attention_backward(dout, q, k, v, ref_atts, C, C // hs)


@pytest.mark.parametrize("C", [1, 2, 3, 16, 40])
def test_rmsnorm_kernels_are_the_plain_loops(C):
    # rows of every scale (an rstd far from 1), a row of zeros (rstd = eps**-0.5) and signed zeros
    rng = random.Random(C)
    for T in (1, 4, 9):
        x = [rng.gauss(0, 1) * 10.0 ** rng.randint(-150, 150) for _ in range(T * C)]
        x[:C] = [0.0] * C
        x[-1] = -0.0
        dout = gauss(rng, T * C)
        dout[:C] = [-1.0] * (C - 1) + [-0.0]  # against the zero row: x . dy sums -0.0s, and 0.0 + -0.0 is 0.0
        out, rstds = kernels.rmsnorm_forward(x, C)
        ref_out, ref_rstds = loops.rmsnorm_forward(x, C)
        assert (out, rstds) == (ref_out, ref_rstds)
        assert [math.copysign(1, v) for v in out] == [math.copysign(1, v) for v in ref_out]
        dx, ref_dx = kernels.rmsnorm_backward(dout, x, rstds, C), loops.rmsnorm_backward(dout, x, rstds, C)
        assert dx == ref_dx
        assert [math.copysign(1, v) for v in dx] == [math.copysign(1, v) for v in ref_dx]


def test_sizes_too_large_to_unroll_fall_back_to_the_plain_loops(monkeypatch):
    monkeypatch.setattr(kernels, "MAX_UNROLL", 4)
    monkeypatch.setattr(kernels, "MAX_LOCALS", 8)
    monkeypatch.setattr(kernels, "BUILT", {})
    built = []
    monkeypatch.setattr(kernels, "define", lambda name, src: built.append(name))
    rng = random.Random(0)
    a, b = gauss(rng, 3 * 6), gauss(rng, 2 * 6)
    assert kernels.matmul(a, b, 6) == loops.matmul(a, b, 6)
    q = gauss(rng, 3 * 12)
    assert kernels.attention_forward(q, q, q, 12, 2) == loops.attention_forward(q, q, q, 12, 2)
    out, rstds = kernels.rmsnorm_forward(q, 6)
    assert (out, rstds) == loops.rmsnorm_forward(q, 6)
    assert kernels.rmsnorm_backward(q, q, rstds, 6) == loops.rmsnorm_backward(q, q, rstds, 6)
    assert built == []  # nothing was generated for these sizes


@pytest.mark.parametrize("sparse", [True, False])
def test_both_linear_paths_give_the_scalar_engines_numbers(monkeypatch, sparse):
    # a linear picks its path by counting zeros in its operands; force each path on every linear
    monkeypatch.setattr(kernels, "mostly_zeros", lambda a: sparse)
    for seed in SEEDS[:4]:
        model, batch = random_case(seed)
        loss_f, grads_f = engine.loss_and_grad(model, batch)
        loss_s, grads_s = scalar_engine.loss_and_grad(model, batch)
        assert loss_f == loss_s
        assert_grads_close(grads_f, grads_s)


def test_the_engine_runs_the_kernels_on_cpython_and_the_loops_when_told():
    code = "import microgpt.speed.engine as e; print(e.default_math().__name__)"
    for switch, expected in (("1", "microgpt.speed.kernels"), ("0", "microgpt.speed.loops")):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True,
                             env=dict(os.environ, MICROGPT_KERNELS=switch), check=True).stdout
        assert out.strip() == (expected if platform.python_implementation() == "CPython" else "microgpt.speed.loops")
    model, batch = random_case(SEEDS[0])
    assert engine.FastOps(model, math=loops).math is loops and engine.FastOps(model, math=kernels).math is kernels


# --------------------------------------------------------------------------------------------------
# the code itself

GENERATORS = [kernels.matmul_source, kernels.masked_matmul_source, kernels.sparse_matmul_source,
              kernels.rmsnorm_forward_source, kernels.rmsnorm_backward_source,
              kernels.attention_forward_source, kernels.attention_backward_source]


def docstring_examples(generator):
    """(call, code) for each ``call`` in the docstring followed by an indented block of code."""
    doc = inspect.getdoc(generator)
    found = []
    for m in re.finditer(r"``(\w+\([\d, ]*\))``[^\n]*\n\n((?:(?:    [^\n]*)?\n)+)", doc + "\n"):
        found.append((m.group(1), textwrap.dedent(m.group(2)).strip("\n") + "\n"))
    return found


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.__name__)
def test_every_docstring_example_is_what_the_generator_emits(generator):
    examples = docstring_examples(generator)
    assert examples, "no example found in the docstring of %s" % generator.__name__
    for call, code in examples:
        name, src = eval(call, vars(kernels))
        assert src == code, call


def test_source_is_kept_for_inspect_and_tracebacks():
    f = kernels.kernel(kernels.matmul_source, 5)
    assert inspect.getsource(f) == kernels.matmul_source(5)[1] == kernels.SOURCES["matmul_5"]
    try:
        f([1.0] * 5, [1.0] * 4)  # b's rows are 5 long: this row of 4 cannot be unpacked
    except ValueError:
        shown = traceback.format_exc()
    assert 'File "<microgpt kernel matmul_5>", line 6, in matmul_5' in shown
    assert "out += [a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3 + a4 * b4 for b0, b1, b2, b3, b4, in b_rows]" in shown


def test_show_kernels_prints_each_kernel_once_as_it_is_built(names_path, tmp_path):
    env = {"MICROGPT_SHOW_KERNELS": "1", "PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "microgpt", "--data", names_path, "--steps", "3", "--out",
                           str(tmp_path / "run"), "--num-samples", "1", "--quiet"], env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = re.findall(r"^# kernel (\S+)$", proc.stderr, re.M)
    assert "attention_16_4" in shown and "attention_backward_16_4" in shown and "matmul_16" in shown
    assert len(shown) == len(set(shown))
    assert "def attention_backward_16_4(dout, q, k, v, atts):" in proc.stderr


def test_the_kernels_command(capsys):
    if engine.default_math() is not kernels:
        pytest.skip("kernels are for CPython (and not with MICROGPT_KERNELS=0)")
    assert main(["kernels", "--n-embd", "8", "--n-head", "2", "--block-size", "4", "--list"]) == 0
    out = capsys.readouterr().out
    assert "# attention_8_4: " in out and "# attention_backward_8_4: " in out
    assert main(["kernels", "--n-embd", "8", "--n-head", "2", "--block-size", "4"]) == 0
    assert "def attention_8_4(q, k, v, past):" in capsys.readouterr().out
    assert main(["kernels", "--n-embd", "10", "--n-head", "3"]) == 2


def test_a_kernel_is_built_once_per_size():
    kernels.matmul([1.0] * 6, [2.0] * 3, 3)
    f = kernels.BUILT[(kernels.matmul_source, (3, 1))]
    kernels.matmul([1.0] * 9, [3.0] * 3, 3)
    assert kernels.BUILT[(kernels.matmul_source, (3, 1))] is f
