"""--fast-math (speed/fastmath.py): within its stated tolerance of the exact sums, the same bits with any
number of workers, recorded in the checkpoint and kept on resume, and never the reference run's.

The tolerance: math.sumprod rounds a dot product once where the exact path rounds after every term, so a
loss may differ from the exact path's (and the scalar engine's) by 1e-12 relative at most, and a gradient
entry by 1e-12 times the largest entry of that gradient (the max norm: an entry that is itself tiny, made
of terms that cancel, may differ by more relative to itself). Measured: ~1e-16 and ~4e-16.

Where Python has no math.sumprod (before 3.12) the tests run fastmath.py on a STAND-IN for it, math.fsum
of the products (also rounded once, at the end; pure Python, slow), which takes the same code paths: a
check of the module's plumbing, not of sumprod. Run this file with Python 3.12+ for the real one.
"""

import json
import math
import os
import random
import sys
from operator import mul

import pytest

from microgpt import scalar_engine
from microgpt.config import TrainConfig
from microgpt.model import GPT, GPTConfig
from microgpt.optim import Adam
from microgpt.speed import FastMath, engine, engine_for, fastmath, kernels, workers
from microgpt.tool import training
from microgpt.tool.cli import main

HAS_SUMPROD = hasattr(math, "sumprod")
TOLERANCE = 1e-12


def stand_in(p, q):
    """STAND-IN for math.sumprod on Python < 3.12 (see the module docstring): the products' sum, rounded once."""
    return math.fsum(map(mul, p, q))


@pytest.fixture
def sumprod(monkeypatch):
    """fastmath.py's sumprod, counting its calls: the real one, or the labelled stand-in where there is none."""
    real = fastmath.sumprod or stand_in
    calls = []

    def counted(p, q):
        calls.append(len(p))
        return real(p, q)
    monkeypatch.setattr(fastmath, "sumprod", counted)
    return calls


def gauss(rng, n, mean=0.0):
    return [rng.gauss(mean, 1) for _ in range(n)]


def reference_dot(a, i, b, j, n):
    # the exact sum of the rounded products, rounded once: sumprod's result is within 2^-52 sum|a b| of it
    return math.fsum(a[i + m] * b[j + m] for m in range(n))


def assert_dot_close(got, a, i, b, j, n):
    bound = 2.0 ** -52 * math.fsum(abs(a[i + m] * b[j + m]) for m in range(n))
    assert abs(got - reference_dot(a, i, b, j, n)) <= bound


@pytest.mark.parametrize("n", [31, 32, 45])
def test_matmuls_take_sumprod_from_32_terms_and_the_exact_kernels_below(n, sumprod):
    rng = random.Random(n)
    R, S = 3, 5
    a, b = gauss(rng, R * n), gauss(rng, S * n)
    mask = [max(0.0, x) for x in gauss(rng, R * S)]  # a ReLU's output: about half zeros
    out, masked = fastmath.matmul(a, b, n), fastmath.masked_matmul(a, b, n, mask)
    if n < fastmath.FAST_MIN:
        assert not sumprod
        assert out == kernels.matmul(a, b, n) and masked == kernels.masked_matmul(a, b, n, mask)
        return
    assert sumprod and set(sumprod) == {n}
    for r in range(R):
        for s in range(S):
            assert_dot_close(out[r * S + s], a, r * n, b, s * n, n)
            assert masked[r * S + s] == (out[r * S + s] if mask[r * S + s] else 0.0)


def test_rmsnorm_takes_sumprod_from_32_channels(sumprod):
    rng = random.Random(0)
    for C in (16, 32):
        x, dout = gauss(rng, 3 * C, 0.5), gauss(rng, 3 * C)
        y, rstds = fastmath.rmsnorm_forward(x, C)
        dx = fastmath.rmsnorm_backward(dout, x, rstds, C)
        if C < fastmath.FAST_MIN:
            assert not sumprod and (y, rstds) == kernels.rmsnorm_forward(x, C)
            assert dx == kernels.rmsnorm_backward(dout, x, rstds, C)
            continue
        assert sumprod
        for t in range(3):  # rstd = (x . x / C + eps)^-0.5 and dx from x . dy, with those dot products exact-ish
            row, drow = x[t * C:(t + 1) * C], dout[t * C:(t + 1) * C]
            rstd = (math.fsum(v * v for v in row) / C + 1e-5) ** -0.5
            assert abs(rstds[t] - rstd) <= 1e-15 * rstd
            k = rstd ** 3 * math.fsum(v * d for v, d in zip(row, drow)) / C
            for j in range(C):
                assert abs(dx[t * C + j] - (rstd * drow[j] - k * row[j])) <= 1e-13 * (abs(rstd * drow[j]) + abs(k))


def wide_case(seed):
    """A model 32 wide (so its linears take sumprod) and documents whose positions add up past 32 (so do
    its weight gradients)."""
    rng = random.Random(seed)
    config = GPTConfig(vocab_size=9, n_layer=rng.randint(1, 2), n_embd=32, n_head=4, block_size=12)
    batch = [[8] + [rng.randrange(8) for _ in range(rng.randint(3, 14))] + [8] for _ in range(4)]
    return GPT(config, random.Random(seed)), batch


def assert_within_tolerance(loss, grads, exact_loss, exact_grads):
    assert abs(loss - exact_loss) <= TOLERANCE * abs(exact_loss)
    largest = max(abs(g) for g in exact_grads)
    worst = max(abs(g - e) for g, e in zip(grads, exact_grads))
    assert worst <= TOLERANCE * largest, "a gradient entry differs by %.1e of the largest" % (worst / largest)


@pytest.mark.parametrize("seed", range(3))
def test_loss_and_gradients_are_within_tolerance_of_the_exact_path_and_the_scalar_engine(seed, sumprod):
    model, batch = wide_case(seed)
    loss, grads = FastMath().loss_and_grad(model, batch)
    assert sumprod  # it did take sumprod, and it does round otherwise: not the exact path in disguise
    exact_loss, exact_grads = engine.loss_and_grad(model, batch)
    assert grads != exact_grads
    assert_within_tolerance(loss, grads, exact_loss, exact_grads)
    assert_within_tolerance(loss, grads, *scalar_engine.loss_and_grad(model, batch))


def test_training_steps_stay_within_tolerance(sumprod):
    model, batch = wide_case(7)
    runs = []
    for compute in (FastMath(), engine):
        m, optimizer = GPT(model.config, params=list(model.params)), Adam(model.num_params)
        losses = []
        for _ in range(3):
            loss, grads = compute.loss_and_grad(m, batch)
            optimizer.step(m.params, grads, 0.01)
            losses.append(loss)
        runs.append(losses)
    for fast, exact in zip(*runs):
        assert abs(fast - exact) <= TOLERANCE * exact


def test_any_worker_count_gives_the_same_bits(sumprod):
    # 40 documents = shards of 16, 16 and 8: workers compute some of them, with the main process's sums
    if not sys.platform.startswith("linux") and not HAS_SUMPROD:
        pytest.skip("a spawned worker imports fastmath anew, without the stand-in")
    rng = random.Random(3)
    model = GPT(GPTConfig(vocab_size=9, n_layer=1, n_embd=32, n_head=4, block_size=12), rng)
    batch = [[8] + [rng.randrange(8) for _ in range(rng.randint(1, 3))] + [8] for _ in range(40)]
    cfg = TrainConfig(n_embd=32, fast_math=True).validate()
    here = training.Compute(model, Adam(model.num_params), engine_for("fast", True)).loss_and_grad(model, batch)
    assert here != training.Compute(model, Adam(model.num_params), engine).loss_and_grad(model, batch)
    for n in (2, 3):
        pool = workers.PoolCompute(cfg, model, Adam(model.num_params), n)
        try:
            assert pool.loss_and_grad(model, batch) == here
        finally:
            pool.close()


# --------------------------------------------------------------------------------------------------
# the run: off by default, in the checkpoint, kept on resume

def config_of(run_dir):
    with open(os.path.join(str(run_dir), "checkpoint.json")) as f:
        return json.load(f)["config"]


def checkpoint_numbers(run_dir):
    with open(os.path.join(str(run_dir), "checkpoint.json")) as f:
        doc = json.load(f)
    return doc["weights"], doc["optimizer"], doc["step"], doc["rng"]


def wide_flags(data):
    return ["--data", data, "--n-embd", "32", "--batch-size", "4", "--eval-every", "0", "--eval-docs", "20",
            "--num-samples", "0", "--quiet"]


def test_the_default_run_and_its_config_never_use_it(tiny, tmp_path):
    assert TrainConfig().fast_math is False
    cfg = TrainConfig()
    model = GPT(cfg.model_config(27))
    assert training.make_compute(cfg, model, Adam(model.num_params)).engine is engine  # the exact sums
    assert main(["--data", tiny, "--steps", "1", "--num-samples", "0", "--quiet", "--out", str(tmp_path / "d")]) == 0
    assert config_of(tmp_path / "d")["fast_math"] is False


@pytest.mark.parametrize("has", [True, False])
def test_the_presets_turn_it_on_where_python_has_sumprod(has, tiny, tmp_path, monkeypatch, sumprod):
    if not has:
        monkeypatch.setattr(fastmath, "sumprod", None)  # Python 3.11, PyPy
    for extra, expected in (([], has), (["--engine", "scalar"], False), (["--no-fast-math"], False)):
        out = str(tmp_path / ("p%d" % len(extra)))
        assert main(["--preset", "names-2min", "--data", tiny, "--steps", "1", "--batch-size", "2", "--workers", "1",
                     "--num-samples", "0", "--quiet", "--out", out] + extra) == 0
        assert config_of(out)["fast_math"] is expected


def test_the_checkpoint_records_it_and_resume_keeps_it(tiny, tmp_path, sumprod):
    # two runs of 2 steps with --fast-math, each resumed to 4: one saying nothing, one turning it off
    runs = {how: str(tmp_path / how) for how in ("kept", "off")}
    for how, run in runs.items():
        assert main(wide_flags(tiny) + ["--fast-math", "--steps", "2", "--out", run]) == 0
        assert config_of(run)["fast_math"] is True
        assert main(["--resume", run, "--steps", "4", "--quiet"] + ["--no-fast-math"] * (how == "off")) == 0
        assert config_of(run)["fast_math"] is (how != "off")
    # kept, the resumed steps take sumprod's sums, not the exact ones (the only two there are)
    calls = len(sumprod)
    assert main(["--resume", runs["kept"], "--steps", "5", "--quiet"]) == 0
    assert len(sumprod) > calls
    assert checkpoint_numbers(runs["kept"])[0] != checkpoint_numbers(runs["off"])[0]
    # leaving the fast engine leaves it too
    assert main(["--resume", runs["kept"], "--steps", "6", "--quiet", "--engine", "scalar"]) == 0
    assert config_of(runs["kept"])["fast_math"] is False


def test_without_sumprod_it_is_one_line(tiny, tmp_path, monkeypatch, capsys, sumprod):
    run = str(tmp_path / "run")
    assert main(wide_flags(tiny) + ["--fast-math", "--steps", "1", "--out", run]) == 0
    capsys.readouterr()
    monkeypatch.setattr(fastmath, "sumprod", None)  # Python 3.11, PyPy
    for argv in (wide_flags(tiny) + ["--fast-math", "--steps", "1", "--out", str(tmp_path / "new")],
                 ["--resume", run, "--steps", "2", "--quiet"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error: --fast-math needs math.sumprod" in err and "--no-fast-math" in err
    assert not os.path.exists(str(tmp_path / "new"))
    assert main(["--resume", run, "--steps", "2", "--quiet", "--no-fast-math"]) == 0


def test_it_is_for_the_fast_engine_only(tiny, tmp_path, capsys):
    assert main(wide_flags(tiny) + ["--fast-math", "--engine", "scalar", "--out", str(tmp_path / "s")]) == 2
    assert "fast_math is for the fast engine" in capsys.readouterr().err
